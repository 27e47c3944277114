"""Money through the fake Discord: `/quota spend` after jobs whose provider reported a price, the operator's
SPEND_LIMIT_PER_DAY refusing jobs (twenty at once never overshoot it), and the provider balance watch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import JobStatus
from tests.conftest import runblob_harness
from tests.e2e.commands import HELPER, MOD, STRING, add_moderators, opt, private_reply, slash, video_burst
from tests.fakes.discord import FakeDiscord
from tests.fakes.kling import FakeKling
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, GUILD, BotHarness
from tests.waiting import until

ALERTS = 810000000000000098
PRICES = {"std": "0.10", "pro": "0.20"}  # per second: a 5 s std video is estimated at 0.50
ROOMY: dict[str, Any] = {"default_user_quota": 1000, "max_active_jobs_per_user": 20, "provider_prices": PRICES}


@pytest.fixture
def people(discord_fake: FakeDiscord) -> FakeDiscord:
    add_moderators(discord_fake)
    discord_fake.add_channel(GUILD, ALERTS, "ops")
    return discord_fake


def alerts_in(discord: FakeDiscord) -> list[str]:
    return [message.get("content") or "" for message in discord.messages.get(ALERTS, [])]


async def spend(fake: FakeDiscord, user_id: int = MOD, period: str | None = None) -> str:
    options = [opt("period", STRING, period)] if period else []
    return await private_reply(await slash(fake, user_id, "quota", "spend", *options))


async def test_the_spend_report_after_jobs_with_reported_prices(
    people: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(people, runblob, tmp_path, spend_limit_per_day="5", **ROOMY)
    await harness.start()
    try:
        jobs = [await harness.job_for(await harness.video("a fox", user_id=ALICE)),
                await harness.job_for(await harness.video("a hare", user_id=ALICE, duration=10)),
                await harness.job_for(await harness.video("an owl", user_id=BOB, mode="pro"))]
        for job in jobs:
            await harness.wait_status(job.id, JobStatus.SUBMITTED)
        # The provider reported 0.50 for each at create; a job it has not answered yet counts its estimate.
        runblob.create_delay = 5.0
        pending = await harness.job_for(await harness.video("a lynx", user_id=BOB, duration=15))
        assert pending.status is JobStatus.QUEUED
        text = await spend(people)
        print("\n/quota spend as a moderator sees it:\n" + text)  # for the report
        assert await harness.sql("SELECT reported_cost, estimated_cost FROM jobs WHERE id = ?", jobs[1].id) == [
            (500_000, 1_000_000)]  # micro-units: reported 0.50, estimated 10 s x 0.10
    finally:
        runblob.create_delay = 0.0
        await harness.stop()
    lines = text.splitlines()
    assert lines[0].startswith("**Spend today** on this server (since ")
    assert lines[0].endswith(" UTC): **3.00 USD** for 4 videos")  # 3 x 0.50 reported + 1.50 estimated
    assert lines[1] == "Reported by the provider: 1.50 USD · estimated: 1.50 USD"
    assert lines[2] == f"1. <@{BOB}>: 2.00 USD (2 videos)"
    assert lines[3] == f"2. <@{ALICE}>: 1.00 USD (2 videos)"
    assert lines[4] == "Daily limit: 3.00 USD of 5.00 USD spent today (all servers, UTC day)"
    assert len(lines) == 5  # no balance: runblob has no balance inquiry


async def test_only_moderators_see_spend(people: FakeDiscord, sandbox_bot: BotHarness) -> None:
    refused = await spend(people, ALICE)
    assert "moderator" in refused.lower() and "USD" not in refused
    week = await spend(people, MOD, "week")
    assert week.startswith("**Spend this week** on this server") and "0.00 USD" in week
    assert "no daily limit is set" in week


async def test_a_job_over_the_daily_limit_is_refused_and_the_operator_told_once(
    people: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(people, runblob, tmp_path, spend_limit_per_day="1.20", alert_channel_id=ALERTS,
                              **ROOMY)
    await harness.start()
    try:
        for prompt in ("one", "two"):
            await harness.job_for(await harness.video(prompt))  # 0.50 each
        refused = await private_reply(await harness.video("three"))
        again = await private_reply(await harness.video("four", user_id=BOB))
        await until(lambda: len(alerts_in(people)) >= 1, "the spend limit alert")
        await asyncio.sleep(0.3)  # a second alert would have been sent by now
        used = await harness.sql("SELECT COUNT(*), SUM(amount) FROM quota_ledger WHERE kind = 'reserve'")
    finally:
        await harness.stop()
    assert refused == again
    assert refused.startswith("The bot's operator set a spending limit for each day, and it is reached: this "
                              "video does not fit in what is left today. Nothing was charged. A shorter video or "
                              "a cheaper mode may still fit. The limit resets in ")
    assert used == [(2, 10)]  # the refused jobs charged nothing
    [alert] = alerts_in(people)
    assert alert.startswith("Alert: SPEND_LIMIT_PER_DAY (1.20 USD) is reached for ")
    assert runblob.submit_calls == 2


async def test_twenty_at_once_never_overshoot_the_daily_limit(
    people: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(people, runblob, tmp_path, spend_limit_per_day="1.50", **ROOMY)
    await harness.start()
    try:
        public, private = await video_burst(harness, members=(ALICE, BOB, MOD, HELPER))
        spent = await harness.sql("SELECT SUM(COALESCE(reported_cost, estimated_cost)) FROM jobs "
                                  "WHERE status != 'failed'")
        jobs = await harness.sql("SELECT COUNT(*) FROM jobs")
    finally:
        await harness.stop()
    assert len(public) == 3 and len(private) == 17  # 3 x 0.50 = 1.50, exactly the limit
    assert jobs == [(3,)] and spent == [(1_500_000,)]


async def test_the_kling_balance_is_read_hourly_and_a_low_balance_alerts_once(
    people: FakeDiscord, tmp_path: Path
) -> None:
    fake = FakeKling(auto_complete_after=0.2)
    await fake.start()  # its account has 800 units left
    harness = BotHarness(people, tmp_path, kling_provider="kling", kling_access_key=fake.access_key,
                         kling_secret_key=fake.secret_key, kling_base_url=fake.base_url, alert_channel_id=ALERTS,
                         low_balance_alert="900", provider_unit_price="0.14", **ROOMY)
    try:
        await harness.start()
        await until(lambda: len(alerts_in(people)) == 1, "the low balance alert")
        job = await harness.job_for(await harness.video("a heron"))
        await harness.wait_status(job.id, JobStatus.DELIVERED)
        text = await spend(people)
        await harness.restart()  # read less than an hour ago: not read again, not told again
        await asyncio.sleep(0.3)
        calls = fake.balance_calls
        reported = await harness.sql("SELECT reported_units, reported_cost FROM jobs WHERE id = ?", job.id)
    finally:
        await harness.stop()
        await fake.close()
    assert calls == 1
    assert alerts_in(people) == [
        "Alert: the kling account has 800 units left, below LOW_BALANCE_ALERT (900 units). Top it up before it runs "
        "out: jobs fail (and are refunded) once it is empty."]
    assert reported == [(1_000_000, 140_000)]  # 1 unit reported at completion, at 0.14 USD a unit
    assert "Reported by the provider: 0.14 USD · estimated: 0.00 USD" in text
    assert "Provider balance: 800 units (about 112.00 USD) (read " in text
