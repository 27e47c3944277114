"""Every status change goes through here: persisted first, then announced; failures are refunded in the
same transaction that records them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.core.clock import Clock
from bot.core.models import Job, JobStatus
from bot.core.ports.publisher import Publisher
from bot.core.ports.repositories import JobRepository

log = logging.getLogger(__name__)


class JobLifecycle:
    def __init__(self, store: JobRepository, publisher: Publisher, clock: Clock) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock

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
        failed = await self.store.fail(job_id, expected, self.clock.now(), reason=reason, detail=detail or reason,
                                       **fields)
        if failed is None:
            return None
        job, refunded = failed
        credits = f"; {refunded} credits refunded" if refunded is not None else ""
        log.info("job %s failed: %s%s", job.id, detail or reason, credits, extra={"job_id": job.id})
        await self.publisher.show_status(job)
        return job
