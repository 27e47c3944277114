"""Job history retention: finished jobs older than JOB_RETENTION_DAYS are pruned with their events.

The credit ledger is never pruned: balances, refunds (once per job) and `/quota history` keep working
for pruned jobs. Pruning runs when the bot starts and then every few hours, in small batches, each its
own short transaction, with a pause between them: the database has one thread, and a `/video` or a
callback arriving meanwhile waits for one batch at most, not for the whole prune.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.core.clock import Clock
from bot.core.ports.repositories import JobRepository, Pruned

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 6 * 3600.0
PRUNE_BATCH = 100  # jobs per transaction: about 500 rows with their events, some 15 ms in a 1M-job database
PAUSE_BETWEEN_BATCHES = 0.05  # seconds; lets other database work in between batches


class JobRetention:
    def __init__(self, store: JobRepository, clock: Clock, days: int, *, batch: int = PRUNE_BATCH,
                 every: float = PRUNE_EVERY_SECONDS, pause: float = PAUSE_BETWEEN_BATCHES) -> None:
        if days <= 0:
            raise ValueError("retention needs a number of days; 0 means keep everything, so do not prune")
        self.store = store
        self.clock = clock  # the cutoff follows the clock the jobs' times were written with
        self.days = days
        self.batch = batch
        self.every = every
        self.pause = pause

    async def prune(self) -> Pruned:
        """Remove every finished job last updated more than `days` ago, batch by batch; returns the totals."""
        cutoff = self.clock.now() - timedelta(days=self.days)
        jobs = events = 0
        try:
            while True:
                pruned = await self.store.prune_finished(cutoff, self.batch)
                jobs += pruned.jobs
                events += pruned.events
                if pruned.jobs < self.batch:
                    break
                await asyncio.sleep(self.pause)
        finally:  # the batches already done stay done, even when a later one fails
            if jobs:
                log.info("job history: pruned %d finished job(s) last updated over %d days ago and their %d "
                         "event(s); the credit ledger is kept", jobs, self.days, events)
        return Pruned(jobs, events)

    async def run(self) -> None:
        """Prune now, then every `every` seconds, for as long as the bot runs. A failed round is logged and
        the next one tries again: old history waiting a few more hours harms nothing."""
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("job history: pruning failed; trying again in %.0f s", self.every)
            await asyncio.sleep(self.every)
