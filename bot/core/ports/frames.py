"""Continue: the last frame of a delivered clip starts the next one. Two small ports the edges implement.

`FrameReader` decodes a video the bot holds on disk (bot/downloads/frames.py, with PyAV); `StartFrames` puts a
kept frame where the provider can fetch it (bot/discord_adapter/start_frames.py: an attachment of the new job's
status message, so the member sees the frame the clip starts from, and its link is renewed like any image's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bot.core.models import Job


class FrameUnavailable(Exception):
    """No frame could be had: the video is over the size cap, not decodable, or holds no picture. `reason` is
    for the operator's log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FrameReader(Protocol):
    async def save_last_frame(self, video: Path, target: Path, limit: int) -> None:
        """Decode the last frame of `video` (at most `limit` bytes) and write it to `target` as a PNG, off the
        event loop. Raises FrameUnavailable; OSError when the disk refuses the write."""
        ...


class StartFrameNotShown(Exception):
    """The frame could not be attached to the job's status message."""


class StartFrames(Protocol):
    async def show(self, job: Job, frame: Path) -> str:
        """Attach `frame` to `job`'s status message and return the link to it there. Raises StartFrameNotShown."""
        ...
