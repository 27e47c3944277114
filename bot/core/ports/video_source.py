"""Where delivery gets a finished video from: a small port the edge implements (`bot.downloads`).

The core never opens a connection itself; it asks a `VideoSource` for the bytes behind a provider's
link and reacts to three kinds of "no": too large for the limit, refused (the link points somewhere
the bot must not fetch from, or what came back is not a video), and failed (the network let us down).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class TooLarge(Exception):
    """The video is larger than the limit given. Raised only after its first bytes proved it a video."""


class DownloadRefused(Exception):
    """The link may not be followed (scheme, address, redirects) or did not lead to a video.

    `reason` is for the operator's log: it may name a host, never a whole URL (links carry signatures).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAVideo(DownloadRefused):
    """The link was fine but what it returned is not an MP4/MOV or WebM/Matroska file."""


class DownloadFailed(Exception):
    """An ordinary failure (unreachable, timed out, an HTTP error): the provider's link may still work."""


class VideoSource(Protocol):
    async def fetch(self, url: str, target: Path, limit: int) -> int:
        """Write the video behind `url` into `target` and return its size in bytes. Raises TooLarge past
        `limit`, DownloadRefused / NotAVideo, DownloadFailed; OSError when the disk refuses the write."""
        ...

    async def check(self, url: str) -> None:
        """Follow `url` as `fetch` would but read only enough to know it is a video (nothing is stored).
        Raises DownloadRefused / NotAVideo or DownloadFailed."""
        ...
