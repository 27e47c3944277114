"""Jobs, charges and ledger reads for the contract tests, through the repositories only (no SQL), so one test
reads the same on both backends."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.moderation import ModerationService
from bot.core.ports.repositories import LedgerEntry
from bot.core.quotas import QuotaPeriod, QuotaPolicy, QuotaService
from storage.backends import Stores
from tests.clock import FakeClock

GUILD, OTHER_GUILD = 1001, 1002
ALICE, BOB, CAROL, MOD = 2001, 2002, 2003, 2099
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def make_job(*, guild_id: int = GUILD, user_id: int = ALICE, duration: int = 10, mode: str = "std",
             cost: int | None = None, at: datetime = NOW, **fields: Any) -> Job:
    request = VideoRequest("a lighthouse at dusk", duration, "16:9", mode, negative_prompt="fog", audio=True,
                           image_urls=("https://cdn.example/a.png", "https://cdn.example/b.png"))
    return Job(id=f"job{next(_ids):013x}", guild_id=guild_id, channel_id=3001, user_id=user_id, request=request,
               provider="runblob", status=JobStatus.QUEUED, created_at=at, updated_at=at,
               cost=duration if cost is None else cost, **fields)


def quota_service(stores: Stores, clock: FakeClock | None = None, **policy: Any) -> QuotaService:
    values: dict[str, Any] = {"default_user_quota": 60, "default_guild_pool": 0, "period": QuotaPeriod.DAY,
                              "multipliers": {"std": 1, "pro": 2}, "max_active_jobs": 100}
    values.update(policy)
    return QuotaService(store=stores.quotas, moderation=ModerationService(stores.guild_settings),
                        policy=QuotaPolicy(**values), clock=clock or FakeClock(NOW))


async def charge(stores: Stores, quotas: QuotaService, job: Job) -> Job:
    """Insert `job` with its charge, as /video does (through `stores`, which may be another process's)."""
    await stores.jobs.insert(job, quotas.charge_for(job))
    return job


async def outcomes(coroutines: list[Any]) -> tuple[list[Job], list[BaseException]]:
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    return ([r for r in results if isinstance(r, Job)], [r for r in results if isinstance(r, BaseException)])


async def ledger(stores: Stores, guild_id: int = GUILD) -> list[LedgerEntry]:
    """The server's whole ledger, oldest first."""
    entries, _ = await stores.quotas.history(guild_id, None, offset=0, limit=10_000, count_up_to=10_000)
    return entries[::-1]
