"""GET /metrics through the real listener, parsed with prometheus-client's parser: every family the bot
exports, with its type, after real jobs; counts and labels; a registry per Application."""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import Job, JobStatus
from bot.web.metrics import package_version
from tests.conftest import pushed_harness, runblob_harness
from tests.e2e.commands import INTEGER, MOD, USER, add_moderators, opt, private_reply, slash
from tests.e2e.scrape import scrape
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import BOB, BotHarness

UNKNOWN_JOB = "0123456789abcdef"

# Every family the bot exports and its type, as prometheus-client's parser names them (a counter's family
# without `_total`). deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml are checked against
# the same scrape in tests/unit/test_dashboards.py.
FAMILIES = {
    "kling_jobs": "gauge",
    "kling_queue_depth": "gauge",
    "kling_jobs_tracked": "gauge",
    "kling_gateway_up": "gauge",
    "kling_build_info": "gauge",
    "kling_provider_calls": "counter",
    "kling_provider_call_seconds": "histogram",
    "kling_callbacks": "counter",
    "kling_deliveries": "counter",
    "kling_job_duration_seconds": "histogram",
    "kling_queue_wait_seconds": "histogram",
    "kling_credits": "counter",
    "kling_provider_balance": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
    "python_info": "gauge",
}



@pytest.fixture
async def pushed(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    """The bot on runblob with callbacks to its own listener, and moderators in the server."""
    add_moderators(discord_fake)
    harness = pushed_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def job_at_provider(harness: BotHarness, prompt: str) -> Job:
    job = await harness.job_for(await harness.video(prompt))
    return await harness.wait_status(job.id, JobStatus.SUBMITTED)


async def test_every_family_is_exported_with_its_type_and_counts(
    pushed: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    delivered = await job_at_provider(pushed, "a glass city")
    await runblob.finish(delivered.provider_job_id or "")
    delivered = await pushed.wait_status(delivered.id, JobStatus.DELIVERED)
    failed = await job_at_provider(pushed, "a paper moon")
    await runblob.finish(failed.provider_job_id or "", failed="GENERATION_FAILED")
    failed = await pushed.wait_status(failed.id, JobStatus.FAILED)
    granted = await private_reply(await slash(discord_fake, MOD, "quota", "grant", opt("user", USER, BOB),
                                              opt("amount", INTEGER, 7)))
    assert "Granted" in granted

    metrics = await scrape(pushed)

    assert metrics.content_type.startswith("text/plain; version=0.0.4")
    assert {name: metrics.types().get(name) for name in FAMILIES} == FAMILIES
    value = metrics.value
    assert {status: value("kling_jobs", status=status.value) for status in JobStatus} == {
        JobStatus.QUEUED: 0, JobStatus.SUBMITTED: 0, JobStatus.PROCESSING: 0, JobStatus.COMPLETED: 0,
        JobStatus.DELIVERED: 1, JobStatus.FAILED: 1,
    }
    assert value("kling_queue_depth") == 0 and value("kling_jobs_tracked") == 0
    assert value("kling_gateway_up") == 1
    assert value("kling_build_info", version=package_version(), python=platform.python_version(),
                 provider="runblob") == 1
    assert value("kling_provider_calls_total", provider="runblob", call="submit", outcome="ok") == 2
    assert value("kling_provider_call_seconds_count", provider="runblob", call="submit") == 2
    assert value("kling_callbacks_total", outcome="applied") == 2
    assert value("kling_deliveries_total", outcome="attached") == 1
    assert value("kling_deliveries_total", outcome="linked") == 0
    assert value("kling_credits_total", kind="reserve") == delivered.cost + failed.cost == 10
    assert value("kling_credits_total", kind="refund") == failed.cost
    assert value("kling_credits_total", kind="grant") == 7
    assert value("kling_job_duration_seconds_count", provider="runblob", outcome="delivered") == 1
    assert value("kling_job_duration_seconds_count", provider="runblob", outcome="failed") == 1
    assert value("kling_job_duration_seconds_bucket", provider="runblob", outcome="delivered", le="+Inf") == 1
    assert value("kling_queue_wait_seconds_count") == 2
    assert metrics.labels_of("kling_provider_balance") == []  # no provider reports a balance: no series
    assert (value("process_resident_memory_bytes") or 0) > 0
    assert (value("process_open_fds") or 0) > 0
    assert value("process_cpu_seconds_total") is not None


async def test_the_gateway_gauge_follows_the_connection(pushed: BotHarness, discord_fake: FakeDiscord) -> None:
    assert (await scrape(pushed)).value("kling_gateway_up") == 1
    await discord_fake.disconnect_clients(refuse_for=30)  # an outage: reconnecting is refused meanwhile
    deadline = time.monotonic() + 10
    while pushed.running.bot.gateway_connected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert (await scrape(pushed)).value("kling_gateway_up") == 0


async def test_a_provider_balance_appears_once_reported(pushed: BotHarness) -> None:
    pushed.running.metrics.provider_balance("runblob", 1234.5)
    assert (await scrape(pushed)).value("kling_provider_balance", provider="runblob") == 1234.5


async def test_a_refund_written_at_start_up_is_counted(pushed: BotHarness) -> None:
    job = await job_at_provider(pushed, "a lighthouse at dusk")
    await pushed.stop()
    # What a crash between the failure and its refund leaves behind: a failed job with its charge still taken.
    await pushed.sql("UPDATE jobs SET status = 'failed' WHERE id = ?", job.id)
    await pushed.start()
    metrics = await scrape(pushed)
    assert metrics.value("kling_credits_total", kind="refund") == job.cost == 5
    assert metrics.value("kling_credits_total", kind="reserve") == 0  # counters start again with each process


async def test_two_bots_in_one_process_keep_their_own_metrics(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = runblob_harness(discord_fake, runblob, tmp_path / "first")
    second = BotHarness(discord_fake, tmp_path / "second")  # the sandbox
    await first.start()
    try:
        await second.start()
        try:
            app = first.running
            async with aiohttp.ClientSession() as session, \
                    session.post(f"{app.listener_url}{app.signer.path('runblob', UNKNOWN_JOB)}", json={}) as answer:
                assert answer.status == 404
            one, two = await scrape(first), await scrape(second)
        finally:
            await second.stop()
    finally:
        await first.stop()
    assert one.value("kling_callbacks_total", outcome="unknown_job") == 1
    assert two.labels_of("kling_callbacks_total") == []
    assert [labels["provider"] for labels in one.labels_of("kling_build_info")] == ["runblob"]
    assert [labels["provider"] for labels in two.labels_of("kling_build_info")] == ["sandbox"]
    assert (one.value("process_resident_memory_bytes") or 0) > 0
    assert (two.value("process_resident_memory_bytes") or 0) > 0
