"""Every status change goes through here: persisted first, then announced; failures are refunded."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from bot.core.clock import Clock
from bot.core.models import Job, JobStatus
from bot.core.ports import Publisher
from storage.jobs import JobStore

log = logging.getLogger(__name__)


class Refunder(Protocol):
    def refund_in(self, connection: sqlite3.Connection, job: Job, reason: str) -> int | None:
        """Give the job's charge back inside the database work that fails it (once per job)."""
        ...


class JobLifecycle:
    def __init__(self, store: JobStore, publisher: Publisher, clock: Clock, refunder: Refunder | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.refunder = refunder

    async def move(
        self, job_id: str, expected: JobStatus | Sequence[JobStatus], new: JobStatus,
        *, detail: str | None = None, announce: bool = True, **fields: Any,
    ) -> Job | None:
        """Persist a transition, then show it. None when another path moved the job first."""
        job = await self.store.transition(job_id, expected, new, self.clock.now(), detail=detail, **fields)
        if job is None:
            return None
        log.info("job %s: %s", job.id, new.value, extra={"job_id": job.id})
        if announce:
            await self.publisher.show_status(job)
        return job

    async def announce(self, job: Job) -> None:
        """Show a job's current status again (its status message appeared after the job had moved on)."""
        await self.publisher.show_status(job)

    async def fail(self, job_id: str, expected: JobStatus | Sequence[JobStatus], reason: str,
                   *, detail: str | None = None, **fields: Any) -> Job | None:
        """Fail a job with a reason the member can read, and refund its charge in the same transaction."""
        refunder = self.refunder
        refunded: int | None = None

        def refund(connection: sqlite3.Connection, failed: Job) -> None:
            nonlocal refunded
            if refunder is not None:
                refunded = refunder.refund_in(connection, failed, reason)

        job = await self.store.transition(
            job_id, expected, JobStatus.FAILED, self.clock.now(), detail=detail or reason, last_error=reason,
            then=refund, **fields,
        )
        if job is None:
            return None
        credits = f"; {refunded} credits refunded" if refunded is not None else ""
        log.info("job %s failed: %s%s", job.id, detail or reason, credits, extra={"job_id": job.id})
        await self.publisher.show_status(job)
        return job
