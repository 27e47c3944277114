"""Real video clips for tests, made with PyAV: solid colours whose last frame differs from the rest, so a test
can tell the last frame from the first by decoding it."""

from __future__ import annotations

import io

import av

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)
TOLERANCE = 12  # per channel: H.264 in 4:2:0 shifts solid colours a little


def solid_frame(width: int, height: int, colour: tuple[int, int, int]) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    row = bytes(colour) * width + b"\x00" * (plane.line_size - 3 * width)
    plane.update(row * height)
    return frame


def make_clip(*, frames: int = 24, colour: tuple[int, int, int] = RED, last: tuple[int, int, int] = BLUE,
              width: int = 64, height: int = 48, gop: int = 8) -> bytes:
    """An H.264 MP4 at 24 fps: `frames - 1` frames of `colour`, then one of `last`. `gop`: frames between key
    frames, so the last frame is not one (seeking must decode forward to reach it)."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop)}
        for index in range(frames):
            frame = solid_frame(width, height, last if index == frames - 1 else colour)
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def centre_pixel(image: bytes) -> tuple[int, int, int]:
    """The colour at the centre of an image file (PNG, JPEG), decoded with PyAV."""
    with av.open(io.BytesIO(image)) as container:
        frame = next(container.decode(video=0)).reformat(format="rgb24")
    plane = frame.planes[0]
    data = bytes(plane)
    at = (frame.height // 2) * plane.line_size + (frame.width // 2) * 3
    return data[at], data[at + 1], data[at + 2]


def close_to(actual: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - e) <= TOLERANCE for a, e in zip(actual, expected, strict=True))
