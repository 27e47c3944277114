"""The dispatcher's fair order and its queue-position edits, with a stand-in provider and real SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.dispatcher import Dispatcher, worth_showing
from bot.core.lifecycle import JobLifecycle
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.slots import ProviderSlots
from storage.database import Database
from storage.jobs import JobStore
from tests.clock import FakeClock
from tests.standin_provider import StandInProvider

ALICE, BOB = 10, 11


class RecordingTracker:
    def __init__(self) -> None:
        self.tracked: list[Job] = []
        self.changed = asyncio.Event()

    def track(self, job: Job, *, callback_expected: bool, resumed: bool = False) -> None:
        self.tracked.append(job)
        self.changed.set()


class RecordingPublisher:
    def __init__(self) -> None:
        self.positions: list[tuple[str, int | None]] = []

    async def show_status(self, job: Job, *, queue_position: int | None = None) -> None:
        self.positions.append((job.request.prompt, queue_position))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "bot.sqlite3")
    yield db
    await db.close()


async def queued_job(store: JobStore, clock: FakeClock, user_id: int, name: str, index: int) -> Job:
    job = Job(id=f"{index:016x}", guild_id=1, channel_id=2, user_id=user_id,
              request=VideoRequest(name, 5, "16:9", "std"), provider="standin", status=JobStatus.QUEUED,
              created_at=clock.now(), updated_at=clock.now(), status_message_id=1000 + index)
    await store.insert(job)
    return job


async def wait_tracked(tracker: RecordingTracker, count: int) -> None:
    async with asyncio.timeout(5):
        while len(tracker.tracked) < count:
            tracker.changed.clear()
            await tracker.changed.wait()


async def test_one_members_burst_does_not_starve_another(database: Database) -> None:
    clock = FakeClock()
    store = JobStore(database)
    provider, tracker, publisher = StandInProvider(), RecordingTracker(), RecordingPublisher()
    slots = ProviderSlots(1)  # MAX_CONCURRENT_JOBS=1
    dispatcher = Dispatcher(
        provider=provider, lifecycle=JobLifecycle(store, publisher, clock), tracker=tracker,  # type: ignore[arg-type]
        slots=slots, clock=clock, metrics=Metrics(), callback_url=lambda job: None, give_up_after=900,
        position_refresh=0.01,
    )
    runner = asyncio.create_task(dispatcher.run())
    try:
        for i in range(10):
            dispatcher.enqueue(await queued_job(store, clock, ALICE, f"A{i + 1}", i))
        await wait_tracked(tracker, 1)  # A1 holds the only slot
        b_job = await queued_job(store, clock, BOB, "B1", 99)
        dispatcher.enqueue(b_job)
        assert dispatcher.position(b_job.id) == 1  # next, ahead of A's nine others
        for done in range(1, 4):
            slots.release(tracker.tracked[done - 1].id)  # the job at the provider finishes
            await wait_tracked(tracker, done + 1)
        assert provider.submitted[:4] == ["A1", "B1", "A2", "A3"]
        await asyncio.sleep(0.1)
        # Waiting jobs' status messages end at their current place in the queue.
        shown = {name: position for name, position in publisher.positions if position is not None}
        assert shown["A10"] == dispatcher.position(f"{9:016x}") == 7
        assert shown["A4"] == 1
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_position_edits_are_coalesced(database: Database) -> None:
    clock = FakeClock()
    store = JobStore(database)
    provider, tracker, publisher = StandInProvider(), RecordingTracker(), RecordingPublisher()
    slots = ProviderSlots(1)
    slots.take("elsewhere")  # the provider is busy: everything waits
    dispatcher = Dispatcher(
        provider=provider, lifecycle=JobLifecycle(store, publisher, clock), tracker=tracker,  # type: ignore[arg-type]
        slots=slots, clock=clock, metrics=Metrics(), callback_url=lambda job: None, give_up_after=900,
        position_refresh=0.2,
    )
    runner = asyncio.create_task(dispatcher.run())
    try:
        shown = [dispatcher.enqueue(await queued_job(store, clock, 100 + i, f"J{i + 1}", i)) for i in range(30)]
        await asyncio.sleep(0.3)
        # Each job's first status message carries its position, so queueing thirty needs no edit at all.
        assert shown == list(range(1, 31))
        first_round = list(publisher.positions)
        assert first_round == []
        for _ in range(5):  # five dispatches in quick succession
            slots.release(slots._held.copy().pop())
            await wait_tracked(tracker, len(tracker.tracked) + 1)
        await asyncio.sleep(0.5)
        later = [(name, p) for name, p in publisher.positions[len(first_round):] if p is not None]
        # Five dispatches moved 25 jobs five places each: one edit per job per dispatch would be 125. Edits
        # are batched per refresh interval, and far-back jobs are edited only when they moved a lot.
        assert len(later) <= 45
        assert dict(later)["J6"] == 1 and dict(later)["J11"] == 6
        assert "J30" not in dict(later)  # 30 -> 25 is not worth an edit yet
    finally:
        runner.cancel()
        await dispatcher.close()
        await asyncio.gather(runner, return_exceptions=True)


def test_worth_showing() -> None:
    assert worth_showing(5, None)
    assert not worth_showing(5, 5)
    assert worth_showing(9, 10)  # near the front: every change
    assert not worth_showing(45, 50)  # far back: small moves wait
    assert worth_showing(40, 50)


def test_fair_queue_order_matches_what_pop_does() -> None:
    import random

    from bot.core.fair_queue import FairQueue

    rng = random.Random(7)
    queue = FairQueue()
    popped: list[str] = []
    for step in range(400):
        if rng.random() < 0.6:
            queue.push(rng.randrange(6), f"j{step}")
        else:
            predicted = queue.order()
            job = queue.pop()
            assert job == (predicted[0] if predicted else None)
            if job:
                popped.append(job)
    rest = queue.order()
    assert [queue.pop() for _ in rest] == rest


def test_a_member_joining_mid_burst_goes_next() -> None:
    from bot.core.fair_queue import FairQueue

    queue = FairQueue()
    for index in range(10):
        queue.push(ALICE, f"a{index}")
    assert queue.pop() == "a0"  # A's burst has begun
    queue.push(BOB, "b0")
    assert queue.position("b0") == 1
    assert [queue.pop() for _ in range(3)] == ["b0", "a1", "a2"]


def test_a_job_at_the_provider_after_a_restart_counts_as_a_turn() -> None:
    from bot.core.fair_queue import FairQueue

    queue = FairQueue()  # rebuilt at start-up: Alice has a job at the provider, both have one queued
    queue.push(ALICE, "a2")
    queue.had_turn(ALICE)
    queue.push(BOB, "b1")
    assert queue.order() == ["b1", "a2"]
    other = FairQueue()  # the same, noticed in the other order
    other.had_turn(ALICE)
    other.push(ALICE, "a2")
    other.push(BOB, "b1")
    assert other.order() == ["b1", "a2"]
