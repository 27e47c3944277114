"""JOB_RETENTION_DAYS against a real SQLite file: old finished jobs go with their events; jobs in flight,
recent jobs, every ledger row and every balance stay; refunds stay once per job."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.models import JobStatus
from bot.core.moderation import Actor
from bot.core.ports.repositories import Pruned
from bot.core.retention import JobRetention
from tests.unit.world import ALICE, BOB, GUILD, World, history_world

DAY = 86400


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await history_world(tmp_path)
    yield w
    await w.database.close()


async def test_old_finished_jobs_go_with_their_events_and_everything_else_stays(world: World) -> None:
    old_delivered = await world.video(ALICE)
    await world.deliver(old_delivered)
    old_failed = await world.video(BOB, duration=10)
    await world.fail(old_failed)
    old_queued = await world.video(ALICE)  # in flight for days (a stuck queue): never pruned
    old_processing = await world.video(BOB)
    await world.lifecycle.move(old_processing.id, JobStatus.QUEUED, JobStatus.SUBMITTED, provider_job_id="p")
    await world.lifecycle.move(old_processing.id, JobStatus.SUBMITTED, JobStatus.PROCESSING)
    world.clock.advance(3 * DAY)  # the same month: the pruned jobs' charges still count
    recent = await world.video(ALICE, mode="pro")
    await world.deliver(recent)

    ledger_before = await world.rows("SELECT * FROM quota_ledger ORDER BY id")
    balances_before = [await world.quotas.balance(GUILD, user) for user in (ALICE, BOB)]
    pool_before = await world.quotas.pool(GUILD)

    pruned = await JobRetention(world.store, world.clock, days=2).prune()

    assert pruned == Pruned(jobs=2, events=5 + 3)  # created + 4 moves; created, submitted, failed
    for gone in (old_delivered, old_failed):
        assert await world.store.get(gone.id) is None
        assert await world.store.events(gone.id) == []
    for kept in (old_queued, old_processing, recent):
        job = await world.store.get(kept.id)
        assert job is not None and await world.store.events(kept.id)
    assert await world.rows("SELECT * FROM quota_ledger ORDER BY id") == ledger_before
    assert [await world.quotas.balance(GUILD, user) for user in (ALICE, BOB)] == balances_before
    assert await world.quotas.pool(GUILD) == pool_before
    history = await world.quotas.history(Actor(GUILD, 99, permissions=1 << 5))  # a moderator
    assert {entry.job_id for entry in history.entries} >= {old_delivered.id, old_failed.id}


async def test_a_refund_after_a_prune_still_happens_once(world: World) -> None:
    job = await world.video(BOB, duration=10)
    await world.fail(job)  # refunded with the failure
    world.clock.advance(3 * DAY)
    assert (await JobRetention(world.store, world.clock, days=2).prune()).jobs == 1
    before = await world.quotas.balance(GUILD, BOB)

    await world.quotas.refund(job, "a late second failure report")
    assert await world.quotas.store.refund(job.id, world.clock.now(), "and another") is None
    assert await world.quotas.refund_missed() == 0

    refunds = await world.rows(f"SELECT amount FROM quota_ledger WHERE job_id = '{job.id}' AND kind = 'refund'")
    assert refunds == [(10,)]
    assert await world.quotas.balance(GUILD, BOB) == before


async def test_a_pruned_charge_that_was_never_refunded_can_still_be_refunded_once(world: World) -> None:
    # Failed without its refund written (an older version, a crash), then pruned: the ledger still knows the
    # charge, so a refund gives it back once, into the period it was charged in.
    job = await world.video(ALICE, duration=5)
    await world.store.transition(job.id, JobStatus.QUEUED, JobStatus.FAILED, world.clock.now())
    world.clock.advance(3 * DAY)
    await JobRetention(world.store, world.clock, days=2).prune()
    used_before = (await world.quotas.balance(GUILD, ALICE)).used

    await world.quotas.refund(job, "refunded by hand")
    await world.quotas.refund(job, "refunded by hand, twice")

    assert (await world.quotas.balance(GUILD, ALICE)).used == used_before - 5
    assert await world.rows(f"SELECT COUNT(*) FROM quota_ledger WHERE job_id = '{job.id}' AND kind = 'refund'") \
        == [(1,)]


async def test_pruning_goes_in_batches_until_nothing_old_is_left(world: World) -> None:
    for _ in range(25):
        await world.deliver(await world.video(ALICE))
    world.clock.advance(3 * DAY)
    fresh = await world.video(ALICE)
    await world.deliver(fresh)
    cutoff = world.clock.now() - timedelta(days=2)

    first = await world.store.prune_finished(cutoff, 10)
    assert first == Pruned(jobs=10, events=50)  # created + 4 transitions each

    rest = await JobRetention(world.store, world.clock, days=2, batch=10, pause=0).prune()
    assert rest == Pruned(jobs=15, events=75)
    assert await world.rows("SELECT id FROM jobs") == [(fresh.id,)]
    assert await world.rows("SELECT COUNT(*) FROM quota_ledger WHERE kind = 'reserve'") == [(26,)]


async def test_counts_by_status_follow_every_change_and_are_not_lowered_by_a_prune(world: World) -> None:
    delivered = await world.video(ALICE)
    await world.deliver(delivered)
    await world.fail(await world.video(BOB))
    await world.video(ALICE)
    counted = await world.store.count_by_status()
    actual = dict(await world.rows("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
    assert {status.value: n for status, n in counted.items() if n} == actual == {
        "delivered": 1, "failed": 1, "queued": 1}

    world.clock.advance(3 * DAY)
    await JobRetention(world.store, world.clock, days=2).prune()
    assert await world.store.count_by_status() == counted


async def test_the_periodic_loop_logs_a_failed_round_and_carries_on(
        world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    job = await world.video(ALICE)
    await world.deliver(job)
    world.clock.advance(3 * DAY)
    # A real failure from SQLite itself: another connection makes every delete of a job fail for now.
    other = sqlite3.connect(tmp_path / "bot.sqlite3")
    other.execute("CREATE TRIGGER refuse_deletes BEFORE DELETE ON jobs BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    other.commit()
    caplog.set_level(logging.INFO, logger="bot.core.retention")
    loop = asyncio.create_task(JobRetention(world.store, world.clock, days=2, every=0.05).run())
    try:
        await wait_for(lambda: "pruning failed" in caplog.text, "the failed round to be logged")
        assert await world.store.get(job.id) is not None
        other.execute("DROP TRIGGER refuse_deletes")
        other.commit()
        await wait_for(lambda: "pruned 1 finished job(s)" in caplog.text, "a later round to prune")
        assert await world.store.get(job.id) is None
        assert not loop.done()
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        other.close()


async def test_retention_of_zero_days_is_not_a_pruning_schedule(world: World) -> None:
    # 0 means "keep everything": the application does not start the loop at all.
    with pytest.raises(ValueError):
        JobRetention(world.store, world.clock, days=0)


async def wait_for(condition: object, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
