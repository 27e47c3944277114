"""What the leader does for the other processes on its database (bot/core/leadership.py): act on their job
signals (a job queued, cancelled, finished at the provider) and sweep the database every `SWEEP_SECONDS` for
what a lost signal or a leader change left: queued jobs it has not heard of, finished jobs nobody delivers.
The sweep is what makes it correct; the signals only make it fast."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.core.clock import Clock
from bot.core.delivery import Delivery
from bot.core.dispatcher import Dispatcher
from bot.core.log_context import JobFields, bind_job
from bot.core.models import Job, JobStatus
from bot.core.ports.leadership import JobSignal
from bot.core.ports.repositories import JobRepository
from bot.core.tracker import JobTracker

log = logging.getLogger(__name__)

# How often the leader looks in the database for queued jobs it has not heard of and finished jobs nobody
# delivers (a lost signal, a leader change).
SWEEP_SECONDS = 5.0
# A queued job whose status message is not recorded yet may still be on its way through another process's
# `submit`; the sweep leaves it this long (a process that died half-way leaves it for good).
START_GRACE_SECONDS = 120.0


class OtherProcesses:
    def __init__(self, *, store: JobRepository, dispatcher: Dispatcher, tracker: JobTracker, delivery: Delivery,
                 clock: Clock, provider_name: str, queue: Callable[[Job], Awaitable[None]],
                 abandon: Callable[[Job], Awaitable[bool]]) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.delivery = delivery
        self.clock = clock
        self.provider_name = provider_name
        self.queue = queue  # the engine's: queue a job and show its place
        self.abandon = abandon  # the engine's: fail and refund a Continue that can never be sent

    async def on_signal(self, signal: JobSignal, job_id: str) -> None:
        with bind_job(JobFields(job_id, provider=self.provider_name)):
            try:
                if signal is JobSignal.QUEUED:
                    await self._adopt(job_id)
                elif signal is JobSignal.CANCELLED:
                    self.dispatcher.withdraw(job_id)
                else:
                    await self._finished_elsewhere(job_id)
            except Exception:
                log.exception("could not act on the job's %s signal; the sweep comes back to it", signal.value)

    async def _adopt(self, job_id: str) -> None:
        """Queue a job another process accepted, unless it is here already or no longer waiting, and show its
        place (its status message says "Queued" without one until now)."""
        if self.dispatcher.knows(job_id):
            return
        job = await self.store.get(job_id)
        if (job is None or job.status is not JobStatus.QUEUED or job.submitting_since is not None
                or self.dispatcher.knows(job_id)):
            return
        with bind_job(job):
            await self.queue(job)

    async def _finished_elsewhere(self, job_id: str) -> None:
        """Another process recorded the job's end at the provider: its slot is free, and a video is delivered."""
        job = await self.store.get(job_id)
        if job is None or job.status in (JobStatus.SUBMITTED, JobStatus.PROCESSING):
            return
        self.tracker.left_provider(job_id)
        if job.status is JobStatus.COMPLETED:
            with bind_job(job):
                self.delivery.schedule(job)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)  # real time: it paces database reads, whatever the clock says
            try:
                await self.sweep()
            except Exception as error:
                log.warning("the leader's sweep failed (%s); trying again in %.0f s", error, SWEEP_SECONDS)

    async def sweep(self) -> int:
        """Queue the queued jobs this leader has not heard of and deliver the completed ones nobody delivers
        (what a lost signal or a leader change left). Returns how many jobs it picked up."""
        picked = 0
        for job in await self.store.with_status((JobStatus.QUEUED, JobStatus.COMPLETED)):
            if job.status is JobStatus.COMPLETED:
                picked += await self._sweep_completed(job.id)
            elif not self.dispatcher.knows(job.id) and job.submitting_since is None:
                picked += await self._sweep_queued(job)
        if picked:
            log.info("the sweep picked up %d job(s) no signal had announced", picked)
        return picked

    async def _sweep_completed(self, job_id: str) -> int:
        if self.delivery.handled_here(job_id):
            return 0
        job = await self.store.get(job_id)  # again: a delivery may have finished since the list was read
        if job is None or job.status is not JobStatus.COMPLETED or self.delivery.handled_here(job_id):
            return 0
        with bind_job(job):
            self.delivery.schedule(job)
        return 1

    async def _sweep_queued(self, job: Job) -> int:
        young = (self.clock.now() - job.created_at).total_seconds() < START_GRACE_SECONDS
        if job.status_message_id is None and young:
            return 0  # its process may still be showing its status message
        if job.parent_job_id is not None and not job.request.image_urls:
            if young:
                return 0
            with bind_job(job):  # a Continue whose process stopped before its start frame was shown: never sent
                await self.abandon(job)
            return 1
        await self._adopt(job.id)
        return 1
