"""Delivery: fetch the finished video (streamed to disk, capped), post it once, record the outcome.

Exactly once: only the path that moved the job to COMPLETED schedules it, a job is delivered by one
task at a time, the post carries a nonce derived from the job id (Discord returns the first message
for a repeated nonce), and the outcome is recorded by a conditional COMPLETED -> DELIVERED update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bot.core.clock import Clock
from bot.core.lifecycle import JobLifecycle
from bot.core.metrics import Metrics
from bot.core.models import DeliveryOutcome, Job, JobStatus
from bot.core.ports import Publisher, PublishError, Result

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
ARCHIVE_LIMIT = 2 * 1024**3  # the largest video archived for a link under PUBLIC_BASE_URL
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=600, sock_connect=15, sock_read=60)
POST_RETRY_DELAYS = (2.0, 5.0, 15.0, 30.0)


class TooLarge(Exception):
    pass


def nonce_for(job_id: str) -> str:
    return f"kb{job_id}"[:25]


class Delivery:
    def __init__(
        self, *, lifecycle: JobLifecycle, publisher: Publisher, session: aiohttp.ClientSession, clock: Clock,
        metrics: Metrics, work_dir: Path, archive_dir: Path | None, archive_url: Callable[[str], str] | None,
        retry_delays: tuple[float, ...] = POST_RETRY_DELAYS,
    ) -> None:
        self.lifecycle = lifecycle
        self.publisher = publisher
        self.session = session
        self.clock = clock
        self.metrics = metrics
        self.work_dir = work_dir
        self.archive_dir = archive_dir
        self.archive_url = archive_url
        self.retry_delays = retry_delays
        self._active: dict[str, asyncio.Task[None]] = {}

    def schedule(self, job: Job) -> None:
        """Deliver in the background; a job already being delivered is not started twice."""
        if job.id in self._active:
            return
        task = asyncio.create_task(self._deliver_logged(job))
        self._active[job.id] = task
        task.add_done_callback(lambda _: self._active.pop(job.id, None))

    async def _deliver_logged(self, job: Job) -> None:
        try:
            await self.deliver(job)
        except Exception:
            log.exception("job %s: delivery crashed; it will be retried at the next start", job.id)

    async def deliver(self, job: Job) -> None:
        if job.status is not JobStatus.COMPLETED or job.video_url is None:
            return
        limit = await self.publisher.upload_limit(job.guild_id)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix=f"job-{job.id}-") as folder:
            result = await self._prepare(job, limit, Path(folder))
            outcome, message_id = await self._post(job, result)
        self.metrics.deliveries[outcome.value] += 1
        moved = await self.lifecycle.move(
            job.id, JobStatus.COMPLETED, JobStatus.DELIVERED, detail=outcome.value,
            delivery_outcome=outcome, result_message_id=message_id,
        )
        if moved is None:
            log.info("job %s: already delivered elsewhere", job.id)

    async def _prepare(self, job: Job, limit: int, folder: Path) -> Result:
        """The video as a file when it fits the upload limit, else a link."""
        url = job.video_url
        assert url is not None
        target = folder / f"kling-{job.id}.mp4"
        try:
            size = await self._download(url, target, limit)
            return Result(file=target, size_bytes=size)
        except TooLarge:
            pass
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("job %s: could not download the video (%s); posting the link", job.id, exc)
            return Result(link=url, link_expires=True)
        if self.archive_dir is not None and self.archive_url is not None:
            name = f"{job.id}.mp4"
            self.archive_dir.mkdir(parents=True, exist_ok=True)
            try:
                size = await self._download(url, self.archive_dir / name, ARCHIVE_LIMIT)
                return Result(link=self.archive_url(name), size_bytes=size)
            except (TooLarge, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("job %s: could not archive the video (%s)", job.id, exc)
                with contextlib.suppress(FileNotFoundError):
                    (self.archive_dir / name).unlink()
        return Result(link=url, link_expires=True)

    async def _download(self, url: str, target: Path, limit: int) -> int:
        """Stream `url` into `target`; raises TooLarge as soon as it passes `limit` bytes."""
        async with self.session.get(url, timeout=DOWNLOAD_TIMEOUT) as response:
            response.raise_for_status()
            if response.content_length is not None and response.content_length > limit:
                raise TooLarge
            written = 0
            with target.open("wb") as file:
                async for chunk in response.content.iter_chunked(CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise TooLarge
                    file.write(chunk)
        return written

    async def _post(self, job: Job, result: Result) -> tuple[DeliveryOutcome, int | None]:
        nonce = nonce_for(job.id)
        for attempt in range(len(self.retry_delays) + 1):
            try:
                message_id = await self.publisher.post_result(job, result, nonce=nonce)
                return (DeliveryOutcome.ATTACHED if result.file else DeliveryOutcome.LINKED), message_id
            except PublishError as error:
                log.warning("job %s: posting the result failed (%s), attempt %d", job.id, error, attempt + 1)
                await self.lifecycle.store.record_event(job.id, self.clock.now(), "delivery_error", str(error))
                if error.too_large and result.file is not None and job.video_url:
                    result = Result(link=job.video_url, link_expires=True)
                    continue
                if error.permanent or attempt == len(self.retry_delays):
                    break
                await self.clock.sleep(self.retry_delays[attempt])
        try:
            message_id = await self.publisher.direct_message_result(job, result)
            return DeliveryOutcome.DIRECT_MESSAGE, message_id
        except PublishError as error:
            log.warning("job %s: the direct message failed too (%s)", job.id, error)
            await self.lifecycle.store.record_event(job.id, self.clock.now(), "delivery_error", str(error))
            return DeliveryOutcome.UNDELIVERABLE, None

    async def close(self) -> None:
        tasks = list(self._active.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
