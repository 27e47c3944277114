"""The archive of videos too large to attach, served from `/media/<job id>.mp4` when PUBLIC_BASE_URL is set.

A video is written under a hidden partial name and renamed to its final name only once it is complete
and checked, so the media route (which serves final names only) never hands out half a file. The
archive is bounded: videos older than MEDIA_RETENTION_DAYS go, then the oldest until the folder holds
no more than MEDIA_MAX_BYTES. Only files with the archive's own naming are ever touched, so a media
folder shared with anything else is safe.

File ages are compared with the wall clock (`time.time`), not the bot's injectable clock: they are
file modification times, which the operating system writes in wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

ARCHIVE_NAME = re.compile(r"^[0-9a-f]{16}\.mp4$")  # `<job id>.mp4`; the media route serves these only
PARTIAL_NAME = re.compile(r"^\.[0-9a-f]{16}\.mp4\.partial-[0-9a-f]+$")
ARCHIVE_LIMIT = 2 * 1024**3  # the largest single video archived
UPKEEP_SECONDS = 3600.0  # how often the bounds are enforced besides after each write and at start-up
DAY = 86400
# A partial file untouched this long was left by a crash. A younger one may be a download still being written,
# by this process or by another sharing MEDIA_DIR (several processes on PostgreSQL), so it is left alone.
PARTIAL_STALE_SECONDS = 600


class MediaArchive:
    def __init__(self, folder: Path, *, url_for: Callable[[str], str], retention_days: int, max_bytes: int,
                 now: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.url_for = url_for
        self.retention_days = retention_days  # 0: kept for ever (unless the size bound needs the room)
        self.max_bytes = max_bytes  # 0: no bound
        self._now = now

    @property
    def download_limit(self) -> int:
        """A video larger than the whole archive may hold could never be kept."""
        return min(ARCHIVE_LIMIT, self.max_bytes) if self.max_bytes else ARCHIVE_LIMIT

    @staticmethod
    def name_for(job_id: str) -> str:
        return f"{job_id}.mp4"

    def partial_path(self, name: str) -> Path:
        """A fresh hidden name in the archive folder (same file system, so the final rename is atomic)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f".{name}.partial-{secrets.token_hex(4)}"

    def keep(self, partial: Path, name: str) -> str:
        """Give a complete, checked download its final name; returns the public link to it."""
        os.replace(partial, self.folder / name)
        return self.url_for(name)

    @staticmethod
    def discard(partial: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()

    def sweep_partials(self) -> int:
        """At start-up: partial files nobody has written to for PARTIAL_STALE_SECONDS are what a crash left."""
        removed = 0
        for path in self._entries(PARTIAL_NAME):
            with contextlib.suppress(FileNotFoundError):
                if is_stale(path, self._now()):
                    path.unlink()
                    removed += 1
        return removed

    def prune(self) -> list[str]:
        """Remove videos past the retention, then the oldest until within the size bound. Returns their names."""
        videos = []
        for path in self._entries(ARCHIVE_NAME):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            videos.append((stat.st_mtime, path.name, stat.st_size, path))
        videos.sort()  # oldest first
        total = sum(size for _, _, size, _ in videos)
        cutoff = self._now() - self.retention_days * DAY if self.retention_days else None
        removed: list[str] = []
        for modified, name, size, path in videos:
            too_old = cutoff is not None and modified < cutoff
            too_much = bool(self.max_bytes) and total > self.max_bytes
            if not (too_old or too_much):
                break  # everything after this one is newer, and the total already fits
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
            removed.append(name)
        if removed:
            log.info("media archive: removed %d old video(s); %d MiB kept", len(removed), total // 1024**2)
        return removed

    async def upkeep(self, every: float = UPKEEP_SECONDS) -> None:
        """Enforce the bounds now and then, for as long as the bot runs (errors are logged, not fatal)."""
        while True:
            await asyncio.sleep(every)  # wall-clock time, like the file ages it compares (see above)
            try:
                await asyncio.to_thread(self.prune)
            except Exception:  # a disk hiccup must not stop the bot; the next round tries again
                log.exception("media archive: could not enforce its bounds; trying again later")

    def _entries(self, pattern: re.Pattern[str]) -> list[Path]:
        try:
            return [path for path in self.folder.iterdir() if pattern.match(path.name)]
        except FileNotFoundError:
            return []


def is_stale(partial: Path, now: float) -> bool:
    """Whether a partial file was left by a crash rather than being written now (see PARTIAL_STALE_SECONDS)."""
    return partial.stat().st_mtime < now - PARTIAL_STALE_SECONDS
