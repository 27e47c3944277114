"""Delivery: fetch the finished video (streamed to disk, capped), post it once, record the outcome.

Exactly once: only the path that moved the job to COMPLETED schedules it, a job is delivered by one
task at a time, the post carries a nonce derived from the job id (Discord returns the first message
for a repeated nonce), and the outcome is recorded by a conditional COMPLETED -> DELIVERED update.

The bytes come through a `VideoSource` (the edge decides where downloads may go). A link it refuses
fails the job and refunds it (COMPLETED -> FAILED): nothing fetched from there, and not the link, is
ever posted. An ordinary failure, or a disk without room, falls back to posting the provider's link;
in no case does a job stay COMPLETED because of the download.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.alerts import Alerts
from bot.core.clock import Clock
from bot.core.incidents import DiskIncidents
from bot.core.lifecycle import JobLifecycle
from bot.core.log_context import bind_job
from bot.core.media_archive import MediaArchive
from bot.core.messages import Message
from bot.core.metrics import REFUSED, Metrics
from bot.core.models import DeliveryOutcome, Job, JobStatus
from bot.core.ports.publisher import Publisher, PublishError, Result
from bot.core.ports.video_source import DownloadFailed, DownloadRefused, NotAVideo, TooLarge, VideoSource

if TYPE_CHECKING:
    from bot.core.continuing import Continuations

log = logging.getLogger(__name__)

POST_RETRY_DELAYS = (2.0, 5.0, 15.0, 30.0)
# A download starts only if the disk keeps at least this much free beyond the download's own limit.
FREE_SPACE_MARGIN = 256 * 1024**2
WORK_PREFIX = "job-"  # scratch folders in the work dir; leftovers from a crash are swept at start-up

REFUSED_LINK = Message("failure.refused_link")
REFUSED_CONTENT = Message("failure.refused_content")


def nonce_for(job_id: str, *, direct_message: bool = False) -> str:
    """The job's result post's nonce (Discord allows 25 characters). A direct message has its own: Discord
    returns an earlier message of the same author and nonce, and a direct message whose answer was lost must not
    stand in for the channel post that follows it."""
    return f"{'kd' if direct_message else 'kb'}{job_id}"[:25]


class Delivery:
    def __init__(
        self, *, lifecycle: JobLifecycle, publisher: Publisher, source: VideoSource, clock: Clock,
        metrics: Metrics, work_dir: Path, archive: MediaArchive | None,
        retry_delays: tuple[float, ...] = POST_RETRY_DELAYS, free_space_margin: int = FREE_SPACE_MARGIN,
        disk: DiskIncidents | None = None,
    ) -> None:
        self.lifecycle = lifecycle
        self.publisher = publisher
        self.source = source
        self.clock = clock
        self.metrics = metrics
        self.work_dir = work_dir
        self.archive = archive
        self.retry_delays = retry_delays
        self.free_space_margin = free_space_margin
        self.disk = disk or DiskIncidents(Alerts((), clock))  # the operator hears of a disk nearly full
        self._active: dict[str, asyncio.Task[None]] = {}
        self._crashed: set[str] = set()
        self.continuations: Continuations | None = None  # set by the engine where Continue is offered

    def schedule(self, job: Job) -> None:
        """Deliver in the background; a job already being delivered is not started twice."""
        if job.id in self._active:
            return
        task = asyncio.create_task(self._deliver_logged(job))
        self._active[job.id] = task
        task.add_done_callback(lambda _: self._active.pop(job.id, None))

    def handled_here(self, job_id: str) -> bool:
        """Whether this process is delivering the job, or its delivery crashed here (retried at the next start,
        not again and again by the leader's sweep)."""
        return job_id in self._active or job_id in self._crashed

    async def _deliver_logged(self, job: Job) -> None:
        with bind_job(job):  # the delivery's own task: every line below names the job
            try:
                await self.deliver(job)
            except Exception:
                self._crashed.add(job.id)
                log.exception("delivery crashed; it will be retried at the next start")

    async def deliver(self, job: Job) -> None:
        if job.status is not JobStatus.COMPLETED or job.video_url is None:
            return
        limit = await self.publisher.upload_limit(job.guild_id)
        with self._scratch(job) as folder:
            try:
                result = await self._prepare(job, limit, folder)
            except DownloadRefused as refusal:
                await self._refuse(job, refusal)
                return
            await self._keep_last_frame(job, result, limit)
            outcome, message_id = await self._post(job, result)
        self.metrics.delivery(outcome.value)
        moved = await self.lifecycle.move(
            job.id, JobStatus.COMPLETED, JobStatus.DELIVERED, detail=outcome.value,
            delivery_outcome=outcome, result_message_id=message_id,
        )
        if moved is None:
            log.info("already delivered elsewhere")

    async def _prepare(self, job: Job, limit: int, folder: Path | None) -> Result:
        """The video as a file when it fits the upload limit, else a link. Raises DownloadRefused."""
        url = job.video_url
        assert url is not None
        provider_link = Result(link=url, link_expires=True)
        if folder is None or not self._room_for(folder, limit):
            return await self._checked_link(url)
        target = folder / f"kling-{job.id}.mp4"
        try:
            size = await self.source.fetch(url, target, limit)
            return Result(file=target, size_bytes=size)
        except TooLarge:
            pass  # a video (its first bytes were checked), too large to attach: archive it or link it
        except (DownloadFailed, OSError) as exc:
            log.warning("could not download the video (%s); posting the link", exc)
            return provider_link
        archived = await self._archive(job, url)
        return archived or provider_link

    async def _keep_last_frame(self, job: Job, result: Result, limit: int) -> None:
        """Continue starts from the clip's last frame: read it now from the bot's own copy (in the scratch
        folder, or archived), before the post shows the Continue button. With no copy (only the provider's
        link posted) there is no frame, and Continue says the clip cannot be continued."""
        if self.continuations is None:
            return
        video = result.file
        if video is None and self.archive is not None and result.link and not result.link_expires:
            video, limit = self.archive.folder / self.archive.name_for(job.id), self.archive.download_limit
        if video is not None:
            await self.continuations.keep(job, video, limit)

    async def _checked_link(self, url: str) -> Result:
        """No room to download: make sure the link leads to a video before handing it to members."""
        try:
            await self.source.check(url)
        except DownloadFailed as exc:
            log.warning("could not check the video link (%s); posting it", exc)
        return Result(link=url, link_expires=True)

    async def _archive(self, job: Job, url: str) -> Result | None:
        """Keep the video in the media archive and link to it there; None when that is not possible."""
        archive = self.archive
        if archive is None:
            return None
        name = archive.name_for(job.id)
        try:
            partial = await asyncio.to_thread(archive.partial_path, name)
        except OSError as exc:
            log.warning("the media folder cannot be used (%s); posting the provider's link", exc)
            return None
        kept = False
        try:
            if not self._room_for(archive.folder, archive.download_limit):
                return None
            size = await self.source.fetch(url, partial, archive.download_limit)
            link = await asyncio.to_thread(archive.keep, partial, name)
            kept = True
        except (TooLarge, DownloadFailed, OSError) as exc:
            log.warning("could not archive the video (%s); posting the provider's link", exc)
            return None
        finally:
            if not kept:
                await asyncio.to_thread(archive.discard, partial)
        await self._prune_archive()
        return Result(link=link, size_bytes=size)

    async def _prune_archive(self) -> None:
        if self.archive is None:
            return
        try:
            await asyncio.to_thread(self.archive.prune)
        except OSError as exc:
            log.warning("media archive: could not enforce its bounds (%s)", exc)

    def _room_for(self, folder: Path, limit: int) -> bool:
        """Whether a download of up to `limit` bytes leaves the safety margin free on `folder`'s disk."""
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            log.warning("cannot tell the free space in %s (%s); not downloading", folder, exc)
            return False
        if free < limit + self.free_space_margin:
            log.warning("only %d MiB free in %s; posting the provider's link instead of downloading",
                        free // 1024**2, folder)
            self.disk.low(self._known_folder(folder), free, limit + self.free_space_margin)
            return False
        self.disk.ok(self._known_folder(folder))
        return True

    def _known_folder(self, folder: Path) -> Path:
        """The folder the operator knows: the work dir rather than one download's scratch folder inside it."""
        return self.work_dir if folder.parent == self.work_dir else folder

    async def _refuse(self, job: Job, refusal: DownloadRefused) -> None:
        log.warning("refused the provider's video link: %s", refusal.reason)
        self.metrics.delivery(REFUSED)
        reason = REFUSED_CONTENT if isinstance(refusal, NotAVideo) else REFUSED_LINK
        await self.lifecycle.fail(job.id, JobStatus.COMPLETED, reason, detail=f"download refused: {refusal.reason}")

    @contextlib.contextmanager
    def _scratch(self, job: Job) -> Iterator[Path | None]:
        """A private folder for this delivery's download, removed afterwards; None when none can be made."""
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            folder = tempfile.TemporaryDirectory(dir=self.work_dir, prefix=f"{WORK_PREFIX}{job.id}-",
                                                 ignore_cleanup_errors=True)
        except OSError as exc:
            log.warning("no scratch folder in %s (%s)", self.work_dir, exc)
            yield None
            return
        with folder as path:
            yield Path(path)

    async def _post(self, job: Job, result: Result) -> tuple[DeliveryOutcome, int | None]:
        # Sent once each, even when a crash makes the delivery run again.
        nonce, dm_nonce = nonce_for(job.id), nonce_for(job.id, direct_message=True)
        if job.deliver_by_dm:  # the member asked for it (/settings); when their DMs refuse, the channel has it
            message_id = await self._asked_direct_message(job, result, dm_nonce)
            if message_id is not None:
                return DeliveryOutcome.DIRECT_MESSAGE, message_id
        for attempt in range(len(self.retry_delays) + 1):
            try:
                message_id = await self.publisher.post_result(job, result, nonce=nonce)
                return (DeliveryOutcome.ATTACHED if result.file else DeliveryOutcome.LINKED), message_id
            except PublishError as error:
                log.warning("posting the result failed (%s), attempt %d", error, attempt + 1)
                await self.lifecycle.store.record_event(job.id, self.clock.now(), "delivery_error", str(error))
                if error.too_large and result.file is not None and job.video_url:
                    result = Result(link=job.video_url, link_expires=True)
                    continue
                if error.permanent or attempt == len(self.retry_delays):
                    break
                await self.clock.sleep(self.retry_delays[attempt])
        if job.deliver_by_dm:
            return DeliveryOutcome.UNDELIVERABLE, None  # the direct message was tried first and failed
        try:
            message_id = await self.publisher.direct_message_result(job, result, nonce=dm_nonce)
            return DeliveryOutcome.DIRECT_MESSAGE, message_id
        except PublishError as error:
            log.warning("the direct message failed too (%s)", error)
            await self.lifecycle.store.record_event(job.id, self.clock.now(), "delivery_error", str(error))
            return DeliveryOutcome.UNDELIVERABLE, None

    async def _asked_direct_message(self, job: Job, result: Result, nonce: str) -> int | None:
        """Send the result by direct message, as the member asked; None when that failed (recorded)."""
        try:
            return await self.publisher.direct_message_result(job, result, nonce=nonce)
        except PublishError as error:
            failure = error
        if failure.too_large and result.file is not None and job.video_url:  # a DM may take less than the server
            try:
                return await self.publisher.direct_message_result(job, Result(link=job.video_url, link_expires=True),
                                                                  nonce=nonce)
            except PublishError as error:
                failure = error
        log.warning("the direct message the member asked for failed (%s); posting in the channel", failure)
        await self.lifecycle.store.record_event(job.id, self.clock.now(), "delivery_error",
                                                f"direct message: {failure}")
        return None

    async def sweep_leftovers(self) -> None:
        """At start-up, before any delivery runs: scratch folders and partial archive files a crash left
        behind go, and the archive's bounds are enforced."""
        removed = await asyncio.to_thread(self._sweep_work_dir)
        if removed:
            log.info("removed %d leftover download folder(s) from %s", removed, self.work_dir)
        if self.archive is not None:
            try:
                await asyncio.to_thread(self.archive.sweep_partials)
            except OSError as exc:
                log.warning("media archive: could not remove partial files (%s)", exc)
            await self._prune_archive()
        if self.continuations is not None:
            await self.continuations.frames.sweep()

    def _sweep_work_dir(self) -> int:
        try:
            leftovers = [path for path in self.work_dir.glob(f"{WORK_PREFIX}*") if path.is_dir()]
        except OSError:
            return 0
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        return len(leftovers)

    async def close(self) -> None:
        tasks = list(self._active.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
