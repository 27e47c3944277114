"""Several processes on one database: the conditional submit claim (both backends), and what only PostgreSQL has
(one leader lease judged by the database's clock, job signals by LISTEN/NOTIFY, and the Leadership loop on two
connections taking over from a leader that died or stepped aside)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.background import BackgroundTasks
from bot.core.leadership import Leadership
from bot.core.models import JobStatus
from bot.core.ports.leadership import JobSignal
from storage.backends import Coordination, Stores, coordination_for
from storage.postgres.leadership import APPLICATION_NAME, PostgresLeaderLease
from tests import postgres
from tests.contract.conftest import Backend
from tests.contract.parts import NOW, make_job

LATER = NOW + timedelta(seconds=3)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(every)


# -- the conditional submit claim: both backends ------------------------------------------------------------
async def test_a_submit_claim_takes_only_a_queued_job_nobody_has_claimed(stores: Stores) -> None:
    job = make_job()
    await stores.jobs.insert(job)
    assert await stores.jobs.claim_submit(job.id, LATER, attempts=1)
    claimed = await stores.jobs.get(job.id)
    assert claimed is not None and (claimed.submitting_since, claimed.attempts, claimed.status) == (
        LATER, 1, JobStatus.QUEUED)
    assert not await stores.jobs.claim_submit(job.id, LATER, attempts=2)  # claimed already
    await stores.jobs.update(job.id, LATER, submitting_since=None)  # a refused submit, to be retried
    assert await stores.jobs.claim_submit(job.id, LATER, attempts=2)
    await stores.jobs.fail(job.id, JobStatus.QUEUED, LATER, reason="cancelled", detail="cancelled",
                           submitting_since=None)
    assert not await stores.jobs.claim_submit(job.id, LATER, attempts=3)  # no longer queued
    assert not await stores.jobs.claim_submit("no-such-job", LATER, attempts=1)


async def test_racing_claims_from_several_processes_have_one_winner(backend: Backend) -> None:
    processes = await backend.processes(4)
    job = make_job()
    await processes[0].jobs.insert(job)
    won = await asyncio.gather(*[stores.jobs.claim_submit(job.id, LATER, attempts=1)
                                 for stores in processes for _ in range(3)])
    assert won.count(True) == 1


# -- PostgreSQL only ---------------------------------------------------------------------------------------
@pytest.fixture
async def postgres_processes(backend: Backend, tmp_path: Path) -> Callable[[int], Awaitable[list[Coordination]]]:
    """`count` processes' leases and signals on the test's PostgreSQL database (skipped on SQLite)."""
    if backend.name != "postgres":
        pytest.skip("one process on SQLite: it always leads and needs no signals")

    async def opened(count: int) -> list[Coordination]:
        found = []
        for stores in await backend.processes(count):
            coordination = coordination_for(stores, postgres.database_url(tmp_path))  # the backend's database
            assert coordination is not None
            found.append(coordination)
        return found

    return opened


def _lease(coordination: Coordination) -> PostgresLeaderLease:
    assert isinstance(coordination.lease, PostgresLeaderLease)
    return coordination.lease


async def test_of_owners_racing_for_the_lease_one_wins(
        postgres_processes: Callable[[int], Awaitable[list[Coordination]]]) -> None:
    processes = await postgres_processes(4)
    won = await asyncio.gather(*[process.lease.acquire(f"owner-{i}", 30) for i, process in enumerate(processes)])
    assert won.count(True) == 1
    winner = f"owner-{won.index(True)}"
    assert await _lease(processes[0]).holder() == winner
    assert await processes[1].lease.acquire(winner, 30)  # its own lease: acquiring again keeps it
    assert not await processes[1].lease.acquire("someone-else", 30)


async def test_renewal_by_the_owner_extends_and_by_another_fails(
        postgres_processes: Callable[[int], Awaitable[list[Coordination]]]) -> None:
    first, second = await postgres_processes(2)
    assert await first.lease.acquire("first", 5)
    database = _lease(first)._db
    before = await database.fetchrow("SELECT lease_until - now() AS left FROM leader")
    assert before is not None and before["left"] <= timedelta(seconds=5)
    assert await second.lease.renew("first", 600)  # from any connection: the owner's name decides
    after = await database.fetchrow("SELECT lease_until - now() AS left FROM leader")
    assert after is not None and after["left"] > timedelta(seconds=500)
    assert not await second.lease.renew("second", 600)
    assert await _lease(second).holder() == "first"


async def test_a_lease_that_ran_out_is_taken_over_and_a_released_one_at_once(
        postgres_processes: Callable[[int], Awaitable[list[Coordination]]]) -> None:
    first, second = await postgres_processes(2)
    assert await first.lease.acquire("first", 30)
    assert not await second.lease.acquire("second", 30)
    # The first process died long ago: its lease ran out by the database's clock.
    await _lease(first)._db.execute("UPDATE leader SET lease_until = now() - interval '1 second'")
    assert await _lease(second).holder() is None
    assert not await first.lease.renew("first", 30)  # ran out: no longer its lease, even before a takeover
    assert await second.lease.acquire("second", 30)
    assert not await first.lease.acquire("first", 30)
    await first.lease.release("first")  # not its lease: nothing happens
    assert await _lease(first).holder() == "second"
    await second.lease.release("second")
    assert await _lease(first).holder() is None
    assert await first.lease.acquire("first", 30)


async def test_signals_reach_a_listener_on_another_connection_in_order_and_after_it_reconnects(
        postgres_processes: Callable[[int], Awaitable[list[Coordination]]]) -> None:
    leader, follower = await postgres_processes(2)
    heard: list[tuple[JobSignal, str]] = []

    async def handler(signal: JobSignal, job_id: str) -> None:
        heard.append((signal, job_id))

    listening = asyncio.create_task(leader.signals.listen(handler))
    try:
        async def heard_a_probe() -> bool:  # LISTEN takes a moment: what is announced before it is missed
            await follower.signals.announce(JobSignal.QUEUED, "probe")
            return (JobSignal.QUEUED, "probe") in heard

        await eventually(heard_a_probe, every=0.2)
        heard.clear()
        for signal in (JobSignal.QUEUED, JobSignal.CANCELLED, JobSignal.COMPLETED, JobSignal.FAILED):
            await follower.signals.announce(signal, "job0000000001")
        await eventually(lambda: _at_least(heard, 4))
        assert [entry for entry in heard if entry[1] == "job0000000001"] == [
            (JobSignal.QUEUED, "job0000000001"), (JobSignal.CANCELLED, "job0000000001"),
            (JobSignal.COMPLETED, "job0000000001"), (JobSignal.FAILED, "job0000000001")]

        # The server drops the listening connection: the listener opens another and hears again.
        ended = await _lease(follower)._db.fetch(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME)
        assert [row["ended"] for row in ended] == [True]
        heard.clear()

        async def heard_again() -> bool:
            await follower.signals.announce(JobSignal.COMPLETED, "job0000000002")
            return (JobSignal.COMPLETED, "job0000000002") in heard

        await eventually(heard_again, every=0.2)
        assert not listening.done()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def _at_least(items: list[object], count: int) -> bool:
    return len(items) >= count


class StandInEngine:
    """What Leadership drives: records when it was made to lead, and to stop leading."""

    def __init__(self) -> None:
        self.led = asyncio.Event()
        self.stopped = False

    async def lead(self, background: BackgroundTasks) -> None:
        self.led.set()

    def stop_leading(self) -> None:
        self.stopped = True


async def test_a_follower_takes_over_from_a_leader_that_died_or_released_the_lease(
        postgres_processes: Callable[[int], Awaitable[list[Coordination]]]) -> None:
    first, second, third = await postgres_processes(3)
    engines = [StandInEngine() for _ in range(3)]
    backgrounds = [BackgroundTasks() for _ in range(3)]
    leaderships = [Leadership(lease=process.lease, owner=f"process-{i}", lease_seconds=3, engine=engine,
                              background=background)
                   for i, (process, engine, background) in enumerate(zip((first, second, third), engines,
                                                                           backgrounds, strict=True))]
    try:
        await leaderships[0].start()
        await leaderships[1].start()
        assert (leaderships[0].role, leaderships[1].role) == ("leader", "follower")
        assert engines[0].led.is_set() and not engines[1].led.is_set()

        # SIGKILL: the first process stops renewing, and its lease runs out by the database's clock.
        await backgrounds[0].stop()
        await asyncio.wait_for(engines[1].led.wait(), timeout=15)
        assert leaderships[1].role == "leader"
        assert await _lease(first).holder() == "process-1"

        # A graceful stop releases the lease: a follower takes over at its next try, not a lease later.
        await leaderships[2].start()
        assert leaderships[2].role == "follower"
        await backgrounds[1].stop()
        await leaderships[1].release()
        assert await _lease(first).holder() is None
        await asyncio.wait_for(engines[2].led.wait(), timeout=15)
        assert await _lease(first).holder() == "process-2"
        assert backgrounds[2].dead == {}
    finally:
        for background in backgrounds:
            await background.stop()
