"""Jobs and their event log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.core.messages import Message, from_json, to_json
from bot.core.models import CameraMove, DeliveryOutcome, Job, JobStatus, Shot, VideoRequest, can_transition
from bot.core.ports.repositories import Charge, JobEvent, Pruned, SpendCharge
from storage.database import Database
from storage.quotas import append_in, refund_in, usage_in
from storage.spend import check_spend_in, to_micros

# Fields a caller may set alongside a transition or on their own.
UPDATABLE = frozenset({
    "status_message_id", "provider_job_id", "submitted_at", "submitting_since", "completed_at", "attempts",
    "last_error", "video_url", "delivery_outcome", "result_message_id",
    "reported_cost", "reported_units",  # money (Decimal), stored as micro-units (storage/spend.py)
    "image_urls",  # a Continue's start frame, known once its status message shows it (bot/core/continuing.py)
    "failure",  # a failed job's reason as a catalogue message (bot/core/messages.py), stored as its JSON
})


# Statuses a job never leaves: only these are ever pruned.
FINISHED = (JobStatus.DELIVERED, JobStatus.FAILED)
_STATUS_VALUES = frozenset(status.value for status in JobStatus)


class JobStore:
    """Implements `JobRepository` (bot/core/ports/repositories.py). Status changes are conditional on the
    expected current status, so two paths racing to move one job (a callback and a poll, say) cannot
    both win."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def insert(self, job: Job, charge: Charge | None = None, spend: SpendCharge | None = None) -> None:
        """Insert a new job and its first event, and its charge when given: the usage the charge is decided
        on is read in the same transaction, so a check and the charge it allows cannot be split. `spend`: its
        estimated money cost, checked against the daily spend limit in the same transaction."""

        def work(connection: sqlite3.Connection) -> None:
            insert_job(connection, job, spend)
            entry = None
            if charge is not None:
                usage = usage_in(connection, job.guild_id, job.user_id, charge.period, excluding_job=job.id)
                entry = charge.entry(usage)  # a refusal raises: the insert rolls back too
            if spend is not None:
                check_spend_in(connection, job.id, spend)  # so does the spend limit's
            if entry is not None:
                append_in(connection, entry)

        await self._db.run(work)

    async def fail(self, job_id: str, expected: JobStatus | Sequence[JobStatus], at: datetime, *, reason: str,
                   detail: str, **fields: Any) -> tuple[Job, int | None] | None:
        """Move a job to FAILED and give its charge back in the same transaction, so a crash cannot split
        the two. Returns the job and the credits refunded (None: never charged, or refunded already)."""
        refunded: list[int | None] = []
        job = await self.transition(
            job_id, expected, JobStatus.FAILED, at, detail=detail, last_error=reason,
            then=lambda connection, failed: refunded.append(refund_in(connection, failed.id, at, reason[:300])),
            **fields,
        )
        return (job, refunded[0]) if job is not None else None

    async def get(self, job_id: str) -> Job | None:
        return await self._db.run(lambda connection: get_job(connection, job_id))

    async def transition(
        self,
        job_id: str,
        expected: JobStatus | Sequence[JobStatus],
        new: JobStatus,
        at: datetime,
        *,
        detail: str | None = None,
        then: Callable[[sqlite3.Connection, Job], object] | None = None,
        **fields: Any,
    ) -> Job | None:
        """Move a job from one of `expected` to `new`, setting `fields` with it.

        Returns the updated job, or None when the job was not in an expected status (someone else
        moved it first). The event, and `then(connection, job)` when given, are written in the same
        transaction.
        """
        expected_set = (expected,) if isinstance(expected, JobStatus) else tuple(expected)
        for status in expected_set:
            if not can_transition(status, new):
                raise ValueError(f"{status.value} -> {new.value} is not a job transition")
        assignments, values = _assignments(fields)
        marks = ", ".join("?" for _ in expected_set)

        def work(connection: sqlite3.Connection) -> Job | None:
            row = connection.execute(
                f"SELECT status FROM jobs WHERE id = ? AND status IN ({marks})",
                (job_id, *[s.value for s in expected_set]),
            ).fetchone()
            if row is None:
                return None
            updated = connection.execute(
                f"UPDATE jobs SET status = ?, updated_at = ?{assignments} WHERE id = ? RETURNING *",
                (new.value, _iso(at), *values, job_id),
            ).fetchone()
            _event(connection, job_id, at, "status", JobStatus(row["status"]), new, detail)
            job = _job(updated)
            if then is not None:
                then(connection, job)
            return job

        return await self._db.run(work)

    async def update(self, job_id: str, at: datetime, **fields: Any) -> None:
        """Set fields that are not the status (message ids, attempts, errors)."""
        assignments, values = _assignments(fields)
        await self._db.run(lambda connection: connection.execute(
            f"UPDATE jobs SET updated_at = ?{assignments} WHERE id = ?", (_iso(at), *values, job_id)
        ))

    async def claim_submit(self, job_id: str, at: datetime, *, attempts: int) -> bool:
        """Conditional, like a transition: of a submit and a cancel claiming one job at once, one wins."""
        changed: int = await self._db.run(lambda connection: connection.execute(
            "UPDATE jobs SET submitting_since = ?, attempts = ?, updated_at = ? "
            "WHERE id = ? AND status = ? AND submitting_since IS NULL",
            (_iso(at), attempts, _iso(at), job_id, JobStatus.QUEUED.value),
        ).rowcount)
        return changed == 1

    async def record_event(self, job_id: str, at: datetime, kind: str, detail: str | None = None) -> None:
        await self._db.run(lambda connection: _event(connection, job_id, at, kind, None, None, detail))

    async def with_status(self, statuses: Iterable[JobStatus]) -> list[Job]:
        wanted = [s.value for s in statuses]
        marks = ", ".join("?" for _ in wanted)
        return await self._db.run(lambda connection: [_job(row) for row in connection.execute(
            f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY created_at, id", wanted
        )])

    async def recent_for_user(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        return await self._db.run(lambda connection: [_job(row) for row in connection.execute(
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (guild_id, user_id, limit),
        )])

    async def generation_seconds(self, provider: str, limit: int) -> list[float]:
        """How long the provider took (submitted -> completed) for its last `limit` finished jobs, newest first
        (migration 0006's index: the newest rows of one provider, never the whole history)."""
        rows = await self._db.run(lambda connection: connection.execute(
            "SELECT submitted_at, completed_at FROM jobs WHERE provider = ? AND completed_at IS NOT NULL "
            "AND submitted_at IS NOT NULL ORDER BY completed_at DESC LIMIT ?", (provider, limit),
        ).fetchall())
        return [(datetime.fromisoformat(row["completed_at"]) - datetime.fromisoformat(row["submitted_at"]))
                .total_seconds() for row in rows]

    async def count_by_status(self) -> dict[JobStatus, int]:
        """Jobs by status, from the counts triggers keep (migration 0005) rather than counting every job. The
        finished statuses count every job ever finished, pruned ones included."""
        rows = await self._db.run(
            lambda connection: connection.execute("SELECT status, jobs FROM job_status_counts").fetchall()
        )
        counts = dict.fromkeys(JobStatus, 0)
        counts.update({JobStatus(row["status"]): row["jobs"] for row in rows if row["status"] in _STATUS_VALUES})
        return counts

    async def prune_finished(self, updated_before: datetime, limit: int) -> Pruned:
        """Remove up to `limit` finished jobs last updated before `updated_before`, with their events, in
        one transaction (small batches keep the database thread free for everything else)."""
        return await self._db.run(lambda connection: prune_finished(connection, updated_before, limit))

    async def events(self, job_id: str) -> list[JobEvent]:
        rows = await self._db.run(lambda connection: connection.execute(
            "SELECT * FROM job_events WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall())
        return [
            JobEvent(
                row["job_id"], datetime.fromisoformat(row["at"]), row["kind"],
                JobStatus(row["from_status"]) if row["from_status"] else None,
                JobStatus(row["to_status"]) if row["to_status"] else None,
                row["detail"],
            )
            for row in rows
        ]


def prune_finished(connection: sqlite3.Connection, updated_before: datetime, limit: int) -> Pruned:
    """`JobStore.prune_finished` inside a piece of database work. The credit ledger is not touched: its rows
    keep their job ids (migration 0005 dropped its foreign key to jobs for this)."""
    marks = ", ".join("?" for _ in FINISHED)
    ids = [(row["id"],) for row in connection.execute(
        f"SELECT id FROM jobs WHERE status IN ({marks}) AND updated_at < ? LIMIT ?",
        (*[status.value for status in FINISHED], _iso(updated_before), limit),
    )]
    if not ids:
        return Pruned(0, 0)
    # Events first: they refer to their job.
    events = connection.executemany("DELETE FROM job_events WHERE job_id = ?", ids).rowcount
    jobs = connection.executemany("DELETE FROM jobs WHERE id = ?", ids).rowcount
    return Pruned(jobs, events)


def insert_job(connection: sqlite3.Connection, job: Job, spend: SpendCharge | None = None) -> None:
    """Insert a job and its first event; callable inside a larger piece of work (a job and its charge). `spend`:
    its estimated money cost and the day it counts in (migration 0009)."""
    request = job.request
    estimate = spend.estimate if spend is not None else None
    connection.execute(
        """INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode,
               negative_prompt, audio, image_urls, cost, status, status_message_id, created_at, updated_at,
               deliver_by_dm, end_image_url, camera, shots, estimated_cost, spend_day)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            job.id, job.guild_id, job.channel_id, job.user_id, job.provider, request.prompt,
            request.duration, request.aspect, request.mode, request.negative_prompt, int(request.audio),
            json.dumps(list(request.image_urls)), job.cost, job.status.value, job.status_message_id,
            _iso(job.created_at), _iso(job.updated_at), int(job.deliver_by_dm),
            request.end_image_url, camera_json(request.camera), shots_json(request.shots),
            to_micros(estimate) if estimate is not None else None, spend.day if spend is not None else None,
        ),
    )
    if job.parent_job_id is not None:  # a Continue (migration 0010)
        connection.execute("UPDATE jobs SET parent_job_id = ?, reply_to_message_id = ? WHERE id = ?",
                           (job.parent_job_id, job.reply_to_message_id, job.id))
    _event(connection, job.id, job.created_at, "created", None, job.status, None)


def camera_json(camera: CameraMove | None) -> str | None:
    return json.dumps({"name": camera.name, "strength": camera.strength}) if camera is not None else None


def camera_from(text: str | None) -> CameraMove | None:
    if not text:
        return None
    stored = json.loads(text)
    return CameraMove(str(stored["name"]), stored.get("strength"))


def shots_json(shots: tuple[Shot, ...]) -> str:
    return json.dumps([{"prompt": shot.prompt, "duration": shot.duration} for shot in shots], ensure_ascii=False)


def shots_from(text: str | None) -> tuple[Shot, ...]:
    return tuple(Shot(str(shot["prompt"]), int(shot["duration"])) for shot in json.loads(text or "[]"))


def get_job(connection: sqlite3.Connection, job_id: str) -> Job | None:
    row = connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _job(row) if row else None


def _assignments(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = [_column_value(value) for value in fields.values()]
    return "".join(f", {name} = ?" for name in fields), values


def _column_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, DeliveryOutcome | JobStatus):
        return value.value
    if isinstance(value, tuple):  # image_urls, stored as a JSON list like at insert
        return json.dumps(list(value))
    if isinstance(value, Decimal):
        return to_micros(value)
    if isinstance(value, Message):
        return to_json(value)
    return value


def _event(
    connection: sqlite3.Connection, job_id: str, at: datetime, kind: str,
    from_status: JobStatus | None, to_status: JobStatus | None, detail: str | None,
) -> None:
    connection.execute(
        "INSERT INTO job_events (job_id, at, kind, from_status, to_status, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (job_id, _iso(at), kind, from_status.value if from_status else None,
         to_status.value if to_status else None, detail),
    )


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _optional_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        request=VideoRequest(
            prompt=row["prompt"], duration=row["duration"], aspect=row["aspect"], mode=row["mode"],
            negative_prompt=row["negative_prompt"], audio=bool(row["audio"]),
            image_urls=tuple(json.loads(row["image_urls"])), end_image_url=row["end_image_url"],
            camera=camera_from(row["camera"]), shots=shots_from(row["shots"]),
        ),
        provider=row["provider"],
        status=JobStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        cost=row["cost"],
        status_message_id=row["status_message_id"],
        provider_job_id=row["provider_job_id"],
        submitted_at=_optional_time(row["submitted_at"]),
        completed_at=_optional_time(row["completed_at"]),
        attempts=row["attempts"],
        submitting_since=_optional_time(row["submitting_since"]),
        last_error=row["last_error"],
        failure=from_json(row["failure"]) if row["failure"] else None,
        video_url=row["video_url"],
        delivery_outcome=DeliveryOutcome(row["delivery_outcome"]) if row["delivery_outcome"] else None,
        result_message_id=row["result_message_id"],
        deliver_by_dm=bool(row["deliver_by_dm"]),
        parent_job_id=row["parent_job_id"],
        reply_to_message_id=row["reply_to_message_id"],
    )
