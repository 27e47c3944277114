"""Tracking jobs at the provider: one update path fed by callbacks and by a single poll loop.

The poll loop keeps a heap of due checks for every job in flight. Status calls go through the per-key
rate limiter, so the limit holds however many jobs are in flight; callbacks make most polls
unnecessary, and a job that a callback finished is simply skipped when its check comes due.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from bot.core.clock import Clock
from bot.core.errors import explain
from bot.core.incidents import Incidents, ProviderIncidents
from bot.core.leadership import Role
from bot.core.lifecycle import JobLifecycle
from bot.core.log_context import JobFields, bind_job
from bot.core.messages import Message
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus
from bot.core.ports.leadership import JobSignal
from bot.core.ports.provider import ErrorKind, Provider, ProviderError, ProviderState, ProviderUpdate
from bot.core.ratelimit import SlidingWindowLimiter
from bot.core.schedule import poll_delay
from bot.core.slots import ProviderSlots

log = logging.getLogger(__name__)

AT_PROVIDER = (JobStatus.SUBMITTED, JobStatus.PROCESSING)
TIMEOUT_REASON = Message("failure.timed_out")
RESUME_CHECK_SECONDS = 1.0
MAX_CONCURRENT_STATUS_CALLS = 16
ERROR_RETRY_SECONDS = 5.0  # after a job's update could not be written (database busy or failing)


class PollSchedule(Protocol):
    def __call__(self, checks_done: int, *, callback_expected_after: float | None = None) -> float: ...


class DeliveryScheduler(Protocol):
    def schedule(self, job: Job) -> None: ...


class UpdateRejected(Exception):
    """A callback that does not belong to the job it was sent for."""


@dataclass(slots=True)
class Tracked:
    job_id: str
    provider_job_id: str
    checks: int
    callback_expected_after: float | None
    log_fields: JobFields  # what this job's log lines name, kept so a check needs no database read


class JobTracker:
    def __init__(
        self, *, provider: Provider, lifecycle: JobLifecycle, delivery: DeliveryScheduler, slots: ProviderSlots,
        limiter: SlidingWindowLimiter, clock: Clock, metrics: Metrics, timeout_seconds: float,
        schedule: PollSchedule = poll_delay, incidents: ProviderIncidents | None = None, role: Role | None = None,
    ) -> None:
        # A follower (bot/core/leadership.py) records callbacks like the leader, but only the leader delivers.
        self.role = role or Role()
        self.schedule = schedule
        self.provider = provider
        self.lifecycle = lifecycle
        self.delivery = delivery
        self.slots = slots
        self.limiter = limiter
        self.clock = clock
        self.metrics = metrics
        self.timeout_seconds = timeout_seconds
        self.error_retry_seconds = ERROR_RETRY_SECONDS
        self.incidents = incidents or Incidents.logged_only(provider.name, clock).provider
        self._tracked: dict[str, Tracked] = {}
        self._heap: list[tuple[float, int, str, str]] = []  # (due, tiebreak, kind, job_id)
        self._counter = itertools.count()
        self._wake = asyncio.Event()
        self._calls = asyncio.Semaphore(MAX_CONCURRENT_STATUS_CALLS)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def tracked_count(self) -> int:
        return len(self._tracked)

    def track(self, job: Job, *, callback_expected: bool, resumed: bool = False) -> None:
        """Start watching a job that is at the provider."""
        assert job.provider_job_id is not None
        expected = self.provider.expected_seconds(job.request) if callback_expected else None
        self._tracked[job.id] = Tracked(job.id, job.provider_job_id, 0, expected, JobFields.of(job))
        now = self.clock.monotonic()
        first = RESUME_CHECK_SECONDS if resumed else self.schedule(0, callback_expected_after=expected)
        age = (self.clock.now() - job.submitted_at).total_seconds() if job.submitted_at else 0.0
        self._push(now + first, "poll", job.id)
        self._push(now + max(0.0, self.timeout_seconds - age), "deadline", job.id)

    def _push(self, due: float, kind: str, job_id: str) -> None:
        if not self._heap or due < self._heap[0][0]:
            self._wake.set()  # the loop may be sleeping toward a later check
        heapq.heappush(self._heap, (due, next(self._counter), kind, job_id))

    def _forget(self, job_id: str) -> None:
        self._tracked.pop(job_id, None)
        self.slots.release(job_id)

    def left_provider(self, job_id: str) -> None:
        """Another process recorded that the job finished at the provider: stop tracking it, free its slot."""
        self._forget(job_id)

    # -- the one update path ------------------------------------------------------------------------
    def provider_job_id(self, job_id: str) -> str | None:
        """The provider's id for a job being tracked (None: not at the provider, as far as this run knows)."""
        tracked = self._tracked.get(job_id)
        return tracked.provider_job_id if tracked is not None else None

    def _log_fields(self, job_id: str) -> JobFields:
        tracked = self._tracked.get(job_id)
        return tracked.log_fields if tracked is not None else JobFields(job_id, provider=self.provider.name)

    async def apply(self, job_id: str, provider_job_id: str | None, update: ProviderUpdate,
                    source: str) -> Job | None:
        """Record what the provider says about a job. Returns the job if this update moved it, None if it
        changed nothing (a duplicate, a late callback, a status we already had)."""
        with bind_job(self._log_fields(job_id)):  # a callback arrives unbound; a poll is bound already
            return await self._apply(job_id, provider_job_id, update, source)

    async def _apply(self, job_id: str, provider_job_id: str | None, update: ProviderUpdate,
                     source: str) -> Job | None:
        if provider_job_id is None or update.provider_job_id != provider_job_id:
            raise UpdateRejected("the update names another provider job")
        if update.state is ProviderState.PROCESSING:
            return await self.lifecycle.move(job_id, JobStatus.SUBMITTED, JobStatus.PROCESSING, detail=source,
                                             reported_cost=update.reported_cost)
        if update.state is ProviderState.COMPLETED:
            if not update.video_url:
                log.warning("the provider says completed but gave no video URL")
                return None
            moved = await self.lifecycle.move(
                job_id, AT_PROVIDER, JobStatus.COMPLETED, detail=source, announce=False,
                video_url=update.video_url, completed_at=self.clock.now(), reported_cost=update.reported_cost,
            )
            self._forget(job_id)  # finished, whichever path recorded it
            if moved is not None and self.role.following:
                await self.role.tell_leader(JobSignal.COMPLETED, job_id)  # only the leader delivers
            elif moved is not None:
                self.delivery.schedule(moved)
            return moved
        if update.state is ProviderState.FAILED:
            kind = update.error_kind or ErrorKind.GENERATION_FAILED
            moved = await self.lifecycle.fail(
                job_id, AT_PROVIDER, explain(kind, update.error_detail), detail=f"{source}: {update.error_detail}"
            )
            self._forget(job_id)
            if moved is not None and self.role.following:
                await self.role.tell_leader(JobSignal.FAILED, job_id)  # the leader frees the job's slot
            return moved
        return None

    # -- the poll loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, _, kind, job_id = self._heap[0]
            wait = due - self.clock.monotonic()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):  # not wait_for: on Python 3.11 it can lose a stop's cancel
                        await self._wake.wait()
                continue
            heapq.heappop(self._heap)
            tracked = self._tracked.get(job_id)
            if tracked is None:
                continue  # finished by a callback or an earlier check
            if kind == "deadline":
                await self._time_out(job_id)  # never raises: the loop outlives any one job
                continue
            await self._calls.acquire()
            await self.limiter.acquire()
            self._spawn(self._check(tracked))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, tracked: Tracked) -> None:
        # Bound inside the check's own task: the poll loop that started it stays unbound.
        with bind_job(tracked.log_fields):
            try:
                await self._check_once(tracked)
            except Exception:
                log.exception("status check failed unexpectedly")
                if tracked.job_id in self._tracked:
                    self._push(self.clock.monotonic() + self.error_retry_seconds, "poll", tracked.job_id)
            finally:
                self._calls.release()

    async def _check_once(self, tracked: Tracked) -> None:
        started = self.clock.monotonic()
        try:
            update = await self.provider.status(tracked.provider_job_id)
        except ProviderError as error:
            self.metrics.provider_call(self.provider.name, "status", error.kind.value, self.clock.monotonic() - started)
            self.incidents.status_failed(error)
            await self._status_failed(tracked, error)
            return
        self.metrics.provider_call(self.provider.name, "status", "ok", self.clock.monotonic() - started)
        self.incidents.status_ok()
        tracked.checks += 1
        if tracked.job_id not in self._tracked:
            return  # a callback finished it while this check was under way
        await self.apply(tracked.job_id, tracked.provider_job_id, update, "poll")
        if tracked.job_id in self._tracked:
            self._reschedule(tracked)

    async def _status_failed(self, tracked: Tracked, error: ProviderError) -> None:
        if error.kind is ErrorKind.NOT_FOUND:
            await self.lifecycle.fail(tracked.job_id, AT_PROVIDER, explain(error.kind), detail=str(error))
            self._forget(tracked.job_id)
            return
        if error.kind is ErrorKind.RATE_LIMITED:
            self.limiter.penalize(error.retry_after or 10.0)
        elif error.kind is ErrorKind.MISCONFIGURED:
            log.error("the provider refused the API key during a status check: %s", error)
        else:
            log.warning("status check failed: %s", error)
        tracked.checks += 1
        self._reschedule(tracked)

    def _reschedule(self, tracked: Tracked) -> None:
        delay = self.schedule(tracked.checks, callback_expected_after=tracked.callback_expected_after)
        self._push(self.clock.monotonic() + delay, "poll", tracked.job_id)

    async def _time_out(self, job_id: str) -> None:
        """Fail a job that ran out of time. It is forgotten only once the failure is written; until then
        the deadline comes round again."""
        with bind_job(self._log_fields(job_id)):  # inside the poll loop: bound for this job's turn only
            try:
                await self.lifecycle.fail(job_id, AT_PROVIDER, TIMEOUT_REASON, detail="timed out")
            except Exception:
                log.exception("could not record the job's time-out; trying again in %.0f s",
                              self.error_retry_seconds)
                self._push(self.clock.monotonic() + self.error_retry_seconds, "deadline", job_id)
                return
            self._forget(job_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
