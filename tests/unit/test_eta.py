"""The ETA model (bot/core/eta.py) with known durations and a FakeClock, its typical time read from a real
SQLite file, and the dispatcher showing estimated starts without an edit for every small move."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.dispatcher import Dispatcher
from bot.core.eta import Estimate, Estimates, plan, worth_showing
from bot.core.lifecycle import JobLifecycle
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.slots import ProviderSlots
from storage.database import Database
from storage.jobs import JobStore
from tests.clock import FakeClock
from tests.unit.test_dispatcher import RecordingTracker, StandInProvider, queued_job, wait_tracked

NOW = datetime.fromisoformat("2026-11-20T12:00:00+00:00")


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "bot.sqlite3")
    yield db
    await db.close()


# -- the model ------------------------------------------------------------------------------------------
def test_waiting_jobs_take_the_slot_that_frees_first() -> None:
    # Two slots: one job sent a minute ago, one ten seconds ago; each video takes 100 s.
    running = [("a", at(-60), 100.0), ("b", at(-10), 100.0)]
    waiting = [("c", 100.0), ("d", 100.0), ("e", 100.0)]
    estimates = plan(NOW, 2, running, waiting)
    assert estimates["a"] == Estimate(at(-60), at(40))
    assert estimates["b"] == Estimate(at(-10), at(90))
    assert estimates["c"] == Estimate(at(40), at(140))  # into a's slot
    assert estimates["d"] == Estimate(at(90), at(190))  # into b's
    assert estimates["e"] == Estimate(at(140), at(240))  # into the slot c frees


def test_free_slots_start_at_once_and_an_overdue_job_is_expected_now() -> None:
    estimates = plan(NOW, 3, [("late", at(-500), 100.0), ("sending", None, 50.0)], [("x", 30.0), ("y", 30.0)])
    assert estimates["late"].finish == NOW  # overdue: any moment now, never in the past
    assert estimates["sending"] == Estimate(NOW, at(50))  # its submit is on its way
    assert estimates["x"] == Estimate(NOW, at(30))  # the third slot is free
    assert estimates["y"] == Estimate(NOW, at(30))  # the overdue job's slot is expected free now


def test_more_jobs_at_the_provider_than_slots_hold_the_queue_back() -> None:
    # After a restart three jobs are at the provider but only two slots exist: the first waiting job starts
    # once two of them have finished (the second finish), not at the first.
    running = [("a", at(-90), 100.0), ("b", at(-50), 100.0), ("c", at(0), 100.0)]
    estimates = plan(NOW, 2, running, [("w", 100.0)])
    assert estimates["w"] == Estimate(at(50), at(150))


def test_an_estimate_is_shown_again_only_when_it_moved_enough() -> None:
    assert worth_showing(at(100), None, NOW)
    assert not worth_showing(at(120), at(100), NOW)  # 20 s: under 30 s
    assert worth_showing(at(140), at(100), NOW)  # 40 s: over 30 s and over a fifth of 100 s
    assert not worth_showing(at(1100), at(1000), NOW)  # 100 s on 1,000 s left: under a fifth
    assert worth_showing(at(1250), at(1000), NOW)


# -- the typical time, from the store ---------------------------------------------------------------------
async def finished_job(store: JobStore, clock: FakeClock, index: int, seconds: float, provider: str = "standin",
                       duration: int = 5) -> None:
    """A job the provider took `seconds` to make, finished at the clock's time."""
    sent = clock.now() - timedelta(seconds=seconds)
    job = Job(id=f"f{index:015x}", guild_id=1, channel_id=2, user_id=10, request=VideoRequest("p", duration, "16:9",
              "std"), provider=provider, status=JobStatus.QUEUED, created_at=sent, updated_at=sent)
    await store.insert(job)
    await store.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, sent, provider_job_id=f"p{index}",
                           submitted_at=sent)
    await store.transition(job.id, JobStatus.SUBMITTED, JobStatus.COMPLETED, clock.now(), completed_at=clock.now(),
                           video_url="https://example.org/v.mp4")


def estimates_for(store: JobStore, clock: FakeClock, slots: int = 2, history: int = 20) -> Estimates:
    return Estimates(store=store, provider_name="standin", expected_seconds=lambda request: 10.0 * request.duration,
                     clock=clock, slots=slots, history=history)


async def test_the_typical_time_is_the_median_of_the_last_finished_jobs(database: Database) -> None:
    clock, store = FakeClock(), JobStore(database)
    for index, seconds in enumerate([900.0, 60.0, 90.0, 120.0, 300.0, 30.0]):  # the 900 s one is the oldest
        await finished_job(store, clock, index, seconds)
        clock.advance(10)
    await finished_job(store, clock, 99, 5.0, provider="elsewhere")  # another provider's: not counted
    estimates = estimates_for(store, clock, history=5)
    typical = await estimates.typical()
    assert (typical.seconds, typical.samples) == (90.0, 5)  # median of 60, 90, 120, 300, 30

    await finished_job(store, clock, 50, 1000.0)
    assert (await estimates.typical()).seconds == 90.0  # kept for a minute, not read on every use
    clock.advance(61)
    assert (await estimates.typical()).seconds == 120.0  # 90, 120, 300, 30, 1000


async def test_without_history_each_request_uses_the_providers_own_estimate(database: Database) -> None:
    clock, store = FakeClock(), JobStore(database)
    estimates = estimates_for(store, clock, slots=1)
    queued = [Job(id=f"q{i}", guild_id=1, channel_id=2, user_id=10, request=VideoRequest("p", d, "16:9", "std"),
                  provider="standin", status=JobStatus.QUEUED, created_at=clock.now(), updated_at=clock.now())
              for i, d in enumerate((5, 10))]
    snapshot = await estimates.snapshot([], queued)
    assert snapshot.typical.seconds is None
    first, second = snapshot.waiting
    assert (first.position, first.estimate.finish) == (1, clock.now() + timedelta(seconds=50))
    assert (second.position, second.estimate.start) == (2, clock.now() + timedelta(seconds=50))
    assert second.estimate.finish == clock.now() + timedelta(seconds=150)


# -- the dispatcher's status edits ----------------------------------------------------------------------
class EtaRecordingPublisher:
    def __init__(self) -> None:
        self.shown: list[tuple[str, int | None, datetime | None]] = []

    async def show_status(self, job: Job, *, queue_position: int | None = None, eta: datetime | None = None) -> None:
        self.shown.append((job.request.prompt, queue_position, eta))

    def of(self, prompt: str) -> list[tuple[int | None, datetime | None]]:
        return [(position, eta) for name, position, eta in self.shown if name == prompt]


async def settle_refresh() -> None:
    await asyncio.sleep(0.1)  # the position refresher runs (position_refresh is 0.01 s here)


async def test_queued_jobs_show_their_start_and_are_not_edited_for_small_moves(database: Database) -> None:
    clock, store = FakeClock(), JobStore(database)
    for index in range(3):
        await finished_job(store, clock, index, 300.0)  # a typical video takes five minutes
    provider, tracker, publisher = StandInProvider(), RecordingTracker(), EtaRecordingPublisher()
    slots = ProviderSlots(1)
    estimates = estimates_for(store, clock, slots=1)
    lifecycle = JobLifecycle(store, publisher, clock, eta_of=estimates.finish_to_show)
    dispatcher = Dispatcher(
        provider=provider, lifecycle=lifecycle, tracker=tracker,  # type: ignore[arg-type]
        slots=slots, clock=clock, metrics=Metrics(), callback_url=lambda job: None, give_up_after=900,
        position_refresh=0.01, estimates=estimates,
    )
    runner = asyncio.create_task(dispatcher.run())
    try:
        dispatcher.enqueue(await queued_job(store, clock, 10, "first", 1))
        await wait_tracked(tracker, 1)  # at the provider from now, expected back in 300 s
        sent = clock.now()
        assert publisher.of("first")[-1] == (None, sent + timedelta(seconds=300))  # the estimated finish
        for index, name in ((2, "second"), (3, "third")):
            dispatcher.enqueue(await queued_job(store, clock, 10 + index, name, index))
        await settle_refresh()
        assert publisher.of("second")[-1] == (1, sent + timedelta(seconds=300))
        assert publisher.of("third")[-1] == (2, sent + timedelta(seconds=600))
        edits = len(publisher.shown)

        clock.advance(310)  # "first" is 10 s overdue: the queue's estimates move by 10 s
        dispatcher.enqueue(await queued_job(store, clock, 14, "fourth", 4))
        await settle_refresh()
        assert [name for name, _, _ in publisher.shown[edits:]] == ["fourth"]  # nobody else was edited

        clock.advance(60)  # 70 s overdue now: a move worth showing, near and far
        dispatcher.enqueue(await queued_job(store, clock, 15, "fifth", 5))
        await settle_refresh()
        assert publisher.of("second")[-1] == (1, clock.now())
        assert publisher.of("third")[-1] == (2, clock.now() + timedelta(seconds=300))
    finally:
        runner.cancel()
        await dispatcher.close()
        await asyncio.gather(runner, return_exceptions=True)
