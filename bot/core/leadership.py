"""Which process runs the job engine's background work when several bot processes share one database.

The design: ONE LEADER WITH A LEASE, not a lease per job. Every process answers commands (intake, the charge,
the status message: the charge is a PostgreSQL transaction with row locks, so quotas hold across processes)
and accepts provider callbacks (the tracker's conditional updates make that safe from anywhere). Exactly one
process at a time, the leader, holding a lease row in the database that it renews every LEASE_SECONDS / 3,
runs the engine's background work: the dispatcher (so the fair queue, the provider slots and the submit rate
are global by construction), the poll loop (so the poll rate per API key is global) and delivery (so one
process posts each video; the message nonce stays the backstop). When the leader dies its lease runs out after
LEASE_SECONDS, and another process takes over by running the engine's `recover()`, which already picks up
queued, in-flight and undelivered jobs.

Why not a lease on every job and the queue in the database: that multiplies writes (every job's lease renewed
by its owner) and re-implements the dispatcher's fair queue, its positions, its estimates and its drain in
SQL. A single scheduler with many front ends gives the same guarantees, because every state change is
conditional in the database, and dispatch is never the bottleneck (MAX_CONCURRENT_JOBS is a handful).

Stepping down: a leader that cannot confirm a renewal before its lease would run out (by its own monotonic
clock, counted from when it sent the last renewal that succeeded, less a margin) stops acting as the leader
at once, the simplest safe way: this loop ends with `LeadershipLost`, the background watcher
(bot/core/background.py) stops the process with exit status 1, and its supervisor starts it again as a
follower. A graceful stop (SIGTERM) releases the lease instead, so that a follower takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from bot.core.background import BackgroundTasks
from bot.core.metrics import Metrics
from bot.core.ports.leadership import JobSignal, JobSignals, LeaderLease

log = logging.getLogger(__name__)

LEADER, FOLLOWER = "leader", "follower"


class LeadershipLost(Exception):
    """This process led and can no longer be sure it still does."""


class LeadingEngine(Protocol):
    """What the leader runs: bot/core/engine.py's JobEngine."""

    async def lead(self, background: BackgroundTasks) -> None:
        """Pick up every unfinished job and start the background work, watched by `background`."""
        ...

    def stop_leading(self) -> None:
        """From now on act as a follower (the process is about to stop)."""
        ...


class Role:
    """Whether this process leads now, shared by the engine and the tracker, and how a follower tells the leader
    what it did to a job. Without signals (SQLite: one process) it always leads, as the bot always did."""

    def __init__(self, signals: JobSignals | None = None) -> None:
        self.signals = signals
        self.leading = signals is None

    @property
    def following(self) -> bool:
        return not self.leading

    async def tell_leader(self, signal: JobSignal, job_id: str) -> None:
        """Announce `signal` for the leader. A signal that cannot be sent is only late: the leader's sweep
        finds the job in the database within seconds."""
        if self.signals is None:
            return
        try:
            await self.signals.announce(signal, job_id)
        except Exception as error:
            log.warning("could not tell the leader the job is %s (%s); its sweep finds it", signal.value, error)


class SoleLease:
    """The only process on its database (SQLite): it leads for as long as it runs."""

    async def acquire(self, owner: str, seconds: float) -> bool:
        return True

    async def renew(self, owner: str, seconds: float) -> bool:
        return True

    async def release(self, owner: str) -> None:
        return None


class Leadership:
    """Follows until it acquires the lease, then leads until the process stops. `start` makes the first
    attempt at once (a lone process leads before it connects to Discord, as it always did), then watches the
    lease in the background: a follower tries to acquire it every LEASE_SECONDS / 3 (with a little jitter, so
    followers do not ask in step), the leader renews it as often."""

    def __init__(self, *, lease: LeaderLease, owner: str, lease_seconds: float, engine: LeadingEngine,
                 background: BackgroundTasks, metrics: Metrics | None = None) -> None:
        self.lease = lease
        self.owner = owner  # this process, as the lease row names it
        self.lease_seconds = lease_seconds
        self.every = lease_seconds / 3
        # A renewal unconfirmed this long before the lease would run out ends the leadership: the time it takes
        # the process to stop acting (its loops are cancelled at once) comes out of this margin.
        self.margin = lease_seconds / 6
        self.engine = engine
        self.background = background
        self.metrics = metrics or Metrics()
        self.leading = False
        self._confirmed_until = 0.0  # monotonic time the lease surely lasts until, by this process's reckoning
        self.metrics.leader(False)

    @property
    def role(self) -> str:
        return LEADER if self.leading else FOLLOWER

    async def start(self) -> None:
        """Try once now (leading, this process picks up every unfinished job before returning), then keep
        following or leading in the background task "leadership"."""
        if await self._try_acquire():
            await self._become_leader()
        else:
            log.info("another process leads; this one answers commands and callbacks and takes over if the "
                     "leader stops (within %.0f s)", self.lease_seconds)
        self.background.start("leadership", self._run())

    async def _run(self) -> None:
        while True:
            if self.leading:
                await self._renew_until_lost()  # only ever ends by raising LeadershipLost
            await asyncio.sleep(self.every + random.uniform(0, self.every / 4))
            if await self._try_acquire():
                await self._become_leader()

    async def _try_acquire(self) -> bool:
        sent = _now()
        try:
            acquired = await self.lease.acquire(self.owner, self.lease_seconds)
        except Exception as error:  # the database is down: stay a follower and ask again later
            log.warning("could not ask for the leader lease (%s); asking again in %.0f s", error, self.every)
            return False
        if acquired:
            self._confirmed_until = sent + self.lease_seconds
        return acquired

    async def _become_leader(self) -> None:
        self.leading = True
        self.metrics.leader(True)
        log.info("this process is now the leader (%s): it dispatches, polls and delivers every job", self.owner)
        # Picking up a long backlog can outlast the lease: it is renewed meanwhile, as it is afterwards.
        leading = asyncio.ensure_future(self.engine.lead(self.background))
        try:
            while not (await asyncio.wait({leading}, timeout=self.every))[0]:
                await self._renew()
            leading.result()  # what taking over raised, if anything
        finally:
            leading.cancel()

    async def _renew_until_lost(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self._renew()

    async def _renew(self) -> None:
        """Renew, retrying a failing database until the lease would run out; raises LeadershipLost."""
        while True:
            left = self._confirmed_until - self.margin - _now()
            if left <= 0:
                self._step_down("the lease could not be renewed before it would run out")
            sent = _now()
            try:
                async with asyncio.timeout(left):
                    renewed = await self.lease.renew(self.owner, self.lease_seconds)
            except TimeoutError:
                self._step_down("the database did not confirm the renewal before the lease would run out")
            except Exception as error:
                log.warning("could not renew the leader lease (%s); trying again", error)
                await asyncio.sleep(min(1.0, max(0.0, left / 4)))
                continue
            if not renewed:
                self._step_down("another process holds the lease now")
            self._confirmed_until = sent + self.lease_seconds
            return

    def _step_down(self, why: str) -> None:
        self.leading = False
        self.metrics.leader(False)
        self.engine.stop_leading()
        log.critical("no longer the leader: %s. This process stops now (exit status 1) so that its supervisor "
                     "restarts it as a follower; another process takes over its jobs", why)
        raise LeadershipLost(why)

    async def release(self) -> None:
        """At a graceful stop, after the engine has stopped: give the lease up so a follower takes over at once."""
        if not self.leading:
            return
        self.leading = False
        self.metrics.leader(False)
        await self.lease.release(self.owner)
        log.info("released the leader lease: another process takes over the jobs at once")


def _now() -> float:
    # Real monotonic time, not the injectable clock: the lease runs out in real time, whatever tests do to time.
    return asyncio.get_running_loop().time()
