"""Jobs and their event log on PostgreSQL: implements `JobRepository` (bot/core/ports/repositories.py) as
storage/jobs.py does on SQLite. A transition locks the job's row (`FOR NO KEY UPDATE`, re-checked after any
wait) and is conditional on the expected status, so two paths (in one process or several) racing to move a
job cannot both win."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bot.core.messages import Message, from_json, to_json
from bot.core.models import CameraMove, DeliveryOutcome, Job, JobStatus, Shot, VideoRequest, can_transition
from bot.core.ports.repositories import Charge, JobEvent, Pruned, SpendCharge
from storage.jobs import FINISHED, UPDATABLE
from storage.postgres.database import Connection, PostgresDatabase
from storage.postgres.quotas import append_in, lock_counters, refund_in, usage_in
from storage.spend import from_micros, to_micros

_STATUS_VALUES = frozenset(status.value for status in JobStatus)


class PostgresJobStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def insert(self, job: Job, charge: Charge | None = None, spend: SpendCharge | None = None) -> None:
        """The job, its first event, its charge and its spend in one transaction: the member's, server's and
        period's counters, then the spend day's row, are locked before what the charge and the daily spend
        limit are decided on is read."""

        async def work(connection: Connection) -> None:
            if charge is not None:
                await lock_counters(connection, charge.period, job.guild_id, job.user_id)
            if spend is not None:
                await connection.execute("INSERT INTO spend_days (day) VALUES ($1) ON CONFLICT DO NOTHING",
                                         date.fromisoformat(spend.day))
                await connection.execute("SELECT 1 FROM spend_days WHERE day = $1 FOR UPDATE",
                                         date.fromisoformat(spend.day))
            await insert_job(connection, job)
            entry = None
            if charge is not None:
                usage = await usage_in(connection, job.guild_id, job.user_id, charge.period, excluding_job=job.id)
                entry = charge.entry(usage)  # a refusal raises: the insert rolls back
            if spend is not None:
                await _reserve_spend(connection, job.id, spend)  # so does the spend limit's
            if entry is not None:
                await append_in(connection, entry)

        await self._db.run(work)

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        return job_from_row(row) if row else None

    async def transition(self, job_id: str, expected: JobStatus | Sequence[JobStatus], new: JobStatus,
                         at: datetime, *, detail: str | None = None, **fields: Any) -> Job | None:
        async def work(connection: Connection) -> Job | None:
            return await transition_in(connection, job_id, expected, new, at, detail, fields)

        return await self._db.run(work)

    async def fail(self, job_id: str, expected: JobStatus | Sequence[JobStatus], at: datetime, *, reason: str,
                   detail: str, **fields: Any) -> tuple[Job, int | None] | None:
        """FAILED and the refund in one transaction (the job's row first, then the counters)."""

        async def work(connection: Connection) -> tuple[Job, int | None] | None:
            job = await transition_in(connection, job_id, expected, JobStatus.FAILED, at, detail,
                                      {**fields, "last_error": reason})
            if job is None:
                return None
            return job, await refund_in(connection, job.id, at, reason[:300])

        return await self._db.run(work)

    async def update(self, job_id: str, at: datetime, **fields: Any) -> None:
        assignments, values = _assignments(fields, first=3)
        await self._db.execute(f"UPDATE jobs SET updated_at = $2{assignments} WHERE id = $1", job_id, at, *values)

    async def claim_submit(self, job_id: str, at: datetime, *, attempts: int) -> bool:
        """One conditional UPDATE: READ COMMITTED re-checks its WHERE after waiting for the row, so of a submit
        and a cancel claiming one job at once (from any processes), one wins."""
        status = await self._db.execute(
            "UPDATE jobs SET submitting_since = $2, attempts = $3, updated_at = $2 "
            "WHERE id = $1 AND status = 'queued' AND submitting_since IS NULL", job_id, at, attempts)
        return _affected(status) == 1

    async def record_event(self, job_id: str, at: datetime, kind: str, detail: str | None = None) -> None:
        await self._db.execute(
            "INSERT INTO job_events (job_id, at, kind, detail) VALUES ($1, $2, $3, $4)", job_id, at, kind, detail)

    async def with_status(self, statuses: Iterable[JobStatus]) -> list[Job]:
        rows = await self._db.fetch("SELECT * FROM jobs WHERE status = ANY($1::text[]) ORDER BY created_at, id",
                                    [status.value for status in statuses])
        return [job_from_row(row) for row in rows]

    async def recent_for_user(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE guild_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
            guild_id, user_id, limit)
        return [job_from_row(row) for row in rows]

    async def generation_seconds(self, provider: str, limit: int) -> list[float]:
        rows = await self._db.fetch(
            "SELECT EXTRACT(EPOCH FROM completed_at - submitted_at)::float8 AS seconds FROM jobs "
            "WHERE provider = $1 AND completed_at IS NOT NULL AND submitted_at IS NOT NULL "
            "ORDER BY completed_at DESC LIMIT $2", provider, limit)
        return [float(row["seconds"]) for row in rows]

    async def count_by_status(self) -> dict[JobStatus, int]:
        """From the counts the trigger keeps (slots summed: migrations/0001_schema.sql says why)."""
        rows = await self._db.fetch("SELECT status, SUM(jobs)::bigint AS jobs FROM job_status_counts GROUP BY status")
        counts = dict.fromkeys(JobStatus, 0)
        counts.update({JobStatus(row["status"]): int(row["jobs"]) for row in rows if row["status"] in _STATUS_VALUES})
        return counts

    async def prune_finished(self, updated_before: datetime, limit: int) -> Pruned:
        async def work(connection: Connection) -> Pruned:
            # SKIP LOCKED: a job another process is moving right now is left for the next round.
            ids = [row["id"] for row in await connection.fetch(
                "SELECT id FROM jobs WHERE status = ANY($1::text[]) AND updated_at < $2 LIMIT $3 "
                "FOR UPDATE SKIP LOCKED", [status.value for status in FINISHED], updated_before, limit)]
            if not ids:
                return Pruned(0, 0)
            events = await connection.execute("DELETE FROM job_events WHERE job_id = ANY($1::text[])", ids)
            jobs = await connection.execute("DELETE FROM jobs WHERE id = ANY($1::text[])", ids)
            return Pruned(_affected(jobs), _affected(events))

        return await self._db.run(work)

    async def events(self, job_id: str) -> list[JobEvent]:
        rows = await self._db.fetch("SELECT * FROM job_events WHERE job_id = $1 ORDER BY id", job_id)
        return [
            JobEvent(row["job_id"], row["at"], row["kind"],
                     JobStatus(row["from_status"]) if row["from_status"] else None,
                     JobStatus(row["to_status"]) if row["to_status"] else None, row["detail"])
            for row in rows
        ]


async def transition_in(connection: Connection, job_id: str, expected: JobStatus | Sequence[JobStatus],
                        new: JobStatus, at: datetime, detail: str | None, fields: dict[str, Any]) -> Job | None:
    """The conditional move, its event and the new row, in one statement."""
    expected_set = (expected,) if isinstance(expected, JobStatus) else tuple(expected)
    for status in expected_set:
        if not can_transition(status, new):
            raise ValueError(f"{status.value} -> {new.value} is not a job transition")
    assignments, values = _assignments(fields, first=6)
    row = await connection.fetchrow(
        f"""WITH old AS (SELECT id, status FROM jobs WHERE id = $1 AND status = ANY($2::text[]) FOR NO KEY UPDATE),
                moved AS (UPDATE jobs AS j SET status = $3, updated_at = $4{assignments} FROM old WHERE j.id = old.id
                          RETURNING j.*, old.status AS previous_status),
                event AS (INSERT INTO job_events (job_id, at, kind, from_status, to_status, detail)
                          SELECT id, $4, 'status', previous_status, $3, $5 FROM moved)
            SELECT * FROM moved""",
        job_id, [status.value for status in expected_set], new.value, at, detail, *values,
    )
    return job_from_row(row) if row else None


async def _reserve_spend(connection: Connection, job_id: str, spend: SpendCharge) -> None:
    """storage/spend.py's reserve_spend_in: the job's estimate and day, after `spend.check` accepted it beside
    what the day's other jobs spent."""
    day = date.fromisoformat(spend.day)
    if spend.limited:  # without a limit there is nothing to decide: the day's sum is not read
        spent = await connection.fetchval(
            "SELECT COALESCE(SUM(COALESCE(reported_cost, estimated_cost, 0)), 0) FROM jobs "
            "WHERE spend_day = $1 AND status <> 'failed' AND id <> $2", day, job_id)
        spend.check(from_micros(spent))
    await connection.execute("UPDATE jobs SET estimated_cost = $2, spend_day = $3 WHERE id = $1", job_id,
                             None if spend.estimate is None else to_micros(spend.estimate), day)


async def insert_job(connection: Connection, job: Job) -> None:
    """A job and its first event, inside a caller's transaction."""
    request = job.request
    await connection.execute(
        """INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode,
               negative_prompt, audio, image_urls, cost, status, status_message_id, created_at, updated_at,
               deliver_by_dm, end_image_url, camera, shots, parent_job_id, reply_to_message_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                   $22, $23)""",
        job.id, job.guild_id, job.channel_id, job.user_id, job.provider, request.prompt, request.duration,
        request.aspect, request.mode, request.negative_prompt, request.audio, list(request.image_urls), job.cost,
        job.status.value, job.status_message_id, job.created_at, job.updated_at, job.deliver_by_dm,
        request.end_image_url,
        None if request.camera is None else {"name": request.camera.name, "strength": request.camera.strength},
        [{"prompt": shot.prompt, "duration": shot.duration} for shot in request.shots],
        job.parent_job_id, job.reply_to_message_id,
    )
    await connection.execute(
        "INSERT INTO job_events (job_id, at, kind, to_status) VALUES ($1, $2, 'created', $3)",
        job.id, job.created_at, job.status.value)


def _assignments(fields: dict[str, Any], *, first: int) -> tuple[str, list[Any]]:
    """`, name = $n` for each field, numbered from `first`, and the values."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = [_column_value(value) for value in fields.values()]
    return "".join(f", {name} = ${first + i}" for i, name in enumerate(fields)), values


def _column_value(value: Any) -> Any:
    if isinstance(value, DeliveryOutcome | JobStatus):
        return value.value
    if isinstance(value, tuple):  # image_urls: a jsonb list
        return list(value)
    if isinstance(value, Decimal):  # money: micro-units, as storage/spend.py keeps it
        return to_micros(value)
    if isinstance(value, Message):  # a failure reason: its JSON (bot/core/messages.py)
        return to_json(value)
    return value


def _affected(status: str) -> int:
    """The row count of a command status such as `DELETE 3`."""
    return int(status.rsplit(" ", 1)[-1])


def job_from_row(row: asyncpg.Record) -> Job:
    return Job(
        id=row["id"], guild_id=row["guild_id"], channel_id=row["channel_id"], user_id=row["user_id"],
        request=VideoRequest(
            prompt=row["prompt"], duration=row["duration"], aspect=row["aspect"], mode=row["mode"],
            negative_prompt=row["negative_prompt"], audio=row["audio"], image_urls=tuple(row["image_urls"]),
            end_image_url=row["end_image_url"],
            camera=CameraMove(str(row["camera"]["name"]), row["camera"].get("strength")) if row["camera"] else None,
            shots=tuple(Shot(str(shot["prompt"]), int(shot["duration"])) for shot in row["shots"]),
        ),
        provider=row["provider"], status=JobStatus(row["status"]), created_at=row["created_at"],
        updated_at=row["updated_at"], cost=row["cost"], status_message_id=row["status_message_id"],
        provider_job_id=row["provider_job_id"], submitted_at=row["submitted_at"], completed_at=row["completed_at"],
        attempts=row["attempts"], submitting_since=row["submitting_since"], last_error=row["last_error"],
        failure=from_json(row["failure"]) if row["failure"] else None, video_url=row["video_url"],
        delivery_outcome=DeliveryOutcome(row["delivery_outcome"]) if row["delivery_outcome"] else None,
        result_message_id=row["result_message_id"], deliver_by_dm=row["deliver_by_dm"],
        parent_job_id=row["parent_job_id"], reply_to_message_id=row["reply_to_message_id"],
    )
