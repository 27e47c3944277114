"""The job and credit services on a real SQLite file, for the quota, retention and query-plan tests: jobs
are accepted (and charged) the way `/video` does it, and finished the way callbacks and polls do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.jobs import JobIntake, Submission
from bot.core.lifecycle import JobLifecycle
from bot.core.models import Job, JobStatus
from bot.core.moderation import ModerationService
from bot.core.ports.provider import Capabilities, RateLimit
from bot.core.quotas import QuotaPeriod, QuotaPolicy, QuotaService
from storage.database import Database
from storage.guild_settings import GuildSettingsStore
from storage.jobs import JobStore
from storage.quotas import QuotaStore
from tests.clock import FakeClock

GUILD = 1
CHANNEL = 2
ALICE, BOB, CAROL, MOD = 10, 11, 12, 99
CAPS = Capabilities(durations=(5, 10, 15), modes=("std", "pro", "4k"), push=False, rate_limit=RateLimit(60, 60))


class SilentPublisher:
    async def show_status(self, job: Job, *, queue_position: int | None = None) -> None:
        return None


@dataclass
class World:
    database: Database
    clock: FakeClock
    store: JobStore
    quotas: QuotaService
    moderation: ModerationService
    jobs: JobIntake
    lifecycle: JobLifecycle

    async def video(self, user: int = ALICE, duration: int = 5, mode: str = "std", prompt: str = "a fox") -> Job:
        return await self.jobs.accept(Submission(
            guild_id=GUILD, channel_id=CHANNEL, user_id=user, prompt=prompt, duration=duration, aspect="16:9",
            mode=mode,
        ))

    async def ledger(self) -> list[Any]:
        return await self.database.run(
            lambda connection: connection.execute("SELECT * FROM quota_ledger ORDER BY id").fetchall()
        )

    async def deliver(self, job: Job) -> None:
        """The path a finished video takes: submitted, processing, completed, posted."""
        moves = ((JobStatus.QUEUED, JobStatus.SUBMITTED, {"provider_job_id": f"p-{job.id}"}),
                 (JobStatus.SUBMITTED, JobStatus.PROCESSING, {}),
                 (JobStatus.PROCESSING, JobStatus.COMPLETED, {"video_url": "http://127.0.0.1/v.mp4"}),
                 (JobStatus.COMPLETED, JobStatus.DELIVERED, {}))
        for expected, new, fields in moves:
            assert await self.lifecycle.move(job.id, expected, new, **fields) is not None

    async def fail(self, job: Job) -> None:
        """Submitted, then failed by the provider: refunded in the same transaction."""
        assert await self.lifecycle.move(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED,
                                         provider_job_id=f"p-{job.id}") is not None
        assert await self.lifecycle.fail(job.id, JobStatus.SUBMITTED, "The provider refused it.") is not None

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return await self.database.run(lambda connection: [tuple(row) for row in connection.execute(sql)])


async def make_world(tmp_path: Path, clock: FakeClock | None = None, **policy: Any) -> World:
    """`policy`: QuotaPolicy fields to change from a day of 60 credits per member and no pool."""
    database = await Database.open(tmp_path / "bot.sqlite3")
    clock = clock or FakeClock()
    store = JobStore(database)
    moderation = ModerationService(GuildSettingsStore(database))
    values: dict[str, Any] = {"default_user_quota": 60, "default_guild_pool": 0, "period": QuotaPeriod.DAY,
                              "multipliers": {"std": 1, "pro": 2, "4k": 4}, "max_active_jobs": 100}
    values.update(policy)
    quotas = QuotaService(store=QuotaStore(database), moderation=moderation, policy=QuotaPolicy(**values),
                          clock=clock)
    jobs = JobIntake(store=store, capabilities=CAPS, provider_name="runblob", clock=clock, quotas=quotas,
                     moderation=moderation)
    lifecycle = JobLifecycle(store, SilentPublisher(), clock)
    return World(database, clock, store, quotas, moderation, jobs, lifecycle)


async def history_world(tmp_path: Path) -> World:
    """Generous limits over a month, so that long histories fit."""
    return await make_world(tmp_path, period=QuotaPeriod.MONTH, default_user_quota=1000, default_guild_pool=5000)
