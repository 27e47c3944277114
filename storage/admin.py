"""What the operator's command line reads and changes: job listings, jobs waiting for reconciliation and
their settlement, and the state of one job's charge.

A job "needs reconciliation" when it was failed because the bot could not tell whether the provider
started it (its FAILED event's detail starts with `needs reconciliation`: bot/core/dispatcher.py and the
restart path in bot/app.py). The operator settles it once, which writes a `reconciled` event; a job with
that event is no longer listed. The job itself stays FAILED: that is what its member was shown.
"""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.core.models import Job, JobStatus
from storage.database import Database
from storage.jobs import _event, _iso  # the job store's own event writer and time format
from storage.jobs import _job as job_from_row
from storage.quotas import refund_in

NEEDS_RECONCILIATION = "needs reconciliation"
RECONCILED = "reconciled"  # the job_events kind the operator's settlement writes


@dataclass(frozen=True, slots=True)
class JobFilter:
    status: JobStatus | None = None
    guild_id: int | None = None
    user_id: int | None = None
    since: datetime | None = None  # created at or after
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Unreconciled:
    job: Job
    reason: str  # the detail of the failure ("needs reconciliation: ...")
    reserved: int | None  # credits charged (None: never charged)
    refunded: int | None  # credits given back (None: not refunded, yet)


@dataclass(frozen=True, slots=True)
class Charge:
    """A job's charge as the ledger holds it."""

    reserved: int | None  # None: never charged
    refunded: int | None  # None: not refunded
    refunded_at: datetime | None = None


class Settlement(enum.StrEnum):
    """How a reconciliation ended."""

    SETTLED = "settled"
    UNKNOWN_JOB = "unknown job"
    NOT_NEEDED = "not needed"  # the job is not waiting for reconciliation
    ALREADY = "already reconciled"


@dataclass(frozen=True, slots=True)
class SettleOutcome:
    result: Settlement
    job: Job | None = None
    refunded: int | None = None  # credits refunded by this settlement
    earlier: str | None = None  # for ALREADY: the earlier settlement's detail


# Failed jobs awaiting reconciliation; the same SQL on SQLite and PostgreSQL (storage/postgres/admin.py).
UNRECONCILED = f"""
SELECT j.*, e.detail AS reason,
       (SELECT amount FROM quota_ledger AS r WHERE r.job_id = j.id AND r.kind = 'reserve') AS reserved,
       (SELECT amount FROM quota_ledger AS f WHERE f.job_id = j.id AND f.kind = 'refund') AS refunded
FROM jobs AS j JOIN job_events AS e ON e.job_id = j.id
WHERE j.status = 'failed' AND e.kind = 'status' AND e.to_status = 'failed' AND e.detail LIKE '{NEEDS_RECONCILIATION}%'
  AND NOT EXISTS (SELECT 1 FROM job_events AS r WHERE r.job_id = j.id AND r.kind = '{RECONCILED}')
"""


class AdminStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def schema_version(self) -> int:
        return await self._db.run(lambda c: int(c.execute("PRAGMA user_version").fetchone()[0]))

    async def jobs(self, wanted: JobFilter) -> list[Job]:
        """Jobs matching the filter, newest first."""
        clauses: list[str] = []
        args: list[object] = []
        if wanted.status is not None:
            clauses.append("status = ?")
            args.append(wanted.status.value)
        if wanted.guild_id is not None:
            clauses.append("guild_id = ?")
            args.append(wanted.guild_id)
        if wanted.user_id is not None:
            clauses.append("user_id = ?")
            args.append(wanted.user_id)
        if wanted.since is not None:
            clauses.append("created_at >= ?")
            args.append(_iso(wanted.since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        return await self._db.run(lambda c: [job_from_row(row) for row in c.execute(sql, [*args, wanted.limit])])

    async def unreconciled(self) -> list[Unreconciled]:
        """Jobs failed for reconciliation that the operator has not settled, newest first."""
        rows = await self._db.run(lambda c: c.execute(
            f"{UNRECONCILED} ORDER BY j.created_at DESC, j.id DESC").fetchall())
        return [Unreconciled(job_from_row(row), row["reason"], row["reserved"], row["refunded"]) for row in rows]

    async def charge(self, job_id: str) -> Charge:
        return await self._db.run(lambda c: _charge(c, job_id))

    async def settle_failed(self, job_id: str, at: datetime) -> SettleOutcome:
        """The provider confirms it never made the video: make sure the charge is refunded (once)."""

        def work(connection: sqlite3.Connection) -> SettleOutcome:
            refused = _check_settleable(connection, job_id)
            if refused is not None:
                return refused
            refunded = refund_in(connection, job_id, at, "refunded by the operator: not made")
            note = f"; {refunded} credits refunded now" if refunded is not None else ""
            _event(connection, job_id, at, RECONCILED, None, None, f"failed at the provider (operator){note}")
            return SettleOutcome(Settlement.SETTLED, _get(connection, job_id), refunded=refunded)

        return await self._db.run(work)

    async def settle_delivered(self, job_id: str, video_url: str, at: datetime) -> SettleOutcome:
        """The provider did make the video: record its URL. The job stays FAILED (its member was told so)
        and its credits stay refunded: the member was not at fault and got nothing in Discord."""

        def work(connection: sqlite3.Connection) -> SettleOutcome:
            refused = _check_settleable(connection, job_id)
            if refused is not None:
                return refused
            connection.execute("UPDATE jobs SET video_url = ?, updated_at = ? WHERE id = ?",
                               (video_url, _iso(at), job_id))
            _event(connection, job_id, at, RECONCILED, None, None,
                   f"made at the provider (operator): {video_url}; credits stay refunded")
            return SettleOutcome(Settlement.SETTLED, _get(connection, job_id))

        return await self._db.run(work)


def _get(connection: sqlite3.Connection, job_id: str) -> Job | None:
    row = connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return job_from_row(row) if row else None


def _check_settleable(connection: sqlite3.Connection, job_id: str) -> SettleOutcome | None:
    """None when the job waits for reconciliation; else the outcome saying why it cannot be settled."""
    job = _get(connection, job_id)
    if job is None:
        return SettleOutcome(Settlement.UNKNOWN_JOB)
    earlier = connection.execute(
        "SELECT detail FROM job_events WHERE job_id = ? AND kind = ? ORDER BY id DESC LIMIT 1", (job_id, RECONCILED)
    ).fetchone()
    if earlier is not None:
        return SettleOutcome(Settlement.ALREADY, job, earlier=earlier["detail"])
    waiting = connection.execute(f"{UNRECONCILED} AND j.id = ?", (job_id,)).fetchone()
    if waiting is None:
        return SettleOutcome(Settlement.NOT_NEEDED, job)
    return None


def _charge(connection: sqlite3.Connection, job_id: str) -> Charge:
    rows = {row["kind"]: row for row in connection.execute(
        "SELECT kind, amount, at FROM quota_ledger WHERE job_id = ? AND kind IN ('reserve', 'refund')", (job_id,))}
    reserve, refund = rows.get("reserve"), rows.get("refund")
    return Charge(
        reserved=reserve["amount"] if reserve else None,
        refunded=refund["amount"] if refund else None,
        refunded_at=datetime.fromisoformat(refund["at"]) if refund else None,
    )
