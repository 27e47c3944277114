"""What the operator's command line reads and changes, on PostgreSQL: storage/admin.py's `AdminStore` with
the same records and the same rules (see there for what "needs reconciliation" means)."""

from __future__ import annotations

from datetime import datetime

from bot.core.models import Job
from storage.admin import RECONCILED, UNRECONCILED, Charge, JobFilter, Settlement, SettleOutcome, Unreconciled
from storage.postgres.database import Connection, PostgresDatabase
from storage.postgres.jobs import job_from_row
from storage.postgres.quotas import refund_in


class PostgresAdminStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    async def jobs(self, wanted: JobFilter) -> list[Job]:
        clauses: list[str] = []
        args: list[object] = []
        for column, value in (("status", wanted.status.value if wanted.status else None),
                              ("guild_id", wanted.guild_id), ("user_id", wanted.user_id)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        if wanted.since is not None:
            args.append(wanted.since)
            clauses.append(f"created_at >= ${len(args)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(
            f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1}", *args, wanted.limit)
        return [job_from_row(row) for row in rows]

    async def unreconciled(self) -> list[Unreconciled]:
        rows = await self._db.fetch(f"{UNRECONCILED} ORDER BY j.created_at DESC, j.id DESC")
        return [Unreconciled(job_from_row(row), row["reason"], row["reserved"], row["refunded"]) for row in rows]

    async def charge(self, job_id: str) -> Charge:
        rows = {row["kind"]: row for row in await self._db.fetch(
            "SELECT kind, amount, at FROM quota_ledger WHERE job_id = $1 AND kind IN ('reserve', 'refund')", job_id)}
        reserve, refund = rows.get("reserve"), rows.get("refund")
        return Charge(reserved=reserve["amount"] if reserve else None, refunded=refund["amount"] if refund else None,
                      refunded_at=refund["at"] if refund else None)

    async def settle_failed(self, job_id: str, at: datetime) -> SettleOutcome:
        async def work(connection: Connection) -> SettleOutcome:
            refused = await _check_settleable(connection, job_id)
            if refused is not None:
                return refused
            refunded = await refund_in(connection, job_id, at, "refunded by the operator: not made")
            note = f"; {refunded} credits refunded now" if refunded is not None else ""
            await _reconciled(connection, job_id, at, f"failed at the provider (operator){note}")
            return SettleOutcome(Settlement.SETTLED, await _get(connection, job_id), refunded=refunded)

        return await self._db.run(work)

    async def settle_delivered(self, job_id: str, video_url: str, at: datetime) -> SettleOutcome:
        async def work(connection: Connection) -> SettleOutcome:
            refused = await _check_settleable(connection, job_id)
            if refused is not None:
                return refused
            await connection.execute("UPDATE jobs SET video_url = $2, updated_at = $3 WHERE id = $1",
                                     job_id, video_url, at)
            await _reconciled(connection, job_id, at,
                              f"made at the provider (operator): {video_url}; credits stay refunded")
            return SettleOutcome(Settlement.SETTLED, await _get(connection, job_id))

        return await self._db.run(work)


async def _get(connection: Connection, job_id: str) -> Job | None:
    row = await connection.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return job_from_row(row) if row else None


async def _reconciled(connection: Connection, job_id: str, at: datetime, detail: str) -> None:
    await connection.execute("INSERT INTO job_events (job_id, at, kind, detail) VALUES ($1, $2, $3, $4)",
                             job_id, at, RECONCILED, detail)


async def _check_settleable(connection: Connection, job_id: str) -> SettleOutcome | None:
    """None when the job waits for reconciliation; else why it cannot be settled. The job's row is locked
    first, so two operators settling one job at once settle it once."""
    row = await connection.fetchrow("SELECT * FROM jobs WHERE id = $1 FOR NO KEY UPDATE", job_id)
    if row is None:
        return SettleOutcome(Settlement.UNKNOWN_JOB)
    job = job_from_row(row)
    earlier = await connection.fetchval(
        "SELECT detail FROM job_events WHERE job_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1", job_id, RECONCILED)
    if earlier is not None:
        return SettleOutcome(Settlement.ALREADY, job, earlier=earlier)
    if await connection.fetchrow(f"{UNRECONCILED} AND j.id = $1", job_id) is None:
        return SettleOutcome(Settlement.NOT_NEEDED, job)
    return None
