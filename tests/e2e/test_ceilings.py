"""The operator's credit ceilings through the fake Discord: no moderator command lifts them, and they say so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.commands import (
    HELPER,
    INTEGER,
    MOD,
    USER,
    add_moderators,
    opt,
    private_reply,
    slash,
    video_burst,
)
from tests.fakes.discord import FakeDiscord
from tests.harness import ALICE, BOB, BotHarness


@pytest.fixture
async def people(discord_fake: FakeDiscord) -> FakeDiscord:
    add_moderators(discord_fake)
    return discord_fake


@pytest.fixture
async def capped(people: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = BotHarness(people, tmp_path, guild_credit_ceiling=50)
    await harness.start()
    yield harness
    await harness.stop()


async def quota(fake: FakeDiscord, user_id: int, path: str, *options: dict[str, Any]) -> str:
    return await private_reply(await slash(fake, user_id, "quota", path, *options))


async def test_twenty_videos_across_members_with_room_for_three_under_the_server_ceiling(
    people: FakeDiscord, tmp_path: Path
) -> None:
    harness = BotHarness(people, tmp_path, default_user_quota=100, guild_credit_ceiling=15,
                         max_active_jobs_per_user=10)
    await harness.start()
    try:
        public, private = await video_burst(harness, members=(ALICE, BOB, MOD, HELPER))
        assert len(public) == 3 and len(private) == 17
        assert all(text.startswith("The limit the bot's operator set for this server leaves 0 of 15 credits today; "
                                   "a 5 s std video costs 5. Resets in ") for text in private)
        assert await harness.sql("SELECT kind, SUM(amount), COUNT(*) FROM quota_ledger GROUP BY kind") == [
            ("reserve", 15, 3)]
        assert await harness.sql("SELECT COUNT(*) FROM jobs") == [(3,)]
    finally:
        await harness.stop()


async def test_a_pool_or_default_above_the_ceiling_works_but_says_so(capped: BotHarness, people: FakeDiscord) -> None:
    pool = await quota(people, MOD, "pool", opt("limit", INTEGER, 1000))
    assert pool.startswith("The shared pool is now **1000** credits a day: **50** left today (0 used).")
    assert pool.endswith("The bot's operator caps this server at 50 credits a day, so at most 50 can be used "
                         "whatever the pool says.")
    default = await quota(people, MOD, "default", opt("limit", INTEGER, 1000))
    assert default == ("Members without a limit of their own now have **1000** credits a day. The bot's operator "
                       "caps this server at 50 credits a day, so at most 50 can be used whatever the members' "
                       "limits say.")
    assert "caps" not in await quota(people, MOD, "default", opt("limit", INTEGER, 40))
    own = await quota(people, MOD, "set", opt("user", USER, BOB), opt("limit", INTEGER, 70))
    assert own.endswith("so at most 50 can be used whatever their limit says.")
    assert "caps" not in await quota(people, MOD, "pool", opt("limit", INTEGER, 30))
    # What moderators set is stored and shown as set; the ceiling is what holds.
    assert [row[0] for row in await capped.sql("SELECT kind FROM quota_ledger ORDER BY id")] == [
        "pool", "default", "default", "limit", "pool"]

    await quota(people, MOD, "pool", opt("limit", INTEGER, 0))
    await quota(people, MOD, "default", opt("limit", INTEGER, 1000))
    await capped.job_for(await capped.video(duration=10))
    off = await quota(people, MOD, "pool")
    assert off == ("This server has no shared pool: members are limited by their own credits (10 used today in "
                   "all). The bot's operator caps this server at 50 credits a day (40 left today).")
    shown = await quota(people, ALICE, "show")
    assert "Remaining **990**" in shown
    assert ("Limits set by the bot's operator leave this server **40** more credits today, so that is the most "
            "you can use.") in shown


async def test_show_says_nothing_of_a_ceiling_that_does_not_bind(capped: BotHarness, people: FakeDiscord) -> None:
    shown = await quota(people, ALICE, "show")  # 60 of her own, under a ceiling of 50: the ceiling binds
    assert "leave this server **50** more credits today" in shown
    await quota(people, MOD, "default", opt("limit", INTEGER, 20))
    assert "operator" not in await quota(people, ALICE, "show")
