"""The credit ledger and per-member limits: `QuotaStore` implements `QuotaRepository`
(bot/core/ports/repositories.py). Balances come from the ledger (running totals kept by triggers on it).

The `*_in` functions run inside another piece of database work (`Database.run`), so a job can be inserted
and charged atomically (storage/jobs.py), and a check and the charge that depends on it cannot be split by
another writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from bot.core.models import ACTIVE
from bot.core.ports.repositories import LedgerEntry, LedgerKind, Usage
from storage.database import Database
from storage.guild_settings import set_default_quota_in, set_pool_limit_in

# Credits used in a period: running totals that triggers on the ledger keep (migrations 0003 and 0004).
# The ledger-sum queries they replace are kept in `LEDGER_MEMBER_USED` / `LEDGER_POOL_USED` /
# `LEDGER_TOTAL_USED`, which tests use to check that the totals always agree with the ledger.
_MEMBER_USED = """
SELECT COALESCE((SELECT used FROM quota_member_usage
                 WHERE guild_id = :guild AND user_id = :user AND period = :period), 0)
"""
_POOL_USED = """
SELECT COALESCE((SELECT used FROM quota_pool_usage WHERE guild_id = :guild AND period = :period), 0)
"""
_TOTAL_USED = """
SELECT COALESCE((SELECT used FROM quota_total_usage WHERE period = :period), 0)
"""
# Reserves after the member's last reset that were not refunded: a refund of a job charged before a
# reset changes nothing, and usage never goes negative.
LEDGER_MEMBER_USED = """
SELECT COALESCE(SUM(r.amount), 0) FROM quota_ledger AS r
WHERE r.guild_id = :guild AND r.user_id = :user AND r.period = :period AND r.kind = 'reserve'
  AND r.id > COALESCE((SELECT MAX(s.id) FROM quota_ledger AS s WHERE s.guild_id = :guild AND s.user_id = :user
                       AND s.period = :period AND s.kind = 'reset'), 0)
  AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = r.job_id AND f.kind = 'refund')
"""
LEDGER_POOL_USED = """
SELECT COALESCE(SUM(r.amount), 0) FROM quota_ledger AS r
WHERE r.guild_id = :guild AND r.period = :period AND r.kind = 'reserve'
  AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = r.job_id AND f.kind = 'refund')
"""
LEDGER_TOTAL_USED = """
SELECT COALESCE(SUM(r.amount), 0) FROM quota_ledger AS r
WHERE r.period = :period AND r.kind = 'reserve'
  AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = r.job_id AND f.kind = 'refund')
"""
_GRANTED = """
SELECT COALESCE(SUM(amount), 0) FROM quota_ledger
WHERE guild_id = :guild AND user_id = :user AND period = :period AND kind = 'grant'
"""


ACTIVE_STATUSES = tuple(status.value for status in ACTIVE)


def usage_in(connection: sqlite3.Connection, guild_id: int, user_id: int, period: str,
             *, excluding_job: str | None = None) -> Usage:
    """Everything a charge depends on, read in one statement (it runs for every /video). `excluding_job`:
    a job just inserted in this transaction, not counted among the member's active jobs."""
    marks = ", ".join(f":s{i}" for i in range(len(ACTIVE_STATUSES)))
    sql = f"""
SELECT ({_MEMBER_USED}) AS used, ({_GRANTED}) AS granted, ({_POOL_USED}) AS pool_used,
       ({_TOTAL_USED}) AS total_used,
       (SELECT credits FROM quota_limits WHERE guild_id = :guild AND user_id = :user) AS member_limit,
       (SELECT pool_limit FROM guild_settings WHERE guild_id = :guild) AS pool_limit,
       (SELECT default_quota FROM guild_settings WHERE guild_id = :guild) AS default_quota,
       (SELECT COUNT(*) FROM jobs WHERE guild_id = :guild AND user_id = :user AND id != :job
            AND status IN ({marks})) AS active_jobs"""
    args: dict[str, object] = {"guild": guild_id, "user": user_id, "period": period, "job": excluding_job or ""}
    args.update({f"s{i}": status for i, status in enumerate(ACTIVE_STATUSES)})
    row = connection.execute(sql, args).fetchone()
    return Usage(
        used=int(row["used"]), granted=int(row["granted"]), pool_used=int(row["pool_used"]),
        member_limit=row["member_limit"], pool_limit=row["pool_limit"], default_quota=row["default_quota"],
        active_jobs=int(row["active_jobs"]), total_used=int(row["total_used"]),
    )


def append_in(connection: sqlite3.Connection, entry: LedgerEntry) -> bool:
    """Add a ledger row; False when the job already has a row of this kind (nothing written)."""
    cursor = connection.execute(
        """INSERT OR IGNORE INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (_iso(entry.at), entry.guild_id, entry.user_id, entry.actor_id, entry.kind.value, entry.period,
         entry.amount, entry.job_id, entry.detail),
    )
    return cursor.rowcount > 0


def refund_in(connection: sqlite3.Connection, job_id: str, at: datetime, detail: str | None) -> int | None:
    """Give a job's charge back into the period it was charged in, once ever (a unique index on the
    ledger's (job_id, kind)). Returns the credits refunded, or None when there is nothing to refund."""
    cursor = connection.execute(
        """INSERT OR IGNORE INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail)
           SELECT ?, guild_id, user_id, NULL, 'refund', period, amount, job_id, ?
           FROM quota_ledger WHERE job_id = ? AND kind = 'reserve'""",
        (_iso(at), detail, job_id),
    )
    if cursor.rowcount == 0:
        return None
    return _scalar(connection, "SELECT amount FROM quota_ledger WHERE job_id = :job AND kind = 'refund'",
                   {"job": job_id})


class QuotaStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def usage(self, guild_id: int, user_id: int, period: str) -> Usage:
        return await self._db.run(lambda connection: usage_in(connection, guild_id, user_id, period))

    async def append(self, entry: LedgerEntry) -> bool:
        return await self._db.run(lambda connection: append_in(connection, entry))

    async def set_member_limit(self, entry: LedgerEntry, describe_previous: Callable[[int | None], str]) -> None:
        assert entry.kind is LedgerKind.LIMIT and entry.user_id is not None and entry.amount is not None
        guild_id, user_id, credits = entry.guild_id, entry.user_id, entry.amount

        def work(connection: sqlite3.Connection) -> None:
            row = connection.execute(
                "SELECT credits FROM quota_limits WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            ).fetchone()
            connection.execute(
                "INSERT INTO quota_limits (guild_id, user_id, credits) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET credits = excluded.credits",
                (guild_id, user_id, credits),
            )
            previous = int(row["credits"]) if row else None
            append_in(connection, replace(entry, detail=describe_previous(previous)))

        await self._db.run(work)

    async def reset_member(self, entry: LedgerEntry) -> int:
        assert entry.kind is LedgerKind.RESET and entry.user_id is not None

        def work(connection: sqlite3.Connection) -> int:
            used = _scalar(connection, _MEMBER_USED,
                           {"guild": entry.guild_id, "user": entry.user_id, "period": entry.period})
            append_in(connection, replace(entry, amount=used))
            return used

        return await self._db.run(work)

    async def set_pool_limit(self, entry: LedgerEntry) -> None:
        assert entry.kind is LedgerKind.POOL and entry.amount is not None
        credits = entry.amount

        def work(connection: sqlite3.Connection) -> None:
            set_pool_limit_in(connection, entry.guild_id, credits)
            append_in(connection, entry)

        await self._db.run(work)

    async def set_default_quota(self, entry: LedgerEntry) -> None:
        assert entry.kind is LedgerKind.DEFAULT and entry.amount is not None
        credits = entry.amount

        def work(connection: sqlite3.Connection) -> None:
            set_default_quota_in(connection, entry.guild_id, credits)
            append_in(connection, entry)

        await self._db.run(work)

    async def refund(self, job_id: str, at: datetime, detail: str | None) -> int | None:
        return await self._db.run(lambda connection: refund_in(connection, job_id, at, detail))

    async def failed_without_refund(self, updated_since: datetime) -> list[str]:
        return await self._db.run(lambda connection: [row["id"] for row in connection.execute(
            """SELECT j.id FROM jobs AS j
               WHERE j.status = 'failed' AND j.updated_at >= ?
                 AND EXISTS (SELECT 1 FROM quota_ledger AS r WHERE r.job_id = j.id AND r.kind = 'reserve')
                 AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = j.id AND f.kind = 'refund')
               ORDER BY j.updated_at""", (_iso(updated_since),)
        )])

    async def history(self, guild_id: int, user_id: int | None, *, offset: int, limit: int, count_up_to: int
                      ) -> tuple[list[LedgerEntry], int]:
        where, args = ("guild_id = ?", [guild_id]) if user_id is None else (
            "guild_id = ? AND user_id = ?", [guild_id, user_id])

        def work(connection: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
            total = connection.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM quota_ledger WHERE {where} LIMIT ?)", [*args, count_up_to]
            ).fetchone()[0]
            rows = connection.execute(
                f"SELECT * FROM quota_ledger WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
            return int(total), rows

        total, rows = await self._db.run(work)
        return [_entry(row) for row in rows], total


def _scalar(connection: sqlite3.Connection, sql: str, args: dict[str, object]) -> int:
    row = connection.execute(sql, args).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _entry(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry(
        id=row["id"], kind=LedgerKind(row["kind"]), guild_id=row["guild_id"], period=row["period"],
        at=datetime.fromisoformat(row["at"]), user_id=row["user_id"], actor_id=row["actor_id"],
        amount=row["amount"], job_id=row["job_id"], detail=row["detail"],
    )
