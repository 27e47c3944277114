"""Deploys lose nothing: SIGTERM waits for a submit on the wire, refuses new commands meanwhile, and the
job is tracked and posted after the restart."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from bot.core.models import JobStatus
from bot.core.schedule import poll_delay
from tests import postgres
from tests.conftest import runblob_harness
from tests.e2e.commands import private_reply
from tests.e2e.test_kill import BotProcess, bot_process, results, started  # noqa: F401 (fixture)
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import BOB, BotHarness


async def wait_for_create(runblob: FakeRunblob, timeout: float = 10) -> None:
    """Until a create request has reached the fake (and, with `create_delay`, is still unanswered)."""
    deadline = time.monotonic() + timeout
    while runblob.submit_calls == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("no create request reached the provider")
        await asyncio.sleep(0.01)


def ledger_kinds(database: Path) -> list[str]:
    if postgres.e2e_on_postgres():  # the bot's database is this test's PostgreSQL one (tests/postgres.py)
        return [row[0] for row in postgres.run_sql_sync(postgres.database_url(database.parent),
                                                        "SELECT kind FROM quota_ledger ORDER BY id")]
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("SELECT kind FROM quota_ledger ORDER BY id")]


async def test_sigterm_waits_for_the_submit_on_the_wire_and_the_job_is_posted_after_the_restart(
    bot_process: BotProcess, discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path  # noqa: F811
) -> None:
    runblob.create_delay = 1.0
    bot_process.env["SHUTDOWN_GRACE_SECONDS"] = "10"
    await started(bot_process, discord_fake)
    interaction = await BotHarness(discord_fake, tmp_path).video("a paper boat in the rain")
    await interaction.wait_response(timeout=10)
    await wait_for_create(runblob)

    assert bot_process.process is not None
    bot_process.process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(bot_process.process.wait(), timeout=15)
    assert code == 0, bot_process.log.read_text()[-3000:]
    assert bot_process.status() == "submitted"  # answered during the grace period and recorded
    assert ledger_kinds(bot_process.database) == ["reserve"]  # charged once, not refunded

    runblob.create_delay = 0.0
    [fake_job] = await runblob.wait_for_jobs(1)
    runblob.set_state(fake_job.id, "completed")
    await started(bot_process, discord_fake)
    await bot_process.wait_status("delivered")
    await asyncio.sleep(0.3)
    assert len(results(discord_fake)) == 1
    assert runblob.submit_calls == 1


async def test_while_draining_new_commands_are_refused_and_the_submit_is_recorded(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    app = await harness.start()
    try:
        runblob.create_delay = 0.8
        job = await harness.job_for(await harness.video("a lantern floating upward"))
        await wait_for_create(runblob)
        draining = asyncio.create_task(app.drain())
        await asyncio.sleep(0.05)

        refused = await private_reply(await harness.video("one more before the restart"))
        assert "restarting" in refused and "Nothing was charged" in refused

        await asyncio.wait_for(draining, timeout=10)
        recorded = await app.store.get(job.id)
        assert recorded is not None and recorded.status is JobStatus.SUBMITTED
        assert recorded.provider_job_id == runblob.job(0).id and recorded.submitting_since is None
        assert len(await app.store.recent_for_user(recorded.guild_id, recorded.user_id, 10)) == 1
    finally:
        await harness.stop()


async def test_a_queued_job_stays_queued_through_a_drain_and_goes_out_after_the_restart(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, max_concurrent_jobs=1)
    app = await harness.start()
    runblob.create_delay = 0.5
    await harness.job_for(await harness.video("first in line"))
    second = await harness.job_for(await harness.video("waits for a slot", user_id=BOB))
    await wait_for_create(runblob)
    await app.drain()
    await harness.stop()
    assert (await harness.sql("SELECT status, submitting_since FROM jobs WHERE id = ?", second.id)) == [
        ("queued", None)]
    assert runblob.submit_calls == 1

    runblob.create_delay = 0.0
    runblob.set_state(runblob.job(0).id, "completed")  # frees the one slot once the restart sees it
    await harness.start()
    try:
        await harness.wait_status(second.id, JobStatus.SUBMITTED)
        assert runblob.submit_calls == 2
    finally:
        await harness.stop()


async def test_a_stop_that_meets_a_wake_up_ends_the_poll_loop_on_its_first_cancel(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On Python 3.11 `asyncio.wait_for` returns instead of raising when a cancel comes with what it waits for
    (here a wake-up of the poll loop: a new job or a callback). The loops wait with `asyncio.timeout`, so a stop
    that meets a wake-up still ends them at once, without the second cancel bot/core/background.py falls back on."""
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    harness.poll_schedule = poll_delay  # the production schedule: the job's first check is seconds away
    await harness.start()
    try:
        job = await harness.job_for(await harness.video("a kite over the dunes"))
        await harness.wait_status(job.id, JobStatus.SUBMITTED)
        await asyncio.sleep(0.05)
        tracker = harness.running.engine.tracker
        # The poll loop waits, with a deadline, for the job's next check or a wake-up (the wait that lost a cancel).
        assert tracker._heap and tracker._heap[0][0] > tracker.clock.monotonic()
        tracker._wake.set()  # the wake-up and the stop's cancel in the same moment
        await asyncio.wait_for(harness.running.background.stop(), timeout=30)
        assert not [r.getMessage() for r in caplog.records if "did not end within" in r.getMessage()]
    finally:
        await harness.stop()


async def test_a_discord_connection_that_ignores_its_cancel_does_not_hold_the_stop(
    discord_fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.app.STOP_STEP_SECONDS", 0.5)
    harness = BotHarness(discord_fake, tmp_path)
    app = await harness.start()
    release = asyncio.Event()

    async def ignores_its_cancel() -> None:  # the gateway task, had a library under it swallowed the cancel
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    assert app._gateway is not None
    connection = app._gateway
    connection.cancel()
    await asyncio.gather(connection, return_exceptions=True)
    app._gateway = stubborn = asyncio.create_task(ignores_its_cancel())
    try:
        stopping = asyncio.create_task(harness.stop())
        done, _ = await asyncio.wait({stopping}, timeout=20)  # with gather: never
        assert stopping in done and stopping.exception() is None
        assert any("the Discord connection did not end within 0.5 s of being cancelled; going on" in r.getMessage()
                   for r in caplog.records)
        assert not stubborn.done()
    finally:
        release.set()
        await asyncio.wait({stubborn}, timeout=5)
