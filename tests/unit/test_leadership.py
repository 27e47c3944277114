"""The Leadership loop (bot/core/leadership.py) with a lease held in memory and a stand-in engine: following,
taking over, renewing, and stepping down (the process then stops) when a renewal fails or stays unanswered."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.background import BackgroundTasks
from bot.core.leadership import Leadership, LeadershipLost, SoleLease
from bot.core.metrics import Metrics

LEASE = 0.6  # seconds: the loop asks every 0.2 s


class MemoryLease:
    """One lease in memory, with switches for a database that refuses, fails or does not answer."""

    def __init__(self) -> None:
        self.owner: str | None = None
        self.renewals = 0
        self.failing = 0  # the next renewals that raise
        self.hanging = False
        self.released: list[str] = []

    async def acquire(self, owner: str, seconds: float) -> bool:
        if self.owner in (None, owner):
            self.owner = owner
            return True
        return False

    async def renew(self, owner: str, seconds: float) -> bool:
        self.renewals += 1
        if self.hanging:
            await asyncio.Event().wait()
        if self.failing:
            self.failing -= 1
            raise ConnectionError("database restarting")
        return self.owner == owner

    async def release(self, owner: str) -> None:
        self.released.append(owner)
        if self.owner == owner:
            self.owner = None


class StandInEngine:
    def __init__(self, taking_over: float = 0.0) -> None:
        self.leads = 0
        self.led = asyncio.Event()
        self.stopped_leading = False
        self.taking_over = taking_over  # seconds `lead` takes (recovering a long backlog)

    async def lead(self, background: BackgroundTasks) -> None:
        await asyncio.sleep(self.taking_over)
        self.leads += 1
        self.led.set()

    def stop_leading(self) -> None:
        self.stopped_leading = True


class RecordingMetrics(Metrics):
    def __init__(self) -> None:
        self.leader_values: list[bool] = []

    def leader(self, leading: bool) -> None:
        self.leader_values.append(leading)


def leadership(lease: object, engine: StandInEngine, background: BackgroundTasks,
               metrics: Metrics | None = None, owner: str = "me") -> Leadership:
    return Leadership(lease=lease, owner=owner, lease_seconds=LEASE, engine=engine,  # type: ignore[arg-type]
                      background=background, metrics=metrics)


async def wait_for_death(background: BackgroundTasks) -> str:
    return await asyncio.wait_for(background.wait_for_death(), timeout=10)


async def test_a_lone_process_leads_at_once_and_keeps_leading() -> None:
    engine, background, metrics = StandInEngine(), BackgroundTasks(), RecordingMetrics()
    sole = leadership(SoleLease(), engine, background, metrics)
    try:
        await sole.start()
        assert (sole.role, engine.leads, metrics.leader_values) == ("leader", 1, [False, True])
        await asyncio.sleep(LEASE)  # a few renewals
        assert background.dead == {} and engine.leads == 1
    finally:
        await background.stop()


async def test_a_follower_leads_once_the_lease_is_free_and_releases_it_at_a_graceful_stop() -> None:
    lease = MemoryLease()
    lease.owner = "the-other-process"
    engine, background = StandInEngine(), BackgroundTasks()
    follower = leadership(lease, engine, background, owner="me")
    try:
        await follower.start()
        assert follower.role == "follower" and engine.leads == 0
        lease.owner = None  # the other process released it
        await asyncio.wait_for(engine.led.wait(), timeout=10)
        assert (follower.role, lease.owner, engine.leads) == ("leader", "me", 1)
    finally:
        await background.stop()
    await follower.release()
    assert (lease.released, lease.owner, follower.role) == (["me"], None, "follower")
    await follower.release()  # not leading any more: nothing to give up
    assert lease.released == ["me"]


async def test_a_leader_whose_lease_was_taken_steps_down_and_the_process_stops() -> None:
    lease, engine, background, metrics = MemoryLease(), StandInEngine(), BackgroundTasks(), RecordingMetrics()
    leader = leadership(lease, engine, background, metrics)
    try:
        await leader.start()
        assert leader.role == "leader"
        lease.owner = "a-process-that-took-over"
        why = await wait_for_death(background)
        assert "leadership" in why and "another process holds the lease now" in why
        assert leader.role == "follower" and engine.stopped_leading and metrics.leader_values[-1] is False
    finally:
        await background.stop()


async def test_a_renewal_that_stays_unanswered_ends_the_leadership_before_the_lease_runs_out() -> None:
    lease, engine, background = MemoryLease(), StandInEngine(), BackgroundTasks()
    leader = leadership(lease, engine, background)
    try:
        await leader.start()
        lease.hanging = True
        why = await wait_for_death(background)
        assert "did not confirm the renewal" in why
        assert engine.stopped_leading
    finally:
        await background.stop()


async def test_a_database_failing_for_a_moment_does_not_end_the_leadership() -> None:
    lease, engine, background = MemoryLease(), StandInEngine(), BackgroundTasks()
    leader = leadership(lease, engine, background)
    try:
        await leader.start()
        lease.failing = 1
        deadline = asyncio.get_running_loop().time() + 10
        while lease.renewals < 4 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert lease.renewals >= 4 and lease.failing == 0
        assert background.dead == {} and leader.role == "leader" and not engine.stopped_leading
    finally:
        await background.stop()


async def test_a_database_failing_for_longer_than_the_lease_ends_the_leadership() -> None:
    lease, engine, background = MemoryLease(), StandInEngine(), BackgroundTasks()
    leader = leadership(lease, engine, background)
    try:
        await leader.start()
        lease.failing = 10_000
        why = await wait_for_death(background)
        assert "could not be renewed before it would run out" in why
    finally:
        await background.stop()


async def test_leadership_lost_is_what_the_loop_dies_of() -> None:
    lease, engine, background = MemoryLease(), StandInEngine(), BackgroundTasks()
    leader = leadership(lease, engine, background)
    await leader.start()
    lease.owner = "someone-else"
    with pytest.raises(LeadershipLost):
        await leader._renew()
    await background.stop()


async def test_the_lease_is_renewed_while_a_long_backlog_is_taken_over() -> None:
    lease, engine, background = MemoryLease(), StandInEngine(taking_over=LEASE * 3), BackgroundTasks()
    leader = leadership(lease, engine, background)
    try:
        await leader.start()  # returns once the backlog is picked up, three leases later
        assert engine.leads == 1 and lease.renewals >= 3
        assert background.dead == {} and leader.role == "leader" and not engine.stopped_leading
    finally:
        await background.stop()
