"""The dispatcher: takes queued jobs in fair order and submits them while provider slots are free.

A submit is retried only when the provider surely started nothing (connection refused, 429, a 5xx
answer). When the request went out and no clear answer came back, the job is failed for
reconciliation and refunded: sending it again could bill the account twice.

Queued jobs show their position in their status message. Positions are refreshed at most once every
`position_refresh` seconds, only for jobs whose position changed, and beyond the first
`EXACT_POSITIONS` only when a job has moved up by a fifth or more: a long queue costs each job a
handful of edits, not one per dispatch. With `estimates` (bot/core/eta.py) the same refresh shows each
queued job's estimated start, edited only when it moved enough to matter (`eta.worth_showing`). Each refresh
first waits for `before_edits` (the engine's: until no `/video` answer is being prepared, bot/core/answers_first.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.clock import Clock
from bot.core.errors import explain
from bot.core.eta import START, Estimates
from bot.core.fair_queue import FairQueue
from bot.core.incidents import Incidents
from bot.core.lifecycle import JobLifecycle
from bot.core.log_context import JobFields, bind_job, unbound_context
from bot.core.messages import Message, english_names
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus
from bot.core.ports.provider import ErrorKind, Provider, ProviderError
from bot.core.ratelimit import SlidingWindowLimiter
from bot.core.slots import ProviderSlots
from bot.core.tracker import JobTracker

log = logging.getLogger(__name__)

UNCERTAIN_SUBMIT_MESSAGE = Message("failure.uncertain_submit")
__getattr__ = english_names(__name__, {"UNCERTAIN_SUBMIT": UNCERTAIN_SUBMIT_MESSAGE})
RETRY_DELAYS = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
EXACT_POSITIONS = 10
POSITION_REFRESH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RetryAfter:
    seconds: float


def worth_showing(position: int, shown: int | None) -> bool:
    """Whether a queued job's status message should be edited to show its new position."""
    if shown is None:
        return True
    if position == shown:
        return False
    return position <= EXACT_POSITIONS or abs(shown - position) * 5 >= shown


class Dispatcher:
    def __init__(
        self, *, provider: Provider, lifecycle: JobLifecycle, tracker: JobTracker, slots: ProviderSlots,
        clock: Clock, metrics: Metrics, callback_url: Callable[[Job], str | None], give_up_after: float,
        submit_limiter: SlidingWindowLimiter | None = None, retry_delays: tuple[float, ...] = RETRY_DELAYS,
        position_refresh: float = POSITION_REFRESH_SECONDS, incidents: Incidents | None = None,
        estimates: Estimates | None = None, before_edits: Callable[[], Awaitable[None]] | None = None,
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
        self.position_refresh = position_refresh
        self.incidents = incidents or Incidents.logged_only(provider.name, clock)
        self.estimates = estimates
        # Awaited before each round of position edits: the answers being prepared go first (answers_first.py).
        self.before_edits = before_edits
        self.queue = FairQueue()
        self._work = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued: dict[str, Job] = {}  # what the status messages of queued jobs need
        self._shown: dict[str, int] = {}  # the position each queued job's status message shows
        self._at_provider: dict[str, Job] = {}  # jobs holding a slot (as last seen here), for the estimates
        self._refresher: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._draining = False
        self._on_wire: set[str] = set()  # jobs whose submit request is out and not yet answered and recorded
        self._wire_changed = asyncio.Event()

    def enqueue(self, job: Job) -> int | None:
        """Queue a job for submission. Returns the position its status message should show, or None when
        it goes out at once; later the message is edited only when its place changes enough to matter.
        A job already here (queued, or holding a slot) is left as it is, with None: with several processes
        the leader may hear of a job twice (its signal and its sweep, bot/core/leadership.py)."""
        if self.knows(job.id):
            return None
        self.queue.push(job.user_id, job.id)
        self._queued[job.id] = job
        position = self.queue.position(job.id) or 1
        shown = position if position > self.slots.limit - self.slots.in_use else None
        if shown is not None:
            self._shown[job.id] = shown
        self._work.set()
        self._positions_changed()
        return shown

    def withdraw(self, job_id: str) -> bool:
        """Take a job out of the queue before it is sent; False when it is not waiting there (already taken
        for submission, or never queued)."""
        if not self.queue.remove(job_id):
            return False
        self._queued.pop(job_id, None)
        self._shown.pop(job_id, None)
        if self.estimates is not None:
            self.estimates.forget(job_id)
        self._positions_changed()
        return True

    def knows(self, job_id: str) -> bool:
        """Whether the job is queued here or holds a slot (being sent, or at the provider)."""
        return job_id in self._queued or self.slots.holds(job_id)

    def resumed_at_provider(self, job: Job) -> None:
        """A job found at the provider at start-up: it holds a slot and counts as its member's turn."""
        self.slots.take(job.id)
        self.queue.had_turn(job.user_id)
        self._at_provider[job.id] = job

    def position(self, job_id: str) -> int | None:
        return self.queue.position(job_id)

    def at_provider(self) -> list[Job]:
        """The jobs holding a provider slot, oldest first (a job being sent counts, not yet submitted)."""
        for job_id in [job_id for job_id in self._at_provider if not self.slots.holds(job_id)]:
            del self._at_provider[job_id]
        return list(self._at_provider.values())

    def waiting(self) -> list[Job]:
        """The queued jobs in the order they will be sent."""
        return [self._queued[job_id] for job_id in self.queue.order() if job_id in self._queued]

    async def run(self) -> None:
        while not self._draining:
            await self.slots.wait_for_free()
            if self._draining:
                return
            job_id = self.queue.pop()
            if job_id is None:
                self._work.clear()
                await self._work.wait()
                continue
            self.slots.take(job_id)
            queued = self._queued.pop(job_id, None)
            self._shown.pop(job_id, None)
            if queued is not None:
                self.at_provider()  # forgets the jobs that have left their slots since
                self._at_provider[job_id] = queued
            self._positions_changed()
            task = asyncio.create_task(self._submit(job_id, queued))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- queue positions --------------------------------------------------------------------------
    def _positions_changed(self) -> None:
        if self._refresher is not None and not self._refresher.done():
            self._refresh_again = True  # the running refresher goes round once more
            return
        try:
            # It edits every queued job's message, and is often started while one job is bound (its submit):
            # it runs unbound, binding each job in turn.
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_positions(),
                                                                     context=unbound_context())
        except RuntimeError:  # no event loop (a synchronous caller): nothing to show anyway
            self._refresher = None

    def correct_position(self, job_id: str, shown: int | None) -> None:
        """A queued job's status message went out showing `shown` (None: no position): the next refresh of the
        positions edits it when its place in the queue differs enough (`worth_showing`)."""
        if job_id not in self._queued:
            return
        if shown is None:
            self._shown.pop(job_id, None)
        else:
            self._shown[job_id] = shown
        self._positions_changed()

    async def _refresh_positions(self) -> None:
        try:
            while True:
                if self.before_edits is not None:
                    await self.before_edits()
                self._refresh_again = False
                await self._show_positions()
                await asyncio.sleep(self.position_refresh)  # real time: this paces Discord edits
                if not self._refresh_again:
                    return
        except Exception:
            log.exception("could not refresh queue positions")

    async def _show_positions(self) -> None:
        starts = await self._estimated_starts()
        free = max(0, self.slots.limit - self.slots.in_use)
        for position, job_id in enumerate(self.queue.order(), start=1):
            job = self._queued.get(job_id)
            if job is None or position <= free:  # about to be submitted: no point in an edit
                continue
            eta, eta_moved = None, False
            if self.estimates is not None and job_id in starts:
                eta, eta_moved = self.estimates.to_show(job_id, START, starts[job_id])
            if worth_showing(position, self._shown.get(job_id)) or eta_moved:
                self._shown[job_id] = position
                with bind_job(job):
                    await self.show_queued(job, position, eta)

    async def _estimated_starts(self) -> dict[str, datetime]:
        """Each queued job's estimated start (empty without estimates, or when they cannot be made now)."""
        if self.estimates is None:
            return {}
        try:
            typical = await self.estimates.typical()
        except Exception:
            log.warning("could not read the recent generation times; positions shown without estimates",
                        exc_info=True)
            return {}
        waiting = self.waiting()  # read after the await above: the queue as it is now
        planned = self.estimates.plan_with(typical, self.at_provider(), waiting)
        return {job.id: planned[job.id].start for job in waiting}

    async def show_queued(self, job: Job, position: int, eta: datetime | None) -> None:
        """Show a queued job's position, and its estimated start when there is one."""
        publisher = self.lifecycle.publisher
        if eta is None:  # a publisher is only ever handed an estimate there is
            await publisher.show_status(job, queue_position=position)
        else:
            await publisher.show_status(job, queue_position=position, eta=eta)

    async def _submit(self, job_id: str, queued: Job | None = None) -> None:
        # Bound inside the job's own task, so the dispatcher loop that started it stays unbound.
        with bind_job(queued or JobFields(job_id, provider=self.provider.name)):
            try:
                submitted = await self._submit_with_retries(job_id)
            except Exception:
                log.exception("submit crashed")
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
            if self._draining:
                return False  # still queued, with no submit in the air: the next start sends it
            # Conditional: only a job still queued and claimed by nobody. It loses to a cancel from any
            # process (bot/core/engine.py), which claims the job the same way before failing it.
            if not await store.claim_submit(job_id, self.clock.now(), attempts=job.attempts + attempt):
                log.info("not sent: the job was cancelled or taken meanwhile")
                return False
            self._on_wire.add(job_id)
            try:
                outcome = await self._send(job, attempt, callback_url)
            finally:
                self._on_wire.discard(job_id)
                self._wire_changed.set()
            if isinstance(outcome, RetryAfter):
                await self.clock.sleep(outcome.seconds)  # nothing is in the air while waiting
                continue
            return outcome

    async def _send(self, job: Job, attempt: int, callback_url: str | None) -> bool | RetryAfter:
        """One submit and the recording of its answer: True when the job is at the provider, False when it
        was given up (failed and refunded), RetryAfter when the refusal is worth another try."""
        store, job_id = self.lifecycle.store, job.id
        started = self.clock.monotonic()
        try:
            result = await self.provider.submit(job.request, callback_url=callback_url)
        except ProviderError as error:
            self.metrics.provider_call(self.provider.name, "submit", error.kind.value,
                                       self.clock.monotonic() - started)
            self.incidents.provider.submit_failed(error)
            delay = self._retry_delay(job, error, attempt)
            if delay is None:
                await self._give_up(job, error)
                return False
            log.info("submit refused (%s), retrying in %.1f s", error, delay)
            await store.update(job_id, self.clock.now(), submitting_since=None, last_error=str(error))
            return RetryAfter(delay)
        self.metrics.provider_call(self.provider.name, "submit", "ok", self.clock.monotonic() - started)
        self.incidents.provider.submit_ok()
        moved = await self.lifecycle.move(
            job_id, JobStatus.QUEUED, JobStatus.SUBMITTED, detail=f"provider job {result.provider_job_id}",
            provider_job_id=result.provider_job_id, submitted_at=self.clock.now(), submitting_since=None,
            reported_cost=result.reported_cost,
        )
        if moved is None:
            return False
        self._at_provider[job_id] = moved  # now with its submit time, for the estimates
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
            log.warning("submit outcome unknown (%s); reconcile with the provider's dashboard", error)
            if await self.lifecycle.fail(job.id, JobStatus.QUEUED, UNCERTAIN_SUBMIT_MESSAGE,
                                         detail=f"needs reconciliation: {error}", submitting_since=None):
                self.incidents.reconciliation.job_needs_reconciliation(job.id)
            return
        if error.kind is ErrorKind.MISCONFIGURED:
            log.error("the provider refused the bot's credentials: %s", error)
        await self.lifecycle.fail(job.id, JobStatus.QUEUED, explain(error.kind, error.detail),
                                  detail=str(error), submitting_since=None)

    async def drain(self, grace: float) -> int:
        """Stop sending jobs, then wait up to `grace` seconds for submits on the wire to be answered and
        recorded, so a deploy does not turn a paid job into a refund. Queued jobs stay queued for the next
        start. Returns how many submits were still unanswered when the time ran out."""
        self.stop_sending()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._on_wire and (left := deadline - loop.time()) > 0:
            self._wire_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._wire_changed.wait()
        if self._on_wire:
            log.warning("%d submit(s) still unanswered after %.0f s; they will be reconciled at the next start",
                        len(self._on_wire), grace)
        return len(self._on_wire)

    def stop_sending(self) -> None:
        """Send nothing more from now on (a drain, or a leader stepping down); queued jobs stay queued."""
        self._draining = True
        self._work.set()  # wakes the loop, which then stops

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._refresher] if self._refresher is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
