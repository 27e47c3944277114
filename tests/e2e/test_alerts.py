"""Operator alerts where the operator reads them: the real bot against the fake Discord and the fake runblob,
posting to an alert channel (ALERT_CHANNEL_ID) and to a webhook on loopback (ALERT_WEBHOOK_URL). One message
when an incident opens and one when it clears, whatever the number of jobs; a sink that fails never breaks
a job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import Application
from bot.core.background import BackgroundTaskDied
from bot.core.models import DeliveryOutcome, JobStatus
from tests.clock import FastSleepClock
from tests.conftest import runblob_harness
from tests.e2e.test_background_failures import BrokenQueue
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import GUILD, BotHarness, settle
from tests.waiting import until

ALERT_CHANNEL = 810000000000000099
ROOMY = {"default_user_quota": 1000, "max_active_jobs_per_user": 10}


@pytest.fixture
def alert_channel(discord_fake: FakeDiscord) -> int:
    discord_fake.add_channel(GUILD, ALERT_CHANNEL, "ops")
    return ALERT_CHANNEL


def alerts_in(discord: FakeDiscord) -> list[str]:
    return [message.get("content") or "" for message in discord.messages.get(ALERT_CHANNEL, [])]


async def jobs_end(harness: BotHarness, prompts: list[str], status: JobStatus) -> list[str]:
    interactions = [await harness.video(prompt) for prompt in prompts]
    jobs = [await harness.job_for(interaction) for interaction in interactions]
    for job in jobs:
        await harness.wait_status(job.id, status)
    return [job.id for job in jobs]


class WebhookReceiver:
    """A little JSON endpoint on loopback, standing in for a Discord or Slack webhook."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answer = 204
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/webhooks/1234/secret-webhook-token", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/webhooks/1234/secret-webhook-token"

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append({"content_type": request.content_type, "body": await request.json()})
        return web.Response(status=self.answer)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.close()


# -- the provider ------------------------------------------------------------------------------------------
async def test_five_jobs_refused_for_credits_give_one_alert_and_a_submit_clears_it(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, alert_channel: int
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_channel_id=alert_channel, **ROOMY)
    await harness.start()
    try:
        runblob.fail_next("submit", 402, {"detail": "Insufficient credits"}, times=5)
        await jobs_end(harness, [f"a fox, take {n}" for n in range(5)], JobStatus.FAILED)
        await until(lambda: len(alerts_in(discord_fake)) == 1, "the credits alert")
        await jobs_end(harness, ["after the top-up"], JobStatus.SUBMITTED)
        await until(lambda: len(alerts_in(discord_fake)) == 2, "the credits clear")
        await settle()
    finally:
        await harness.stop()
    assert alerts_in(discord_fake) == [
        "Alert: the runblob account refused a job for lack of credits. Top up the runblob account; new jobs fail "
        "(and are refunded) until then.",
        "Cleared: runblob accepted a job again, so the account has credits.",
    ]
    assert runblob.api_key not in " ".join(alerts_in(discord_fake))


async def test_a_refused_key_alerts_once_and_the_next_good_call_clears_it_even_after_a_restart(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, alert_channel: int
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_channel_id=alert_channel, **ROOMY)
    await harness.start()
    try:
        runblob.fail_next("submit", 401, {"detail": "Not authenticated"}, times=4)
        await jobs_end(harness, ["one", "two", "three"], JobStatus.FAILED)
        await until(lambda: len(alerts_in(discord_fake)) == 1, "the key alert")
        await harness.restart()  # the operator restarts the bot to change the key; a refusal after that is known
        await jobs_end(harness, ["still refused"], JobStatus.FAILED)
        await jobs_end(harness, ["with the key fixed"], JobStatus.SUBMITTED)
        await until(lambda: len(alerts_in(discord_fake)) == 2, "the key clear")
        await settle()
    finally:
        await harness.stop()
    assert alerts_in(discord_fake) == [
        "Alert: runblob refused the bot's API key (HTTP 401). Check the runblob key the bot is configured with "
        "(`kling-bot check` tests it), then restart the bot; new jobs fail (and are refunded) until then.",
        "Cleared: runblob accepts the bot's API key again.",
    ]


async def test_a_provider_down_past_the_window_alerts_once_and_recovery_clears_it(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, alert_channel: int
) -> None:
    # Retry delays 100 times shorter (2, 5, 10, 20, 30, 60 s become 20 to 600 ms), the window 150 ms.
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_channel_id=alert_channel)
    harness.clock = FastSleepClock()
    app = await harness.start()
    app.engine.incidents.provider.down_after = 0.15
    try:
        runblob.fail_next("submit", 503, {"detail": "Service Unavailable"}, times=6)
        [job_id] = await jobs_end(harness, ["through the outage"], JobStatus.SUBMITTED)
        await until(lambda: len(alerts_in(discord_fake)) == 2, "the down alert and its clear")
        await settle()
    finally:
        await harness.stop()
    assert runblob.submit_calls == 7
    down, cleared = alerts_in(discord_fake)
    assert down.startswith("Alert: runblob has been failing or unreachable for over 1 second (last error: "
                           "provider_down: ")
    assert "Jobs wait and are retried" in down and "Check runblob's status page" in down
    assert cleared.startswith("Cleared: runblob answers again (it was failing for ")
    assert job_id not in down


async def test_jobs_failed_for_reconciliation_are_named_in_one_message(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, alert_channel: int
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_channel_id=alert_channel, **ROOMY)
    app = await harness.start()
    app.engine.incidents.reconciliation.batch_seconds = 0.5
    try:
        # A gateway timeout: the provider may have started the job, so the bot fails it for reconciliation.
        runblob.fail_next("submit", 504, {"detail": "Gateway Timeout"}, times=2)
        job_ids = await jobs_end(harness, ["a made one", "a lost one"], JobStatus.FAILED)
        await until(lambda: len(alerts_in(discord_fake)) == 1, "the reconciliation alert")
        await settle()
    finally:
        await harness.stop()
    [alert] = alerts_in(discord_fake)
    assert alert.startswith("Alert: 2 jobs need reconciliation: the bot could not tell whether runblob started them")
    assert "`kling-bot reconcile JOB --failed`" in alert
    assert all(job_id in alert for job_id in job_ids)


# -- the bot itself ----------------------------------------------------------------------------------------
async def test_a_loop_death_is_told_once_after_the_restart(
    discord_fake: FakeDiscord, tmp_path: Path, alert_channel: int
) -> None:
    first = Application(BotHarness(discord_fake, tmp_path, alert_channel_id=alert_channel).settings(),
                        guild_ready_timeout=0.05)
    running = asyncio.create_task(first.run_forever())
    try:
        await until(lambda: getattr(first, "dispatcher", None) is not None and first.bot.is_ready(), "the bot ready")
        first.dispatcher.queue = BrokenQueue()
        await BotHarness(discord_fake, tmp_path).video("this wakes the dispatcher")
        done, _ = await asyncio.wait({running}, timeout=10)
        assert done and isinstance(running.exception(), BackgroundTaskDied)
    finally:
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert alerts_in(discord_fake) == []  # told at the next start, by the bot that runs again

    harness = BotHarness(discord_fake, tmp_path, alert_channel_id=alert_channel)
    await harness.start()
    try:
        await until(lambda: len(alerts_in(discord_fake)) == 1, "the restart alert")
        await harness.restart()
        await settle()
    finally:
        await harness.stop()
    [alert] = alerts_in(discord_fake)
    assert alert.startswith("Alert: the bot restarted after dispatcher died: RuntimeError: a bug in the queue (at ")
    assert "No jobs were lost." in alert


async def test_a_disk_nearly_full_alerts_once_and_clears_when_a_check_passes(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, alert_channel: int
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_channel_id=alert_channel, **ROOMY)
    app = await harness.start()
    runblob.auto_complete_after = 0.05
    try:
        app.delivery.free_space_margin = 1 << 62  # no disk has this much free
        await jobs_end(harness, ["one on a full disk", "another on a full disk"], JobStatus.DELIVERED)
        await until(lambda: len(alerts_in(discord_fake)) == 1, "the disk alert")
        app.delivery.free_space_margin = 0
        [job_id] = await jobs_end(harness, ["space again"], JobStatus.DELIVERED)
        await until(lambda: len(alerts_in(discord_fake)) == 2, "the disk clear")
        delivered = await app.store.get(job_id)
        await settle()
    finally:
        await harness.stop()
    assert delivered is not None and delivered.delivery_outcome is DeliveryOutcome.ATTACHED
    work_dir = tmp_path / "tmp"
    alert, cleared = alerts_in(discord_fake)
    assert alert.startswith(f"Alert: the disk holding {work_dir} is nearly full (")
    assert "Videos are posted as the provider's expiring links instead of files until there is room." in alert
    assert cleared == f"Cleared: the disk holding {work_dir} has room again; videos are downloaded and attached again."


# -- the sinks ---------------------------------------------------------------------------------------------
async def test_the_webhook_receives_the_alert_as_json_for_discord_and_slack(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_webhook_url=webhook.url, **ROOMY)
    await harness.start()
    try:
        runblob.fail_next("submit", 402, {"detail": "Insufficient credits"}, times=2)
        await jobs_end(harness, ["one", "two"], JobStatus.FAILED)
        await until(lambda: len(webhook.received) == 1, "the webhook call")
        await settle()
    finally:
        await harness.stop()
    [call] = webhook.received
    text = ("Alert: the runblob account refused a job for lack of credits. Top up the runblob account; new jobs "
            "fail (and are refunded) until then.")
    assert call == {"content_type": "application/json", "body": {"content": text, "text": text}}


async def test_failing_sinks_never_break_a_job(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, alert_channel: int, webhook: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    webhook.answer = 500
    discord_fake.delete_channel(alert_channel)
    harness = runblob_harness(discord_fake, runblob, tmp_path, alert_channel_id=alert_channel,
                              alert_webhook_url=webhook.url, **ROOMY)
    app = await harness.start()
    runblob.auto_complete_after = 0.05
    try:
        runblob.fail_next("submit", 402, {"detail": "Insufficient credits"}, times=2)
        refused = await jobs_end(harness, ["one", "two"], JobStatus.FAILED)
        await until(lambda: len(webhook.received) == 1, "the webhook call")
        [delivered] = await jobs_end(harness, ["after the top-up"], JobStatus.DELIVERED)
        await until(lambda: len(webhook.received) == 2, "the clear, also refused")
        await app.alerts.drained()
        refunds = await harness.sql("SELECT job_id FROM quota_ledger WHERE kind = 'refund' ORDER BY id")
    finally:
        await harness.stop()
    assert sorted(row[0] for row in refunds) == sorted(refused)  # the refused jobs failed and were refunded
    assert len(harness.results_in()) == 1 and delivered
    assert alerts_in(discord_fake) == []
    failures = [r.getMessage() for r in caplog.records if "could not send an alert" in r.getMessage()]
    assert "could not send an alert through WebhookAlerts: the webhook answered HTTP 500" in failures
    assert any(f.startswith("could not send an alert through DiscordChannelAlerts: 404 Not Found") for f in failures)
    assert not any("secret-webhook-token" in r.getMessage() for r in caplog.records)
