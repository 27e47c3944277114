"""JOB_RETENTION_DAYS in the running bot: at start-up, finished jobs past the retention are pruned with
their events, and the credit ledger keeps their rows."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import SystemClock
from bot.core.models import JobStatus
from tests.fakes.discord import FakeDiscord
from tests.harness import ALICE, GUILD, BotHarness, settle


class LaterClock(SystemClock):
    """The real clock, some days on: the bot restarted long after its last jobs."""

    def __init__(self, days: int) -> None:
        self.shift = timedelta(days=days)

    def now(self) -> datetime:
        return super().now() + self.shift


async def delivered_job_id(harness: BotHarness) -> str:
    job = await harness.job_for(await harness.video("a lighthouse in a storm"))
    return (await harness.wait_status(job.id, JobStatus.DELIVERED)).id


async def test_finished_jobs_past_the_retention_are_pruned_at_start_up_and_the_ledger_stays(
        discord_fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    harness = BotHarness(discord_fake, tmp_path, job_retention_days=30)
    await harness.start()
    try:
        old = await delivered_job_id(harness)
        await harness.stop()
        caplog.set_level(logging.INFO, logger="bot.core.retention")

        harness.clock = LaterClock(days=40)
        await harness.start()
        deadline = time.monotonic() + 10
        while await harness.running.store.get(old) is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

        assert await harness.running.store.get(old) is None
        assert await harness.sql("SELECT COUNT(*) FROM job_events WHERE job_id = ?", old) == [(0,)]
        assert await harness.sql("SELECT kind FROM quota_ledger WHERE job_id = ?", old) == [("reserve",)]
        assert "pruned 1 finished job(s) last updated over 30 days ago" in caplog.text
        # The bot carries on as before: a new video is made, delivered and kept.
        new = await delivered_job_id(harness)
        await settle()
        assert [job.id for job in await harness.running.store.recent_for_user(GUILD, ALICE)] == [new]
    finally:
        await harness.stop()


async def test_retention_zero_keeps_every_job(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    harness = BotHarness(discord_fake, tmp_path, job_retention_days=0)
    await harness.start()
    try:
        old = await delivered_job_id(harness)
        await harness.stop()
        harness.clock = LaterClock(days=4000)
        await harness.start()
        await settle(0.5)
        assert await harness.running.store.get(old) is not None
        assert await harness.sql("SELECT COUNT(*) FROM job_events WHERE job_id = ?", old) != [(0,)]
    finally:
        await harness.stop()
