"""The dispatcher: takes queued jobs in fair order and submits them while provider slots are free.

A submit is retried only when the provider surely started nothing (connection refused, 429, a 5xx
answer). When the request went out and no clear answer came back, the job is failed for
reconciliation and refunded: sending it again could bill the account twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.core.clock import Clock
from bot.core.errors import explain
from bot.core.fair_queue import FairQueue
from bot.core.lifecycle import JobLifecycle
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus
from bot.core.ratelimit import SlidingWindowLimiter
from bot.core.slots import ProviderSlots
from bot.core.tracker import JobTracker
from bot.providers.base import ErrorKind, Provider, ProviderError

log = logging.getLogger(__name__)

UNCERTAIN_SUBMIT = (
    "The provider did not confirm it accepted this job, so it was not sent again to avoid paying twice. "
    "Your credits were refunded; please try again."
)
RETRY_DELAYS = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class Dispatcher:
    def __init__(
        self, *, provider: Provider, lifecycle: JobLifecycle, tracker: JobTracker, slots: ProviderSlots,
        clock: Clock, metrics: Metrics, callback_url: Callable[[Job], str | None], give_up_after: float,
        submit_limiter: SlidingWindowLimiter | None = None, retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.provider = provider
        self.lifecycle = lifecycle
        self.tracker = tracker
        self.slots = slots
        self.clock = clock
        self.metrics = metrics
        self.callback_url = callback_url
        self.give_up_after = give_up_after
        self.submit_limiter = submit_limiter
        self.retry_delays = retry_delays
        self.queue = FairQueue()
        self._work = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def enqueue(self, job: Job) -> int:
        """Queue a job for submission; returns its position (1 = next)."""
        self.queue.push(job.user_id, job.id)
        self._work.set()
        return self.queue.position(job.id) or 1

    def position(self, job_id: str) -> int | None:
        return self.queue.position(job_id)

    async def run(self) -> None:
        while True:
            await self.slots.wait_for_free()
            job_id = self.queue.pop()
            if job_id is None:
                self._work.clear()
                await self._work.wait()
                continue
            self.slots.take(job_id)
            task = asyncio.create_task(self._submit(job_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _submit(self, job_id: str) -> None:
        try:
            submitted = await self._submit_with_retries(job_id)
        except Exception:
            log.exception("job %s: submit crashed", job_id)
            submitted = False
        if not submitted:
            self.slots.release(job_id)

    async def _submit_with_retries(self, job_id: str) -> bool:
        store = self.lifecycle.store
        job = await store.get(job_id)
        if job is None or job.status is not JobStatus.QUEUED:
            return False
        callback_url = self.callback_url(job)
        attempt = 0
        while True:
            attempt += 1
            if self.submit_limiter is not None:
                await self.submit_limiter.acquire()
            await store.update(job_id, self.clock.now(), submitting_since=self.clock.now(),
                               attempts=job.attempts + attempt)
            started = self.clock.monotonic()
            try:
                result = await self.provider.submit(job.request, callback_url=callback_url)
            except ProviderError as error:
                self.metrics.provider_call(self.provider.name, "submit", error.kind.value,
                                           self.clock.monotonic() - started)
                delay = self._retry_delay(job, error, attempt)
                if delay is None:
                    await self._give_up(job, error)
                    return False
                log.info("job %s: submit refused (%s), retrying in %.0f s", job_id, error, delay)
                await store.update(job_id, self.clock.now(), submitting_since=None, last_error=str(error))
                await self.clock.sleep(delay)
                continue
            self.metrics.provider_call(self.provider.name, "submit", "ok", self.clock.monotonic() - started)
            moved = await self.lifecycle.move(
                job_id, JobStatus.QUEUED, JobStatus.SUBMITTED, detail=f"provider job {result.provider_job_id}",
                provider_job_id=result.provider_job_id, submitted_at=self.clock.now(), submitting_since=None,
            )
            if moved is None:
                return False
            self.tracker.track(moved, callback_expected=callback_url is not None)
            return True

    def _retry_delay(self, job: Job, error: ProviderError, attempt: int) -> float | None:
        """How long to wait before trying again, or None to give up."""
        if error.maybe_started or not error.retryable:
            return None
        delay = error.retry_after or self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)]
        age = (self.clock.now() - job.created_at).total_seconds()
        if age + delay > self.give_up_after:
            return None
        if error.kind is ErrorKind.RATE_LIMITED and self.submit_limiter is not None:
            self.submit_limiter.penalize(delay)
        return delay

    async def _give_up(self, job: Job, error: ProviderError) -> None:
        if error.maybe_started:
            log.warning(
                "job %s: submit outcome unknown (%s); reconcile with the provider's dashboard", job.id, error
            )
            await self.lifecycle.fail(job.id, JobStatus.QUEUED, UNCERTAIN_SUBMIT,
                                      detail=f"needs reconciliation: {error}", submitting_since=None)
            return
        if error.kind is ErrorKind.MISCONFIGURED:
            log.error("the provider refused the bot's credentials: %s", error)
        await self.lifecycle.fail(job.id, JobStatus.QUEUED, explain(error.kind, error.detail),
                                  detail=str(error), submitting_since=None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
