"""Estimated start and finish times of the jobs in flight, for `/queue` and the status messages.

The model, simple enough to explain to a member:

* A video takes the provider its *typical generation time*: the median time from submitted to completed
  of the provider's last `HISTORY` finished jobs; before there are any, the provider adapter's own estimate
  for that request (`Provider.expected_seconds`).
* A job at the provider finishes at its submit time plus that time, never earlier than now (an overdue job
  is expected any moment). A job whose submit is on its way counts as submitted now.
* There are MAX_CONCURRENT_JOBS provider slots. Waiting jobs go out in the dispatcher's fair order, each
  into the slot that frees first: it starts then and finishes a typical generation time later. When more
  jobs are at the provider than there are slots (after a restart), the first waiting job starts once enough
  of them have finished to bring the count under the limit.

A status message shows these times, but an estimate that moved only a little is not shown again
(`worth_showing`: more than a fifth of the time that was left, and at least 30 s), so a waiting job's
message is edited a handful of times, never once per dispatch or per second.
"""

from __future__ import annotations

import heapq
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.ports.repositories import JobRepository

log = logging.getLogger(__name__)

HISTORY = 20  # finished jobs whose generation times make the typical one
TYPICAL_MAX_AGE = 60.0  # seconds a typical time is used before it is read from the store again
MIN_MOVE_SECONDS = 30.0
AT_PROVIDER = (JobStatus.SUBMITTED, JobStatus.PROCESSING)
START, FINISH = "start", "finish"  # what a status message shows: a waiting job's start, a sent job's finish


@dataclass(frozen=True, slots=True)
class Estimate:
    start: datetime
    finish: datetime


@dataclass(frozen=True, slots=True)
class Typical:
    """The provider's typical generation time. `seconds` None: no finished job yet, so each request's own
    estimate from the provider adapter is used."""

    seconds: float | None
    samples: int


@dataclass(frozen=True, slots=True)
class QueueEntry:
    job_id: str
    guild_id: int
    user_id: int
    since: datetime  # at the provider: when it was sent; waiting: when it was accepted
    estimate: Estimate
    position: int | None = None  # waiting: 1 goes out next; None: at the provider


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """What is at the provider and what is waiting, in the order the dispatcher sends it, with estimates."""

    taken_at: datetime
    slots: int
    running: tuple[QueueEntry, ...]
    waiting: tuple[QueueEntry, ...]
    typical: Typical

    def of_member(self, guild_id: int, user_id: int) -> list[QueueEntry]:
        return [entry for entry in (*self.running, *self.waiting)
                if entry.guild_id == guild_id and entry.user_id == user_id]


def plan(now: datetime, slots: int, running: Sequence[tuple[str, datetime | None, float]],
         waiting: Sequence[tuple[str, float]]) -> dict[str, Estimate]:
    """The model above. `running`: (job id, when it was sent or None while it is being sent, its generation
    seconds); `waiting`: (job id, its generation seconds) in dispatch order. Returns an estimate per job."""
    estimates: dict[str, Estimate] = {}
    free_at: list[datetime] = []  # when each slot frees
    for job_id, sent, seconds in running:
        start = sent or now
        finish = max(start + timedelta(seconds=seconds), now)
        estimates[job_id] = Estimate(start, finish)
        free_at.append(finish)
    limit = max(1, slots)
    free_at.extend([now] * (limit - len(free_at)))
    heapq.heapify(free_at)
    while len(free_at) > limit:  # over the limit: the first to finish only bring the count back under it
        heapq.heappop(free_at)
    for job_id, seconds in waiting:
        start = max(now, heapq.heappop(free_at))
        finish = start + timedelta(seconds=seconds)
        estimates[job_id] = Estimate(start, finish)
        heapq.heappush(free_at, finish)
    return estimates


def worth_showing(new: datetime, shown: datetime | None, now: datetime) -> bool:
    """Whether a status message showing `shown` should be edited to show `new`."""
    if shown is None:
        return True
    left = max(0.0, (shown - now).total_seconds())
    return abs((new - shown).total_seconds()) > max(MIN_MOVE_SECONDS, left / 5)


class Estimates:
    """The model fed with the provider's recent generation times, and what each status message shows."""

    def __init__(self, *, store: JobRepository, provider_name: str, expected_seconds: Callable[[VideoRequest], float],
                 clock: Clock, slots: int, history: int = HISTORY, max_age: float = TYPICAL_MAX_AGE) -> None:
        self.store = store
        self.provider_name = provider_name
        self.expected_seconds = expected_seconds
        self.clock = clock
        self.slots = slots
        self.history = history
        self.max_age = max_age
        self._typical: Typical | None = None
        self._read_at = 0.0
        self._shown: dict[tuple[str, str], datetime] = {}

    async def typical(self) -> Typical:
        """The median of the provider's last `history` generation times, read again once `max_age` old or
        after a job finished."""
        if self._typical is None or self.clock.monotonic() - self._read_at >= self.max_age:
            seconds = await self.store.generation_seconds(self.provider_name, self.history)
            self._typical = Typical(statistics.median(seconds) if seconds else None, len(seconds))
            self._read_at = self.clock.monotonic()
        return self._typical

    def seconds_for(self, typical: Typical, request: VideoRequest) -> float:
        return typical.seconds if typical.seconds is not None else self.expected_seconds(request)

    async def snapshot(self, running: Sequence[Job], waiting: Sequence[Job]) -> QueueSnapshot:
        """`running`: the jobs holding provider slots; `waiting`: the queue in dispatch order."""
        typical = await self.typical()
        now = self.clock.now()
        estimates = self.plan_with(typical, running, waiting)
        return QueueSnapshot(
            taken_at=now, slots=self.slots, typical=typical,
            running=tuple(QueueEntry(job.id, job.guild_id, job.user_id, job.submitted_at or now, estimates[job.id])
                          for job in running),
            waiting=tuple(QueueEntry(job.id, job.guild_id, job.user_id, job.created_at, estimates[job.id], position)
                          for position, job in enumerate(waiting, start=1)),
        )

    def plan_with(self, typical: Typical, running: Sequence[Job], waiting: Sequence[Job]) -> dict[str, Estimate]:
        """`plan` for these jobs now, given the typical time (`typical()`, read beforehand)."""
        return plan(self.clock.now(), self.slots,
                    [(job.id, job.submitted_at, self.seconds_for(typical, job.request)) for job in running],
                    [(job.id, self.seconds_for(typical, job.request)) for job in waiting])

    # -- what the status messages show ----------------------------------------------------------------
    def to_show(self, job_id: str, kind: str, new: datetime) -> tuple[datetime, bool]:
        """The time a job's status message should show for `kind` (START or FINISH): the one it shows already
        unless `new` moved enough to be worth an edit. The bool: whether it changed."""
        shown = self._shown.get((job_id, kind))
        if shown is not None and not worth_showing(new, shown, self.clock.now()):
            return shown, False
        self._shown[(job_id, kind)] = new
        return new, True

    def shown(self, job_id: str, kind: str) -> datetime | None:
        """The time a job's status message shows for `kind`, as far as this run knows."""
        return self._shown.get((job_id, kind))

    async def finish_to_show(self, job: Job) -> datetime | None:
        """For a status message shown as the job moves: the estimated finish of a job at the provider (None
        for any other status, whose message shows no estimate). Never raises: an estimate is a nicety."""
        if job.status not in AT_PROVIDER:
            if job.status is not JobStatus.QUEUED:
                self.forget(job.id)
                self._typical = None  # a video finished (or failed): the typical time is read afresh next time
            return None
        try:
            typical = await self.typical()
        except Exception:
            log.warning("could not read the recent generation times; showing no estimate", exc_info=True)
            return None
        now = self.clock.now()
        sent = job.submitted_at or now
        finish = max(sent + timedelta(seconds=self.seconds_for(typical, job.request)), now)
        return self.to_show(job.id, FINISH, finish)[0]

    def forget(self, job_id: str) -> None:
        for kind in (START, FINISH):
            self._shown.pop((job_id, kind), None)
