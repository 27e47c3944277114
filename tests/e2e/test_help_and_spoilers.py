"""`/help`, the blocklist's autocomplete for `/moderation blocklist remove`, and spoiler channels: results
posted there carry their video as a spoiler (Discord marks it by the `SPOILER_` filename prefix)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.models import JobStatus
from tests.conftest import runblob_harness
from tests.e2e.commands import (
    BOOLEAN,
    CHANNEL_OPTION,
    MOD,
    STRING,
    add_moderators,
    opt,
    private_reply,
    slash,
)
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import fake_video
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, CHANNEL, GUILD, OTHER_CHANNEL, BotHarness


@pytest.fixture
async def bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    add_moderators(discord_fake)
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def finished(bot: BotHarness, runblob: FakeRunblob, channel_id: int) -> None:
    job = await bot.wait_status((await bot.job_for(await bot.video(channel_id=channel_id))).id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id or "", "completed")
    await bot.wait_status(job.id, JobStatus.DELIVERED)


async def test_help_tells_a_member_what_the_bot_does_their_credits_and_prompt_tips(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    asked = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="help")
    text = await private_reply(asked)
    assert "/video" in text and "Animate with Kling" in text and "Re-roll" in text
    assert "Used **0** · Remaining **60**" in text  # the member's own credits (/quota show)
    assert "Prompt tips" in text and len(text) <= 2000


async def test_blocklist_remove_suggests_the_servers_blocked_words_as_typed(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    for word in ("gore", "blood", "goblin king"):
        await private_reply(await slash(discord_fake, MOD, "moderation", "blocklist add", opt("word", STRING, word)))

    async def typing(user_id: int, typed: str) -> list[str]:
        typed_option = {"name": "word", "type": STRING, "value": typed, "focused": True}
        sent = await discord_fake.send_autocomplete(
            guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, name="moderation",
            options=[{"name": "blocklist", "type": 2, "options": [
                {"name": "remove", "type": 1, "options": [typed_option]}]}])
        response = await sent.wait_response()
        assert response["type"] == 8
        return [choice["value"] for choice in response["data"]["choices"]]

    assert await typing(MOD, "go") == ["goblin king", "gore"]
    assert await typing(MOD, "LO") == ["blood"]
    assert await typing(MOD, "o") == ["blood", "goblin king", "gore"]
    assert await typing(MOD, "") == ["blood", "goblin king", "gore"]
    assert await typing(ALICE, "go") == []  # the list is the moderators'


async def test_results_in_a_spoiler_channel_are_spoilers(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    turned_on = await slash(discord_fake, MOD, "moderation", "channels spoiler",
                            opt("channel", CHANNEL_OPTION, OTHER_CHANNEL), opt("on", BOOLEAN, True))
    assert "posted as spoilers now" in await private_reply(turned_on)
    assert (await bot.running.moderation.settings(GUILD)).spoiler_channels == {OTHER_CHANNEL}

    await finished(bot, runblob, OTHER_CHANNEL)
    await finished(bot, runblob, CHANNEL)
    [spoiled] = bot.results_in(OTHER_CHANNEL)
    [plain] = bot.results_in(CHANNEL)
    assert spoiled["attachments"][0]["filename"].startswith("SPOILER_kling-")
    assert plain["attachments"][0]["filename"].startswith("kling-")

    listed = await slash(discord_fake, MOD, "moderation", "channels list")
    assert f"spoilers in <#{OTHER_CHANNEL}>" in await private_reply(listed)
    turned_off = await slash(discord_fake, MOD, "moderation", "channels spoiler",
                             opt("channel", CHANNEL_OPTION, OTHER_CHANNEL), opt("on", BOOLEAN, False))
    assert "shown as usual now" in await private_reply(turned_off)
    await finished(bot, runblob, OTHER_CHANNEL)
    assert bot.results_in(OTHER_CHANNEL)[-1]["attachments"][0]["filename"].startswith("kling-")


async def test_a_too_large_result_in_a_spoiler_channel_hides_its_link(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    await private_reply(await slash(discord_fake, MOD, "moderation", "channels spoiler",
                                    opt("channel", CHANNEL_OPTION, CHANNEL), opt("on", BOOLEAN, True)))
    discord_fake.guilds[GUILD].filesize_limit = 64 * 1024
    runblob.video = fake_video(256 * 1024)
    await finished(bot, runblob, CHANNEL)
    [post] = bot.results_in(CHANNEL)
    assert post["attachments"] == [] and "||http" in post["content"] and post["content"].rstrip().count("||") >= 2


async def test_only_moderators_choose_spoiler_channels(bot: BotHarness, discord_fake: FakeDiscord) -> None:
    discord_fake.set_command_permissions(GUILD, "moderation", [{"id": str(GUILD), "type": 1, "permission": True}])
    refused = await slash(discord_fake, ALICE, "moderation", "channels spoiler",
                          opt("channel", CHANNEL_OPTION, CHANNEL), opt("on", BOOLEAN, True))
    assert "Only moderators" in await private_reply(refused)
    assert (await bot.running.moderation.settings(GUILD)).spoiler_channels == frozenset()
