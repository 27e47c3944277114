"""The credit ledger and per-member limits on PostgreSQL: implements `QuotaRepository`
(bot/core/ports/repositories.py) as storage/quotas.py does on SQLite.

Every ledger write first calls `lock_counters` (the period's total, the server's pool, the member, in that
order; storage/postgres/database.py says why row locks), then reads and writes. The running totals follow
the ledger through a trigger (migrations/0001_schema.sql), as on SQLite.

The `*_in` functions run inside a caller's transaction, so a job is inserted and charged, or failed and
refunded, all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

import asyncpg

from bot.core.models import ACTIVE
from bot.core.ports.repositories import LedgerEntry, LedgerKind, Usage
from storage.postgres.database import Connection, PostgresDatabase

ACTIVE_STATUSES = [status.value for status in ACTIVE]

_USAGE = """
SELECT COALESCE((SELECT used FROM quota_member_usage WHERE guild_id = $1 AND user_id = $2 AND period = $3), 0) AS used,
       (SELECT COALESCE(SUM(amount), 0) FROM quota_ledger
        WHERE guild_id = $1 AND user_id = $2 AND period = $3 AND kind = 'grant') AS granted,
       COALESCE((SELECT used FROM quota_pool_usage WHERE guild_id = $1 AND period = $3), 0) AS pool_used,
       COALESCE((SELECT used FROM quota_total_usage WHERE period = $3), 0) AS total_used,
       (SELECT credits FROM quota_limits WHERE guild_id = $1 AND user_id = $2) AS member_limit,
       (SELECT pool_limit FROM guild_settings WHERE guild_id = $1) AS pool_limit,
       (SELECT default_quota FROM guild_settings WHERE guild_id = $1) AS default_quota,
       (SELECT COUNT(*) FROM jobs WHERE guild_id = $1 AND user_id = $2 AND id <> $4
            AND status = ANY($5::text[])) AS active_jobs
"""
_MEMBER_USED = ("SELECT COALESCE((SELECT used FROM quota_member_usage "
                "WHERE guild_id = $1 AND user_id = $2 AND period = $3), 0)")
_INSERT = """
INSERT INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (job_id, kind) WHERE job_id IS NOT NULL DO NOTHING
RETURNING id
"""
_REFUND = """
INSERT INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail)
SELECT $2, guild_id, user_id, NULL, 'refund', period, amount, job_id, $3
FROM quota_ledger WHERE job_id = $1 AND kind = 'reserve'
ON CONFLICT (job_id, kind) WHERE job_id IS NOT NULL DO NOTHING
RETURNING amount
"""


def period_key(period: str) -> date:
    return date.fromisoformat(period)


async def lock_counters(connection: Connection, period: str | date, guild_id: int, user_id: int | None) -> None:
    """Lock the rows a ledger write for this period, server and member depends on, in the one order."""
    key = period if isinstance(period, date) else period_key(period)
    await connection.execute("SELECT quota_lock($1, $2, $3)", key, guild_id, user_id)


async def usage_in(connection: Connection, guild_id: int, user_id: int, period: str,
                   *, excluding_job: str | None = None) -> Usage:
    row = await connection.fetchrow(_USAGE, guild_id, user_id, period_key(period), excluding_job or "",
                                    ACTIVE_STATUSES)
    assert row is not None
    return Usage(
        used=int(row["used"]), granted=int(row["granted"]), pool_used=int(row["pool_used"]),
        member_limit=row["member_limit"], pool_limit=row["pool_limit"], default_quota=row["default_quota"],
        active_jobs=int(row["active_jobs"]), total_used=int(row["total_used"]),
    )


async def append_in(connection: Connection, entry: LedgerEntry) -> bool:
    """Add a ledger row (its counters locked first); False when the job already has a row of this kind."""
    await lock_counters(connection, entry.period, entry.guild_id, entry.user_id)
    written = await connection.fetchval(
        _INSERT, entry.at, entry.guild_id, entry.user_id, entry.actor_id, entry.kind.value, period_key(entry.period),
        entry.amount, entry.job_id, entry.detail)
    return written is not None


async def refund_in(connection: Connection, job_id: str, at: datetime, detail: str | None) -> int | None:
    """Give a job's charge back into the period it was charged in, once ever (the unique index on the ledger's
    (job_id, kind)); None when there is nothing to refund. A refund racing another waits on the counters,
    then finds the other's row and writes nothing."""
    charge = await connection.fetchrow(
        "SELECT guild_id, user_id, period FROM quota_ledger WHERE job_id = $1 AND kind = 'reserve'", job_id)
    if charge is None:
        return None
    await lock_counters(connection, charge["period"], charge["guild_id"], charge["user_id"])
    amount = await connection.fetchval(_REFUND, job_id, at, detail)
    return None if amount is None else int(amount)


class PostgresQuotaStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def usage(self, guild_id: int, user_id: int, period: str) -> Usage:
        async def work(connection: Connection) -> Usage:
            return await usage_in(connection, guild_id, user_id, period)

        return await self._db.run(work)

    async def append(self, entry: LedgerEntry) -> bool:
        async def work(connection: Connection) -> bool:
            return await append_in(connection, entry)

        return await self._db.run(work)

    async def set_member_limit(self, entry: LedgerEntry, describe_previous: Callable[[int | None], str]) -> None:
        assert entry.kind is LedgerKind.LIMIT and entry.user_id is not None and entry.amount is not None

        async def work(connection: Connection) -> None:
            await lock_counters(connection, entry.period, entry.guild_id, entry.user_id)
            previous = await connection.fetchval(
                "SELECT credits FROM quota_limits WHERE guild_id = $1 AND user_id = $2", entry.guild_id, entry.user_id)
            await connection.execute(
                "INSERT INTO quota_limits (guild_id, user_id, credits) VALUES ($1, $2, $3) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET credits = EXCLUDED.credits",
                entry.guild_id, entry.user_id, entry.amount)
            await append_in(connection, replace(entry, detail=describe_previous(previous)))

        await self._db.run(work)

    async def reset_member(self, entry: LedgerEntry) -> int:
        assert entry.kind is LedgerKind.RESET and entry.user_id is not None

        async def work(connection: Connection) -> int:
            await lock_counters(connection, entry.period, entry.guild_id, entry.user_id)
            used = int(await connection.fetchval(_MEMBER_USED, entry.guild_id, entry.user_id,
                                                 period_key(entry.period)))
            await append_in(connection, replace(entry, amount=used))
            return used

        return await self._db.run(work)

    async def set_pool_limit(self, entry: LedgerEntry) -> None:
        assert entry.kind is LedgerKind.POOL and entry.amount is not None
        await self._set_guild(entry, "pool_limit")

    async def set_default_quota(self, entry: LedgerEntry) -> None:
        assert entry.kind is LedgerKind.DEFAULT and entry.amount is not None
        await self._set_guild(entry, "default_quota")

    async def _set_guild(self, entry: LedgerEntry, column: str) -> None:
        assert column in ("pool_limit", "default_quota")

        async def work(connection: Connection) -> None:
            await lock_counters(connection, entry.period, entry.guild_id, None)
            await set_guild_value_in(connection, entry.guild_id, column, entry.amount)
            await append_in(connection, entry)

        await self._db.run(work)

    async def refund(self, job_id: str, at: datetime, detail: str | None) -> int | None:
        async def work(connection: Connection) -> int | None:
            return await refund_in(connection, job_id, at, detail)

        return await self._db.run(work)

    async def failed_without_refund(self, updated_since: datetime) -> list[str]:
        rows = await self._db.fetch(
            """SELECT j.id FROM jobs AS j
               WHERE j.status = 'failed' AND j.updated_at >= $1
                 AND EXISTS (SELECT 1 FROM quota_ledger AS r WHERE r.job_id = j.id AND r.kind = 'reserve')
                 AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = j.id AND f.kind = 'refund')
               ORDER BY j.updated_at""", updated_since)
        return [row["id"] for row in rows]

    async def history(self, guild_id: int, user_id: int | None, *, offset: int, limit: int, count_up_to: int
                      ) -> tuple[list[LedgerEntry], int]:
        where, args = ("guild_id = $1", [guild_id]) if user_id is None else (
            "guild_id = $1 AND user_id = $2", [guild_id, user_id])
        n = len(args)

        async def work(connection: Connection) -> tuple[int, list[asyncpg.Record]]:
            total = await connection.fetchval(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM quota_ledger WHERE {where} LIMIT ${n + 1}) AS page",
                *args, count_up_to)
            rows = await connection.fetch(
                f"SELECT * FROM quota_ledger WHERE {where} ORDER BY id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                *args, limit, offset)
            return int(total), rows

        total, rows = await self._db.run(work)
        return [entry_from_row(row) for row in rows], total


async def set_guild_value_in(connection: Connection, guild_id: int, column: str, value: int | None) -> None:
    assert column in ("pool_limit", "default_quota", "mod_role_id")
    await connection.execute(
        f"INSERT INTO guild_settings (guild_id, {column}) VALUES ($1, $2) "
        f"ON CONFLICT (guild_id) DO UPDATE SET {column} = EXCLUDED.{column}", guild_id, value)


def entry_from_row(row: asyncpg.Record) -> LedgerEntry:
    return LedgerEntry(
        id=row["id"], kind=LedgerKind(row["kind"]), guild_id=row["guild_id"], period=row["period"].isoformat(),
        at=row["at"], user_id=row["user_id"], actor_id=row["actor_id"], amount=row["amount"],
        job_id=row["job_id"], detail=row["detail"],
    )
