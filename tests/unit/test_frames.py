"""The last frame of a clip (bot/downloads/frames.py) and the folder that keeps them (bot/core/continuing.py):
real MP4 files decoded with PyAV, real files in tmp_path."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from bot.core.continuing import LastFrames, continuable
from bot.core.ports.frames import FrameUnavailable
from bot.core.ports.provider import Capabilities, RateLimit
from bot.downloads.frames import PyAVFrameReader, save_last_frame
from tests.clips import BLUE, GREEN, RED, centre_pixel, close_to, make_clip

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def clip_file(tmp_path: Path, data: bytes, name: str = "clip.mp4") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_last_frame_is_read_not_the_first(tmp_path: Path) -> None:
    video = clip_file(tmp_path, make_clip(frames=24, colour=RED, last=BLUE))
    target = tmp_path / "frame.png"
    save_last_frame(video, target, limit=10 * 1024**2)
    image = target.read_bytes()
    assert image.startswith(PNG_SIGNATURE)
    colour = centre_pixel(image)
    assert close_to(colour, BLUE), colour


def test_a_clip_long_enough_to_seek_still_gives_its_very_last_frame(tmp_path: Path) -> None:
    """Three seconds with key frames every 30 frames: the reader seeks near the end and decodes forward."""
    video = clip_file(tmp_path, make_clip(frames=72, colour=GREEN, last=BLUE, gop=30))
    target = tmp_path / "frame.png"
    save_last_frame(video, target, limit=10 * 1024**2)
    assert close_to(centre_pixel(target.read_bytes()), BLUE)


def test_a_one_frame_clip_gives_that_frame(tmp_path: Path) -> None:
    video = clip_file(tmp_path, make_clip(frames=1, last=GREEN))
    target = tmp_path / "frame.png"
    save_last_frame(video, target, limit=10 * 1024**2)
    assert close_to(centre_pixel(target.read_bytes()), GREEN)


def test_a_file_over_the_cap_is_not_decoded(tmp_path: Path) -> None:
    data = make_clip()
    video = clip_file(tmp_path, data)
    target = tmp_path / "frame.png"
    with pytest.raises(FrameUnavailable, match="over the"):
        save_last_frame(video, target, limit=len(data) - 1)
    assert not target.exists()


@pytest.mark.parametrize("data", [
    b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16,  # starts like an MP4 (what the download checks), no video
    b"garbage, not a video at all" * 100,
    b"",
])
def test_garbage_gives_no_frame_and_writes_nothing(tmp_path: Path, data: bytes) -> None:
    video = clip_file(tmp_path, data)
    target = tmp_path / "frame.png"
    with pytest.raises(FrameUnavailable):
        save_last_frame(video, target, limit=10 * 1024**2)
    assert not target.exists()


def test_a_truncated_clip_gives_no_frame_or_a_frame_of_it(tmp_path: Path) -> None:
    """Half a file: either refused or a real frame of the clip; never an exception of another kind."""
    data = make_clip(frames=48)
    video = clip_file(tmp_path, data[: len(data) // 2])
    target = tmp_path / "frame.png"
    try:
        save_last_frame(video, target, limit=10 * 1024**2)
    except FrameUnavailable:
        assert not target.exists()
    else:
        assert close_to(centre_pixel(target.read_bytes()), RED) or close_to(centre_pixel(target.read_bytes()), BLUE)


async def test_kept_frames_are_named_by_job_and_bad_videos_keep_nothing(tmp_path: Path) -> None:
    frames = LastFrames(tmp_path / "frames", PyAVFrameReader(), retention_days=30)
    good = clip_file(tmp_path, make_clip(last=BLUE), "good.mp4")
    bad = clip_file(tmp_path, b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 5000, "bad.mp4")
    assert await frames.keep("0123456789abcdef", good, 10 * 1024**2) is True
    assert await frames.keep("fedcba9876543210", bad, 10 * 1024**2) is False
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["0123456789abcdef.png"]
    assert close_to(centre_pixel(frames.path_for("0123456789abcdef").read_bytes()), BLUE)


async def test_frames_past_the_retention_are_removed_and_others_kept(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    old, new, foreign = folder / "aaaaaaaaaaaaaaaa.png", folder / "bbbbbbbbbbbbbbbb.png", folder / "notes.png"
    for path in (old, new, foreign):
        path.write_bytes(PNG_SIGNATURE)
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    os.utime(foreign, (month_ago, month_ago))
    partial = folder / ".cccccccccccccccc.png.partial-0a0b0c0d"
    partial.write_bytes(b"half")
    os.utime(partial, (month_ago, month_ago))  # a crash's leftover
    being_written = folder / ".dddddddddddddddd.png.partial-0a0b0c0d"  # by another process sharing the folder
    being_written.write_bytes(b"half")
    frames = LastFrames(folder, PyAVFrameReader(), retention_days=30)
    await frames.sweep()
    assert sorted(p.name for p in folder.iterdir()) == [".dddddddddddddddd.png.partial-0a0b0c0d",
                                                        "bbbbbbbbbbbbbbbb.png", "notes.png"]


def test_continue_is_offered_only_where_the_provider_starts_from_a_png() -> None:
    base = Capabilities(durations=(5,), modes=("std",), push=False, rate_limit=RateLimit(60, 60.0))
    assert continuable(dataclasses.replace(base, max_images=1)) is True
    assert continuable(base) is False  # no image input: no Continue button
    assert continuable(dataclasses.replace(base, max_images=1, image_types=frozenset({"image/jpeg"}))) is False
