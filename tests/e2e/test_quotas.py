"""Credits and the fair queue through the fake Discord: /quota, refusals, bursts, refunds, queue positions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.dispatcher import UNCERTAIN_SUBMIT
from bot.core.models import JobStatus
from bot.core.moderation import NOT_A_MODERATOR
from tests.conftest import runblob_harness
from tests.e2e.commands import INTEGER, MOD, USER, add_moderators, opt, private_reply, slash, video_burst
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness
from tests.waiting import until


@pytest.fixture
async def people(discord_fake: FakeDiscord) -> FakeDiscord:
    add_moderators(discord_fake)
    return discord_fake


@pytest.fixture
async def bot(people: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = BotHarness(people, tmp_path, default_user_quota=30)
    await harness.start()
    yield harness
    await harness.stop()


async def quota(fake: FakeDiscord, user_id: int, path: str, *options: dict[str, Any]) -> str:
    return await private_reply(await slash(fake, user_id, "quota", path, *options))


async def ledger(bot: BotHarness) -> list[tuple[Any, ...]]:
    return await bot.sql("SELECT kind, user_id, actor_id, amount FROM quota_ledger ORDER BY id")


def queue_position(interaction: FakeInteraction) -> str | None:
    message = interaction.response_message
    fields = message["embeds"][0].get("fields", []) if message else []
    return next((f["value"] for f in fields if f["name"] == "Queue position"), None)


# -- /video against the quota --------------------------------------------------------------------------------
async def test_twenty_videos_at_once_with_room_for_three(people: FakeDiscord, tmp_path: Path) -> None:
    harness = BotHarness(people, tmp_path, default_user_quota=15, max_active_jobs_per_user=10)
    await harness.start()
    try:
        public, private = await video_burst(harness)
        assert len(public) == 3 and len(private) == 17
        assert all("Queued" in r["data"]["embeds"][0]["title"] for r in public)
        assert all(text.startswith("You have 0 of 15 credits left today; a 5 s std video costs 5. Resets in ")
                   for text in private)
        rows = await ledger(harness)
        assert rows == [("reserve", ALICE, ALICE, 5)] * 3
        assert await harness.sql("SELECT COUNT(*) FROM jobs") == [(3,)]
    finally:
        await harness.stop()


async def test_limit_zero_and_the_active_job_limit_refuse_privately(people: FakeDiscord, tmp_path: Path) -> None:
    harness = BotHarness(people, tmp_path, sandbox_pending_seconds=60)  # jobs stay in flight
    await harness.start()
    try:
        await quota(people, MOD, "set", opt("user", USER, BOB), opt("limit", INTEGER, 0))
        refused = await harness.video(user_id=BOB)
        assert await private_reply(refused) == (
            "Your video limit on this server is 0 credits, so you cannot make videos here for now. "
            "Ask a moderator if you think that is a mistake.")
        await harness.job_for(await harness.video())
        await harness.job_for(await harness.video())
        third = await harness.video()
        assert await private_reply(third) == (
            "You already have 2 videos in progress, the most one member can have at a time (2). "
            "Try again when one of them is done.")
        assert [row[0] for row in await ledger(harness)] == ["limit", "reserve", "reserve"]
    finally:
        await harness.stop()


def _moderator() -> Any:
    from bot.core.moderation import Actor
    return Actor(GUILD, MOD, permissions=1 << 5)


# -- /quota -------------------------------------------------------------------------------------------------
async def test_quota_show_for_yourself_and_for_moderators_anyone(bot: BotHarness, people: FakeDiscord) -> None:
    job = await bot.job_for(await bot.video(duration=10))
    own = await quota(people, ALICE, "show")
    assert own.startswith("**Your credits** today")
    assert "Used **10** · Remaining **20** · Limit **30** a day (server default)" in own
    assert "Shared pool: none" in own and "Resets <t:" in own and ":R>" in own
    assert await quota(people, ALICE, "show", opt("user", USER, BOB)) == NOT_A_MODERATOR
    other = await quota(people, MOD, "show", opt("user", USER, ALICE))
    assert other.startswith(f"**Credits of <@{ALICE}>** today") and "Used **10**" in other
    assert job.cost == 10


async def test_moderators_set_grant_reset_pool_default_and_read_the_history(
    bot: BotHarness, people: FakeDiscord
) -> None:
    await bot.job_for(await bot.video(duration=10))
    assert "now has a limit of **50**" in await quota(people, MOD, "set", opt("user", USER, ALICE),
                                                      opt("limit", INTEGER, 50))
    assert "Granted <@" in await quota(people, MOD, "grant", opt("user", USER, ALICE), opt("amount", INTEGER, 5))
    assert "Cleared **10** used credits" in await quota(people, MOD, "reset", opt("user", USER, ALICE))
    assert "no shared pool" in await quota(people, MOD, "pool")
    assert "The shared pool is now **500** credits a day" in await quota(people, MOD, "pool",
                                                                          opt("limit", INTEGER, 500))
    # Alice's 10 credits stay spent from the pool: a reset gives the member room, not the server's money back.
    assert "**500** credits a day: **490** left today (10 used)" in await quota(people, MOD, "pool")
    assert "now have **20** credits a day" in await quota(people, MOD, "default", opt("limit", INTEGER, 20))
    balance = await bot.running.quotas.balance(GUILD, ALICE)
    assert (balance.limit, balance.granted, balance.used, balance.pool_limit) == (50, 5, 0, 500)
    assert (await bot.running.quotas.balance(GUILD, BOB)).limit == 20
    assert await ledger(bot) == [
        ("reserve", ALICE, ALICE, 10), ("limit", ALICE, MOD, 50), ("grant", ALICE, MOD, 5),
        ("reset", ALICE, MOD, 10), ("pool", None, MOD, 500), ("default", None, MOD, 20),
    ]
    history = await quota(people, MOD, "history")
    assert history.startswith("**Credit history**: page 1 of 1 (6 entries, newest first)")
    assert f"<@{MOD}> set the default limit to **20**" in history.splitlines()[1]
    for _ in range(10):
        await bot.running.quotas.grant(_moderator(), BOB, 1)
    page_two = await quota(people, MOD, "history", opt("page", INTEGER, 2))
    assert "page 2 of 2" in page_two and "was charged **10**" in page_two
    only_alice = await quota(people, MOD, "history", opt("user", USER, ALICE))
    assert "page 1 of 1 (4 entries" in only_alice


async def test_members_cannot_use_the_moderator_subcommands(bot: BotHarness, people: FakeDiscord) -> None:
    attempts = [
        ("set", opt("user", USER, ALICE), opt("limit", INTEGER, 1000)),
        ("grant", opt("user", USER, ALICE), opt("amount", INTEGER, 1000)),
        ("reset", opt("user", USER, ALICE)),
        ("pool",), ("pool", opt("limit", INTEGER, 0)),
        ("default", opt("limit", INTEGER, 1000)),
        ("history",), ("history", opt("user", USER, BOB)),
    ]
    for path, *options in attempts:
        assert await quota(people, ALICE, path, *options) == NOT_A_MODERATOR, path
    assert await ledger(bot) == []
    assert (await bot.running.quotas.balance(GUILD, ALICE)).limit == 30


async def test_a_reroll_is_charged_to_whoever_clicks(bot: BotHarness, people: FakeDiscord) -> None:
    job = await bot.job_for(await bot.video(duration=10))
    await bot.wait_status(job.id, JobStatus.DELIVERED, timeout=10)
    [post] = bot.results_in(CHANNEL)
    click = await people.click_button(message=post, custom_id=f"kb:reroll:{job.id}", user_id=BOB)
    rerolled = await bot.job_for(click)
    assert rerolled.user_id == BOB and rerolled.cost == 10
    assert (await bot.running.quotas.balance(GUILD, BOB)).used == 10
    assert (await bot.running.quotas.balance(GUILD, ALICE)).used == 10
    await quota(people, MOD, "set", opt("user", USER, BOB), opt("limit", INTEGER, 0))
    again = await people.click_button(message=post, custom_id=f"kb:reroll:{job.id}", user_id=BOB)
    assert "limit on this server is 0 credits" in await private_reply(again)


# -- refunds -----------------------------------------------------------------------------------------------------
async def test_every_failure_path_refunds_exactly_once(people: FakeDiscord, runblob: FakeRunblob,
                                                       tmp_path: Path) -> None:
    harness = runblob_harness(people, runblob, tmp_path, job_timeout_seconds=2, provider_timeout_seconds=0.3,
                              max_active_jobs_per_user=5)
    await harness.start()
    try:
        app = harness.running
        runblob.fail_next("submit", 400, {"detail": "prompt rejected by policy"})  # refused at submit
        refused = await harness.wait_status((await harness.job_for(await harness.video("one"))).id,
                                            JobStatus.FAILED)
        runblob.fail_next("submit", 201, {"generation_id": "late"}, delay=2)  # no answer in time
        uncertain = await harness.wait_status((await harness.job_for(await harness.video("two"))).id,
                                              JobStatus.FAILED)
        assert uncertain.last_error == UNCERTAIN_SUBMIT
        generating = await harness.wait_status((await harness.job_for(await harness.video("three"))).id,
                                               JobStatus.SUBMITTED)
        runblob.set_state(generating.provider_job_id or "", "failed", error="NSFW_CONTENT")
        failed = await harness.wait_status(generating.id, JobStatus.FAILED)
        stuck = await harness.job_for(await harness.video("four"))  # the provider never finishes it
        timed_out = await harness.wait_status(stuck.id, JobStatus.FAILED, timeout=6)
        assert "in time" in (timed_out.last_error or "")

        jobs = [refused, uncertain, failed, timed_out]
        for job in jobs:  # failing again, or refunding again, changes nothing
            assert await app.lifecycle.fail(job.id, JobStatus.QUEUED, "again") is None
            await app.quotas.refund(job, "again")
        rows = await harness.sql("SELECT kind, job_id, amount FROM quota_ledger ORDER BY id")
        assert sorted(rows) == sorted([("reserve", j.id, 5) for j in jobs] + [("refund", j.id, 5) for j in jobs])
        assert (await app.quotas.balance(GUILD, ALICE)).used == 0

        # A stop between the failure and its refund: the refund is made at the next start.
        await harness.stop()
        await harness.sql("DELETE FROM quota_ledger WHERE kind = 'refund' AND job_id = ?", failed.id)
        await harness.start()
        assert await harness.sql("SELECT COUNT(*) FROM quota_ledger WHERE kind = 'refund'") == [(4,)]
        assert (await harness.running.quotas.balance(GUILD, ALICE)).used == 0
    finally:
        await harness.stop()


# -- the fair queue ------------------------------------------------------------------------------------------------
async def test_queue_positions_show_and_move_and_survive_a_restart(
    people: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(people, runblob, tmp_path, max_concurrent_jobs=1)
    await harness.start()
    try:
        first = await harness.job_for(await harness.video("alice one"))
        first = await harness.wait_status(first.id, JobStatus.SUBMITTED)
        alice_two = await harness.video("alice two")
        bob_one = await harness.video("bob one", user_id=BOB)
        await harness.job_for(alice_two), await harness.job_for(bob_one)
        # Bob joined after Alice's burst began, so he goes next.
        await until(lambda: queue_position(bob_one) == "1")
        await until(lambda: queue_position(alice_two) == "2")

        await harness.restart()  # the queue is rebuilt from the database
        assert len(harness.running.dispatcher.queue) == 2
        runblob.set_state(first.provider_job_id or "", "completed")
        await harness.wait_status(first.id, JobStatus.DELIVERED)
        bob_job = await harness.job_for(bob_one)
        await harness.wait_status(bob_job.id, JobStatus.SUBMITTED)
        await until(lambda: queue_position(alice_two) == "1")
        assert [r.body["prompt"] for r in runblob.requests if r.method == "POST"][:2] == ["alice one", "bob one"]
    finally:
        await harness.stop()
