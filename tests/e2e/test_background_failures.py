"""Background work cannot die silently: a database error inside the poll loop is logged and retried, and
a loop that still dies turns /healthz to 503 naming it and stops the bot with an error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from bot.app import Application
from bot.core.background import BackgroundTaskDied
from bot.core.fair_queue import FairQueue
from bot.core.models import JobStatus
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import BotHarness
from tests.waiting import until

REFUSE_UPDATES = """CREATE TRIGGER refuse_job_updates BEFORE UPDATE ON jobs
BEGIN SELECT RAISE(ABORT, 'the disk is failing'); END"""


async def test_a_database_error_while_timing_out_a_job_does_not_stop_the_poll_loop(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, job_timeout_seconds=1)
    app = await harness.start()
    app.tracker.error_retry_seconds = 0.1
    try:
        job = await harness.job_for(await harness.video("a clock melting slowly"))
        await harness.wait_status(job.id, JobStatus.SUBMITTED)
        await harness.sql(REFUSE_UPDATES)  # a real database error, raised inside the store
        await asyncio.sleep(1.5)  # past the deadline: recording the time-out fails, again and again
        still = await app.store.get(job.id)
        assert still is not None and still.status is JobStatus.SUBMITTED
        assert app.background.dead == {}
        assert app.tracker.tracked_count == 1  # not forgotten before its failure is written

        await harness.sql("DROP TRIGGER refuse_job_updates")
        failed = await harness.wait_status(job.id, JobStatus.FAILED)
        assert "did not finish this video in time" in (failed.last_error or "")
        assert await harness.sql("SELECT kind FROM quota_ledger WHERE job_id = ? ORDER BY id", job.id) == [
            ("reserve",), ("refund",)]
        assert app.tracker.tracked_count == 0
    finally:
        await harness.stop()


class BrokenQueue(FairQueue):
    """A bug outside any one job's handling: the dispatcher loop itself raises."""

    def pop(self) -> str | None:
        raise RuntimeError("a bug in the queue")


async def wait_for_death(app: Application) -> None:
    for _ in range(200):
        if app.background.dead:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("no background task died")


async def test_a_loop_that_dies_turns_health_to_503_naming_it(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    harness = BotHarness(discord_fake, tmp_path)
    app = await harness.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{app.listener_url}/healthz") as response:
                assert response.status == 200 and (await response.json())["dead_tasks"] == {}
            app.dispatcher.queue = BrokenQueue()
            await harness.video("this wakes the dispatcher")
            await wait_for_death(app)
            async with session.get(f"{app.listener_url}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["dead_tasks"] == {"dispatcher": "RuntimeError: a bug in the queue"}
    finally:
        await harness.stop()


async def test_a_loop_that_dies_stops_the_bot_with_an_error(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    app = Application(BotHarness(discord_fake, tmp_path).settings(), guild_ready_timeout=0.05)
    running = asyncio.create_task(app.run_forever())
    try:
        await until(lambda: getattr(app, "dispatcher", None) is not None and app.bot.is_ready(),
                    "the bot to start", timeout=20)
        app.dispatcher.queue = BrokenQueue()
        await BotHarness(discord_fake, tmp_path).video("this wakes the dispatcher")
        # Generous: the bot stops itself (drain, gateway, listener) before the error surfaces, slower under load.
        done, _ = await asyncio.wait({running}, timeout=30)
        assert done, "the bot kept running with a dead dispatcher"
        error = running.exception()
        assert isinstance(error, BackgroundTaskDied) and "dispatcher (RuntimeError: a bug in the queue)" in str(error)
    finally:
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
