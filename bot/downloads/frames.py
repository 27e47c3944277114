"""The last frame of a downloaded video, as a PNG: the core's `FrameReader` (bot/core/ports/frames.py), with PyAV.

PyAV (FFmpeg's own decoders, bundled in its wheels) rather than a parser of our own: provider videos are
H.264/H.265 in MP4 or WebM, and only a real decoder gives the picture. The file is one the bot downloaded
itself (capped in size); decoding runs in a worker thread, never on the event loop. To avoid decoding the whole
clip, it seeks to the key frame before the last second and decodes forward to the end; a file whose index
cannot be seeked is decoded from the start. The PNG is written by PyAV's own encoder, so no image library is
needed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import av
import av.error

from bot.core.ports.frames import FrameUnavailable

log = logging.getLogger(__name__)

SEEK_BACK_MICROSECONDS = 1_000_000  # seek to the key frame before the last second, then decode forward
MAX_PIXELS = 8192 * 8192  # no provider makes larger frames; a header claiming more is not decoded


class PyAVFrameReader:
    """Implements `FrameReader`."""

    async def save_last_frame(self, video: Path, target: Path, limit: int) -> None:
        await asyncio.to_thread(save_last_frame, video, target, limit)


def save_last_frame(video: Path, target: Path, limit: int) -> None:
    """Write the last decodable frame of `video` to `target` as a PNG. Raises FrameUnavailable (over `limit`
    bytes, not a video, no picture), OSError when the file cannot be read or written."""
    size = video.stat().st_size
    if size > limit:
        raise FrameUnavailable(f"the video is {size} bytes, over the {limit}-byte cap")
    try:
        png = _encode_png(_last_frame(video))
    except (av.error.FFmpegError, ValueError, IndexError, EOFError) as exc:
        # PyAV raises FFmpeg's errors (InvalidDataError and kin), and ValueError/IndexError for a container
        # without what is asked of it: all mean the same here, this file gives no frame.
        raise FrameUnavailable(f"the video could not be decoded ({exc.__class__.__name__})") from exc
    target.write_bytes(png)


def _last_frame(video: Path) -> av.VideoFrame:
    with av.open(str(video), mode="r") as container:
        if not container.streams.video:
            raise FrameUnavailable("the file has no video stream")
        stream = container.streams.video[0]
        if stream.width * stream.height > MAX_PIXELS:
            raise FrameUnavailable(f"the frames are {stream.width}x{stream.height}, larger than any provider makes")
        stream.thread_type = "AUTO"
        last = None
        if container.duration and container.duration > SEEK_BACK_MICROSECONDS:
            try:
                # Without a stream the offset is in microseconds (AV_TIME_BASE); backward: the key frame at or
                # before it, so decoding forward reaches every frame after it.
                container.seek(container.duration - SEEK_BACK_MICROSECONDS, backward=True, any_frame=False)
                last = _decode_to_end(container, stream)
            except av.error.FFmpegError as exc:
                log.debug("seeking near the end failed (%s); decoding from the start", exc)
            if last is None:
                container.seek(0)
        if last is None:
            last = _decode_to_end(container, stream)
        if last is None:
            raise FrameUnavailable("the video holds no decodable frame")
        return last


def _decode_to_end(container: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame | None:
    last = None
    for frame in container.decode(stream):
        last = frame
    return last


def _encode_png(frame: av.VideoFrame) -> bytes:
    rgb = frame.reformat(format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.width, rgb.height, "rgb24"
    packets = [*encoder.encode(rgb), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)
