"""The credit ledger and per-member limits. Balances are sums over the ledger, never a separate counter.

Methods that take a connection run inside a caller's piece of database work (`Database.run`), so a
job can be inserted and charged atomically, and a check and the charge that depends on it cannot be
split by another writer.
"""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.database import Database


class LedgerKind(enum.StrEnum):
    RESERVE = "reserve"
    REFUND = "refund"
    GRANT = "grant"
    RESET = "reset"
    LIMIT = "limit"
    POOL = "pool"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: LedgerKind
    guild_id: int
    period: str  # the start of the quota period, as an ISO date
    at: datetime
    user_id: int | None = None
    actor_id: int | None = None  # None: the bot itself
    amount: int | None = None
    job_id: str | None = None
    detail: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """A member's and their server's standing in one period, as stored."""

    used: int
    granted: int
    pool_used: int
    member_limit: int | None  # None: the server default applies
    pool_limit: int | None  # None: the operator's default
    default_quota: int | None  # None: the operator's default
    active_jobs: int
    total_used: int = 0  # every server together, for the operator's total ceiling


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


class QuotaStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- balances (inside a caller's transaction) ---------------------------------------------------
    def usage(self, connection: sqlite3.Connection, guild_id: int, user_id: int, period: str,
                    *, active_statuses: tuple[str, ...] = (), excluding_job: str | None = None) -> Usage:
        """Everything a charge depends on, read in one statement. `active_statuses`: the job statuses that
        count as in flight; `excluding_job`: a job just inserted in this transaction, not counted."""
        marks = ", ".join(f":s{i}" for i in range(len(active_statuses))) or "NULL"
        sql = f"""
SELECT ({_MEMBER_USED}) AS used, ({_GRANTED}) AS granted, ({_POOL_USED}) AS pool_used,
       ({_TOTAL_USED}) AS total_used,
       (SELECT credits FROM quota_limits WHERE guild_id = :guild AND user_id = :user) AS member_limit,
       (SELECT pool_limit FROM guild_settings WHERE guild_id = :guild) AS pool_limit,
       (SELECT default_quota FROM guild_settings WHERE guild_id = :guild) AS default_quota,
       (SELECT COUNT(*) FROM jobs WHERE guild_id = :guild AND user_id = :user AND id != :job
            AND status IN ({marks})) AS active_jobs"""
        args: dict[str, object] = {"guild": guild_id, "user": user_id, "period": period, "job": excluding_job or ""}
        args.update({f"s{i}": status for i, status in enumerate(active_statuses)})
        row = connection.execute(sql, args).fetchone()  # one statement: it runs for every /video
        return Usage(
            used=int(row["used"]), granted=int(row["granted"]), pool_used=int(row["pool_used"]),
            member_limit=row["member_limit"], pool_limit=row["pool_limit"], default_quota=row["default_quota"],
            active_jobs=int(row["active_jobs"]), total_used=int(row["total_used"]),
        )

    def used(self, connection: sqlite3.Connection, guild_id: int, user_id: int, period: str) -> int:
        return _scalar(connection, _MEMBER_USED, {"guild": guild_id, "user": user_id, "period": period})

    def member_limit(self, connection: sqlite3.Connection, guild_id: int, user_id: int) -> int | None:
        """The member's own limit, or None when the server default applies."""
        row = connection.execute(
            "SELECT credits FROM quota_limits WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        ).fetchone()
        return int(row["credits"]) if row else None

    def set_member_limit(self, connection: sqlite3.Connection, guild_id: int, user_id: int, credits: int) -> None:
        connection.execute(
            "INSERT INTO quota_limits (guild_id, user_id, credits) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET credits = excluded.credits",
            (guild_id, user_id, credits),
        )

    def append(self, connection: sqlite3.Connection, entry: LedgerEntry) -> bool:
        """Add a ledger row; False when the job already has a row of this kind (nothing written)."""
        cursor = connection.execute(
            """INSERT OR IGNORE INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id,
                   detail)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (_iso(entry.at), entry.guild_id, entry.user_id, entry.actor_id, entry.kind.value, entry.period,
             entry.amount, entry.job_id, entry.detail),
        )
        return cursor.rowcount > 0

    # -- refunds -----------------------------------------------------------------------------------
    async def refund(self, job_id: str, at: datetime, detail: str | None) -> int | None:
        """Give a job's charge back, into the period it was charged in. Returns the credits refunded, or
        None when there is nothing to refund (never charged, or already refunded)."""
        return await self._db.run(lambda connection: self.refund_in(connection, job_id, at, detail))

    def refund_in(self, connection: sqlite3.Connection, job_id: str, at: datetime, detail: str | None) -> int | None:
        """`refund`, inside a caller's piece of database work (the job's FAILED transition)."""
        cursor = connection.execute(
            """INSERT OR IGNORE INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id,
                   detail)
               SELECT ?, guild_id, user_id, NULL, 'refund', period, amount, job_id, ?
               FROM quota_ledger WHERE job_id = ? AND kind = 'reserve'""",
            (_iso(at), detail, job_id),
        )
        if cursor.rowcount == 0:
            return None
        return _scalar(connection, "SELECT amount FROM quota_ledger WHERE job_id = :job AND kind = 'refund'",
                       {"job": job_id})

    async def failed_without_refund(self) -> list[str]:
        """Jobs that failed and were charged but never refunded (the bot stopped in between)."""
        return await self._db.run(lambda connection: [row["job_id"] for row in connection.execute(
            """SELECT r.job_id FROM quota_ledger AS r JOIN jobs AS j ON j.id = r.job_id
               WHERE r.kind = 'reserve' AND j.status = 'failed'
                 AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = r.job_id AND f.kind = 'refund')
               ORDER BY r.id"""
        )])

    # -- history -----------------------------------------------------------------------------------
    async def history(self, guild_id: int, user_id: int | None, *, offset: int, limit: int
                      ) -> tuple[list[LedgerEntry], int]:
        """A page of the server's ledger (or one member's), newest first, and the number of rows in all."""
        where, args = ("guild_id = ?", [guild_id]) if user_id is None else (
            "guild_id = ? AND user_id = ?", [guild_id, user_id])

        def work(connection: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
            total = connection.execute(f"SELECT COUNT(*) FROM quota_ledger WHERE {where}", args).fetchone()[0]
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
