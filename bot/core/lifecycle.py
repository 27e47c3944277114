"""Every status change goes through here: persisted first, then announced; failures are refunded in the
same transaction that records them. Queue waits, job durations and refunds are measured here too."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from bot.core.clock import Clock
from bot.core.log_context import bind_job
from bot.core.messages import Message
from bot.core.metrics import CreditKind, JobOutcome, Metrics
from bot.core.models import Job, JobStatus
from bot.core.ports.provider import ReportedCost
from bot.core.ports.publisher import Publisher
from bot.core.ports.repositories import JobRepository
from bot.core.spend import SpendPolicy

log = logging.getLogger(__name__)


class JobLifecycle:
    def __init__(self, store: JobRepository, publisher: Publisher, clock: Clock,
                 metrics: Metrics | None = None,
                 eta_of: Callable[[Job], Awaitable[datetime | None]] | None = None,
                 spend: SpendPolicy | None = None) -> None:
        self.store = store
        self.spend = spend or SpendPolicy()  # turns a provider's reported cost into the job's money fields
        self.publisher = publisher
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.eta_of = eta_of  # the estimate a job's status message shows with its status (bot/core/eta.py)

    async def move(
        self, job_id: str, expected: JobStatus | Sequence[JobStatus], new: JobStatus,
        *, detail: str | None = None, announce: bool = True, reported_cost: ReportedCost | None = None,
        **fields: Any,
    ) -> Job | None:
        """Persist a transition, then show it. None when another path moved the job first. `reported_cost`: what
        the provider said the job cost, recorded with the transition (replacing the estimate in the spend)."""
        now = self.clock.now()
        fields.update(self.spend.stored_fields(reported_cost))
        job = await self.store.transition(job_id, expected, new, now, detail=detail, **fields)
        if job is None:
            return None
        self._measure(job, new, now)
        with bind_job(job):  # also for the status edit, which the publisher may finish in a task of its own
            log.info("now %s", new.value, extra={"status": new.value})
            if announce:
                await self._show(job)
        return job

    async def announce(self, job: Job) -> None:
        """Show a job's current status again (its status message appeared after the job had moved on)."""
        await self._show(job)

    async def fail(self, job_id: str, expected: JobStatus | Sequence[JobStatus], reason: Message | str,
                   *, detail: str | None = None, **fields: Any) -> Job | None:
        """Fail a job with a reason the member can read, and refund its charge in the same transaction. The
        reason is stored twice: in English (`str(reason)`, for the admin CLI, the ledger and logs) and, when it is
        a message, as that message (`Job.failure`), which status messages show in their server's language."""
        now = self.clock.now()
        if isinstance(reason, Message):
            fields["failure"] = reason
        reason = str(reason)
        failed = await self.store.fail(job_id, expected, now, reason=reason, detail=detail or reason, **fields)
        if failed is None:
            return None
        job, refunded = failed
        self._measure(job, JobStatus.FAILED, now)
        if refunded is not None:
            self.metrics.credits(CreditKind.REFUND, refunded)
        credits = f"; {refunded} credits refunded" if refunded is not None else ""
        with bind_job(job):
            log.info("now failed: %s%s", detail or reason, credits, extra={"status": JobStatus.FAILED.value})
            await self._show(job)
        return job

    async def _show(self, job: Job) -> None:
        eta = await self.eta_of(job) if self.eta_of is not None else None
        if eta is None:  # a publisher is only ever handed an estimate there is
            await self.publisher.show_status(job)
        else:
            await self.publisher.show_status(job, eta=eta)

    def _measure(self, job: Job, new: JobStatus, now: datetime) -> None:
        """Time spent waiting for the provider (accepted -> submitted) and in all (accepted -> finished)."""
        since_accepted = (now - job.created_at).total_seconds()
        if new is JobStatus.SUBMITTED:
            self.metrics.queue_wait(since_accepted)
        elif new is JobStatus.DELIVERED:
            self.metrics.job_finished(job.provider, JobOutcome.DELIVERED, since_accepted)
        elif new is JobStatus.FAILED:
            self.metrics.job_finished(job.provider, JobOutcome.FAILED, since_accepted)
