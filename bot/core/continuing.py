"""Continue: the last frame of a delivered clip becomes the start image of the next one, so a member builds a
scene clip by clip. The new result is posted as a reply to the previous result, forming a chain.

At delivery, while the bot holds its own copy of the video, `LastFrames.keep` saves the clip's last frame
(decoded by the edge's `FrameReader`) as `<job id>.png` in a `frames` folder of the media folder, and records
that it did on the job's event log. A Continue then:

1. checks that frame is still kept, before anything is charged (never kept: the clip cannot be continued;
   kept but removed by retention since: it is too old);
2. goes through the engine's one submit path (same checks, quota and charge as `/video`), with the earlier
   job's settings, the new prompt, and the job marked as continuing the earlier one;
3. once the public status message is shown, and before the job is queued, has the frame attached to that
   message (`StartFrames`) and uses that attachment's link as the start image: the member sees the frame the
   clip starts from, and the link is a Discord attachment like any image a member gives, renewed the same way
   when the job is re-rolled weeks later (bot/core/ports/image_links.py).

No provider in this project documents a video-extension endpoint (the seeds and PROVIDERS.md describe
text-to-video and image-to-video only), so every provider continues from the frame.

Frame ages are compared with the wall clock (file modification times), as in bot/core/media_archive.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from bot.core.clock import Clock
from bot.core.errors import InvalidRequest
from bot.core.jobs import JobIntake, Submission
from bot.core.media_archive import is_stale
from bot.core.messages import Message, english_names
from bot.core.models import DeliveryOutcome, Job
from bot.core.ports.frames import FrameReader, FrameUnavailable, StartFrameNotShown, StartFrames
from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import JobRepository

log = logging.getLogger(__name__)

FRAME_TYPE = "image/png"
FRAME_NAME = re.compile(r"^[0-9a-f]{16}\.png$")  # `<job id>.png`; only these are ever pruned
PARTIAL_NAME = re.compile(r"^\.[0-9a-f]{16}\.png\.partial-[0-9a-f]+$")
FRAMES_FOLDER = "frames"
FRAME_KEPT = "last_frame_kept"  # the job event that says its last frame was kept
DAY = 86400
# A reply continues the chain only where the previous result was posted in the channel.
CHAINED_OUTCOMES = (DeliveryOutcome.ATTACHED, DeliveryOutcome.LINKED)

CANNOT_CONTINUE_MESSAGE = Message("continue.cannot")
TOO_OLD_MESSAGE = Message("continue.too_old")
NOT_HERE = Message("error.unknown_job")
# The English texts under plain names (tests and logs compare them).
__getattr__ = english_names(__name__, {"CANNOT_CONTINUE": CANNOT_CONTINUE_MESSAGE, "TOO_OLD": TOO_OLD_MESSAGE})


def continuable(caps: Capabilities) -> bool:
    """Whether the provider can start a video from the kept frame: only then is Continue offered."""
    return caps.image_input and FRAME_TYPE in caps.image_types


class LastFrames:
    """The kept last frames, bounded like the media archive: older than `retention_days` (0: kept for ever)
    they are removed, at start-up and after each new frame."""

    def __init__(self, folder: Path, reader: FrameReader, *, retention_days: int,
                 now: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.reader = reader
        self.retention_days = retention_days
        self._now = now

    def path_for(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.png"

    async def keep(self, job_id: str, video: Path, limit: int) -> bool:
        """Save the last frame of `video` (the bot's own copy, at most `limit` bytes). Never raises: a video
        that gives no frame is logged and the job simply cannot be continued."""
        try:
            partial = await asyncio.to_thread(self._partial_path, job_id)
        except OSError as exc:
            log.warning("the frames folder cannot be used (%s); this clip cannot be continued", exc)
            return False
        try:
            await self.reader.save_last_frame(video, partial, limit)
            await asyncio.to_thread(os.replace, partial, self.path_for(job_id))
        except (FrameUnavailable, OSError) as exc:
            reason = exc.reason if isinstance(exc, FrameUnavailable) else str(exc)
            log.warning("could not keep the clip's last frame (%s); it cannot be continued", reason)
            await asyncio.to_thread(_discard, partial)
            return False
        except Exception:  # a decoder bug must not cost the member their delivery
            log.exception("reading the clip's last frame failed; it cannot be continued")
            await asyncio.to_thread(_discard, partial)
            return False
        await self.prune_logged()
        return True

    def _partial_path(self, job_id: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f".{job_id}.png.partial-{secrets.token_hex(4)}"

    def prune(self) -> list[str]:
        """Remove frames past the retention, and partial files (only ever left by a crash when no write runs:
        called at start-up, or after a write finished). Returns the names of the frames removed."""
        if not self.retention_days:
            return []
        cutoff = self._now() - self.retention_days * DAY
        removed = []
        for path in self._entries(FRAME_NAME):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path.name)
        if removed:
            log.info("removed %d last frame(s) past MEDIA_RETENTION_DAYS", len(removed))
        return removed

    def sweep_partials(self) -> None:
        for path in self._entries(PARTIAL_NAME):
            with contextlib.suppress(FileNotFoundError):
                if is_stale(path, self._now()):
                    _discard(path)

    async def prune_logged(self) -> None:
        try:
            await asyncio.to_thread(self.prune)
        except OSError as exc:
            log.warning("could not remove old last frames (%s)", exc)

    async def sweep(self) -> None:
        """At start-up, before any delivery runs."""
        try:
            await asyncio.to_thread(self.sweep_partials)
        except OSError as exc:
            log.warning("could not remove partial frame files (%s)", exc)
        await self.prune_logged()

    def _entries(self, pattern: re.Pattern[str]) -> list[Path]:
        try:
            return [path for path in self.folder.iterdir() if pattern.match(path.name)]
        except FileNotFoundError:
            return []


class Continuations:
    """What the engine asks about Continue: the submission that continues a job (refused before any charge
    when its frame is not kept), and the start frame shown on the new job's status message."""

    def __init__(self, *, frames: LastFrames, start_frames: StartFrames, store: JobRepository, intake: JobIntake,
                 clock: Clock) -> None:
        self.frames = frames
        self.start_frames = start_frames
        self.store = store
        self.intake = intake
        self.clock = clock

    async def keep(self, job: Job, video: Path, limit: int) -> None:
        """At delivery: keep the clip's last frame, and note on the job that it was kept (so that once retention
        removes it, Continue can say the clip is too old rather than that it cannot be continued)."""
        if await self.frames.keep(job.id, video, limit):
            await self.store.record_event(job.id, self.clock.now(), FRAME_KEPT, None)

    async def frame_of(self, earlier: Job) -> Path:
        """The kept frame of `earlier`; raises InvalidRequest (nothing charged) saying why there is none."""
        path = self.frames.path_for(earlier.id)
        if await asyncio.to_thread(path.is_file):
            return path
        kept_once = any(event.kind == FRAME_KEPT for event in await self.store.events(earlier.id))
        raise InvalidRequest(TOO_OLD_MESSAGE if kept_once else CANNOT_CONTINUE_MESSAGE)

    async def check(self, earlier: Job, *, guild_id: int) -> Path:
        """The frame `earlier` can be continued from, in the asker's server; raises InvalidRequest saying why not."""
        if earlier.guild_id != guild_id:
            raise InvalidRequest(NOT_HERE)
        frame = await self.frame_of(earlier)
        try:
            size = (await asyncio.to_thread(frame.stat)).st_size
        except FileNotFoundError:  # removed by retention just now
            raise InvalidRequest(TOO_OLD_MESSAGE) from None
        if size > self.intake.capabilities.max_image_bytes:
            raise InvalidRequest(CANNOT_CONTINUE_MESSAGE)  # a frame larger than the provider takes (a 4K clip, say)
        return frame

    async def submission(self, earlier: Job, *, guild_id: int, user_id: int, channel_id: int,
                         prompt: str) -> Submission:
        """The earlier job's settings with the new prompt, starting from its last frame (in place of its own
        images), whose result will reply to the earlier result. Raises InvalidRequest before any charge."""
        await self.check(earlier, guild_id=guild_id)
        submission = self.intake.resubmission(earlier, user_id=user_id, channel_id=channel_id, prompt=prompt)
        chained = (earlier.result_message_id is not None and earlier.delivery_outcome in CHAINED_OUTCOMES
                   and earlier.channel_id == channel_id)
        return dataclasses.replace(
            submission, checked_image_urls=(), checked_end_image_url=None, continues=earlier.id,
            reply_to_message_id=earlier.result_message_id if chained else None,
        )

    async def show_start_frame(self, job: Job) -> None:
        """Attach the earlier clip's frame to `job`'s status message and make its link the job's start image
        (stored before the job is queued). Raises StartFrameNotShown or InvalidRequest (the frame went)."""
        assert job.parent_job_id is not None
        earlier = await self.store.get(job.parent_job_id)
        if earlier is None:
            raise StartFrameNotShown("the earlier job is gone")
        url = await self.start_frames.show(job, await self.frame_of(earlier))
        urls = (url, *job.request.image_urls)
        await self.store.update(job.id, self.clock.now(), image_urls=urls)
        job.request = dataclasses.replace(job.request, image_urls=urls)


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
