"""The leader lease and job signals on PostgreSQL (bot/core/ports/leadership.py; bot/core/leadership.py says
why one leader).

The lease is a row of the `leader` table (migrations/0006_leader.sql). Acquiring is one INSERT ... ON CONFLICT
DO UPDATE whose WHERE lets the row change hands only when its lease has run out or is already the asker's:
PostgreSQL locks the row for the conflicting insert and re-checks the WHERE against its latest version, so of
two processes asking at once one wins. Every time is the database's `now()`, never a process's clock.

Signals are NOTIFY on one channel (`kling_jobs`, payload `<signal>:<job id>`), sent from the pool; listening
needs a connection of its own that stays open, so `listen` opens one outside the pool, checks it every few
seconds and opens another when it is lost (what was announced meanwhile is missed: the leader's sweep finds
it). Handlers run one at a time in arrival order, so a job's "queued" is handled before its "cancelled".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from bot.core.ports.leadership import JobSignal, SignalHandler
from storage.postgres.database import CONNECT_TIMEOUT_SECONDS, PostgresDatabase, asyncpg_dsn

log = logging.getLogger(__name__)

LEASE_NAME = "jobs"
CHANNEL = "kling_jobs"
APPLICATION_NAME = "kling-bot job signals"  # how the listening connection shows in pg_stat_activity
CHECK_SECONDS = 5.0  # how often the listening connection is checked (a dead peer says nothing by itself)
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)  # then every 10 s while the database stays away


class PostgresLeaderLease:
    """Implements `LeaderLease` with the `leader` table."""

    def __init__(self, database: PostgresDatabase, name: str = LEASE_NAME) -> None:
        self._db = database
        self.name = name

    async def acquire(self, owner: str, seconds: float) -> bool:
        row = await self._db.fetchrow(
            "INSERT INTO leader (name, owner, lease_until) VALUES ($1, $2, now() + make_interval(secs => $3)) "
            "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until "
            "WHERE leader.lease_until < now() OR leader.owner = EXCLUDED.owner RETURNING owner",
            self.name, owner, float(seconds))
        return row is not None

    async def renew(self, owner: str, seconds: float) -> bool:
        # A lease that ran out is no longer the owner's, even if nobody has taken it yet: it acquires again.
        status = await self._db.execute(
            "UPDATE leader SET lease_until = now() + make_interval(secs => $3) "
            "WHERE name = $1 AND owner = $2 AND lease_until >= now()", self.name, owner, float(seconds))
        return status.endswith(" 1")

    async def release(self, owner: str) -> None:
        await self._db.execute("DELETE FROM leader WHERE name = $1 AND owner = $2", self.name, owner)

    async def holder(self) -> str | None:
        """The owner of a lease that has not run out (None: nobody leads now). For tests and tools."""
        row = await self._db.fetchrow("SELECT owner FROM leader WHERE name = $1 AND lease_until >= now()", self.name)
        return None if row is None else str(row["owner"])


class PostgresJobSignals:
    """Implements `JobSignals` with LISTEN/NOTIFY."""

    def __init__(self, database: PostgresDatabase, dsn: str, channel: str = CHANNEL) -> None:
        self._db = database
        self._dsn = asyncpg_dsn(dsn)
        self.channel = channel
        self.check_seconds = CHECK_SECONDS

    async def announce(self, signal: JobSignal, job_id: str) -> None:
        await self._db.execute("SELECT pg_notify($1, $2)", self.channel, f"{signal.value}:{job_id}")

    async def listen(self, handler: SignalHandler) -> None:
        arrived: asyncio.Queue[tuple[JobSignal, str]] = asyncio.Queue()
        handling = asyncio.create_task(_handle_in_order(arrived, handler))
        try:
            failures = 0
            while True:
                try:
                    await self._listen_once(arrived)
                    failures = 0  # it was listening, then lost the connection
                    log.warning("lost the connection that hears job signals; opening another")
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                    failures += 1
                    log.warning("cannot listen for job signals (%s); trying again in %.1f s", error, delay)
                    await asyncio.sleep(delay)
        finally:
            handling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handling

    async def _listen_once(self, arrived: asyncio.Queue[tuple[JobSignal, str]]) -> None:
        """Listen on one connection until it is lost (returns) or cannot be opened (raises)."""
        connection = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS,
                                           server_settings={"application_name": APPLICATION_NAME})
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())

        def received(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            signal = _parse(payload)
            if signal is not None:
                arrived.put_nowait(signal)

        try:
            await connection.add_listener(self.channel, received)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.check_seconds):
                        await lost.wait()
                if lost.is_set() or connection.is_closed():
                    return
                try:
                    await connection.execute("SELECT 1", timeout=self.check_seconds)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    return
        finally:
            connection.terminate()  # no goodbye needed, and none can wait on a dead peer


async def _handle_in_order(arrived: asyncio.Queue[tuple[JobSignal, str]], handler: SignalHandler) -> None:
    while True:
        signal, job_id = await arrived.get()
        try:
            await handler(signal, job_id)
        except Exception:  # one job's trouble must not stop the others' signals
            log.exception("handling the %s signal of job %s failed", signal.value, job_id)


def _parse(payload: str) -> tuple[JobSignal, str] | None:
    kind, _, job_id = payload.partition(":")
    try:
        return JobSignal(kind), job_id
    except ValueError:
        log.warning("ignored a job signal this version does not know: %r", payload[:100])
        return None
