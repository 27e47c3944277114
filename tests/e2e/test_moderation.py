"""`/moderation` through the fake Discord: who may use it, and the blocklist and channel rules on /video."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.models import JobStatus
from bot.core.moderation import NOT_A_MODERATOR
from bot.core.ports.repositories import GuildSettings
from tests.e2e.commands import (
    BOOLEAN,
    CHANNEL_OPTION,
    HELPER,
    MOD,
    MOD_ROLE,
    ROLE,
    STRING,
    STUDIO,
    add_moderators,
    opt,
    private_reply,
    slash,
)
from tests.fakes.discord import FakeDiscord
from tests.harness import ALICE, BOB, CHANNEL, GUILD, OTHER_CHANNEL, BotHarness

EVERYONE_SEES_IT = [{"id": str(GUILD), "type": 1, "permission": True}]


@pytest.fixture
async def bot(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    add_moderators(discord_fake)
    harness = BotHarness(discord_fake, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def settings(bot: BotHarness) -> GuildSettings:
    return await bot.running.moderation.settings(GUILD)


async def test_a_moderator_manages_the_blocklist_channels_and_role(bot: BotHarness, discord_fake: FakeDiscord) -> None:
    async def mod(path: str, *options: dict[str, object]) -> str:
        return await private_reply(await slash(discord_fake, MOD, "moderation", path, *options))

    assert await mod("blocklist add", opt("word", STRING, "  Dragon ")) == "Blocked `dragon`."
    assert await mod("blocklist add", opt("word", STRING, "dragon")) == "`dragon` was already blocked."
    assert await mod("blocklist add", opt("word", STRING, "Giant Squid")) == "Blocked `giant squid`."
    assert await mod("blocklist list") == "Blocked: `dragon`, `giant squid`"
    assert await mod("blocklist remove", opt("word", STRING, "GIANT squid")) == "Unblocked `giant squid`."
    assert await mod("channels allow", opt("channel", CHANNEL_OPTION, OTHER_CHANNEL)) == (
        f"Videos can be made in <#{OTHER_CHANNEL}>.")
    assert await mod("channels allow", opt("channel", CHANNEL_OPTION, STUDIO))
    assert await mod("channels list") == f"Videos can be made in <#{OTHER_CHANNEL}>, <#{STUDIO}>."
    assert await mod("channels remove", opt("channel", CHANNEL_OPTION, STUDIO)) == f"Removed <#{STUDIO}>."
    assert "Integrations" in await mod("modrole", opt("role", ROLE, MOD_ROLE))
    assert await mod("modrole") == f"The moderator role is <@&{MOD_ROLE}>."
    current = await settings(bot)
    assert (current.blocked_words, current.video_channels, current.mod_role_id) == (
        ("dragon",), (OTHER_CHANNEL,), MOD_ROLE)
    assert "@everyone cannot be" in await mod("modrole", opt("role", ROLE, GUILD))
    assert "No role" in await mod("modrole", opt("clear", BOOLEAN, True))
    assert (await settings(bot)).mod_role_id is None


async def test_moderation_is_hidden_from_members_and_refused_on_the_server_too(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    await private_reply(await slash(discord_fake, MOD, "moderation", "blocklist add", opt("word", STRING, "dragon")))
    await private_reply(await slash(discord_fake, MOD, "moderation", "channels allow",
                                    opt("channel", CHANNEL_OPTION, CHANNEL)))
    before = await settings(bot)
    with pytest.raises(PermissionError):  # default member permissions: Discord does not offer it to Alice
        await slash(discord_fake, ALICE, "moderation", "blocklist list")

    # A server admin shows the command to everyone (Server Settings -> Integrations): the bot still refuses.
    discord_fake.set_command_permissions(GUILD, "moderation", EVERYONE_SEES_IT)
    attempts = [
        ("blocklist add", opt("word", STRING, "cat")), ("blocklist remove", opt("word", STRING, "dragon")),
        ("blocklist list", None), ("channels allow", opt("channel", CHANNEL_OPTION, OTHER_CHANNEL)),
        ("channels remove", opt("channel", CHANNEL_OPTION, CHANNEL)), ("channels list", None),
        ("modrole", opt("role", ROLE, MOD_ROLE)), ("modrole", None),
    ]
    for path, option in attempts:
        interaction = await slash(discord_fake, ALICE, "moderation", path, *([option] if option else []))
        assert await private_reply(interaction) == NOT_A_MODERATOR, path
    assert await settings(bot) == before


async def test_a_member_with_the_moderator_role_is_a_moderator(bot: BotHarness, discord_fake: FakeDiscord) -> None:
    with pytest.raises(PermissionError):
        await slash(discord_fake, HELPER, "moderation", "blocklist list")
    quota = await slash(discord_fake, HELPER, "quota", "grant", opt("user", 6, ALICE), opt("amount", 4, 10))
    assert await private_reply(quota) == NOT_A_MODERATOR  # not yet: no role is named

    await private_reply(await slash(discord_fake, MOD, "moderation", "modrole", opt("role", ROLE, MOD_ROLE)))
    granted = await slash(discord_fake, HELPER, "quota", "grant", opt("user", 6, ALICE), opt("amount", 4, 10))
    assert "Granted" in await private_reply(granted)  # /quota is visible to all: the server-side check decides
    assert (await bot.running.quotas.balance(GUILD, ALICE)).granted == 10
    with pytest.raises(PermissionError):  # /moderation stays hidden until the admin allows the role
        await slash(discord_fake, HELPER, "moderation", "blocklist list")

    discord_fake.set_command_permissions(GUILD, "moderation", [{"id": str(MOD_ROLE), "type": 1, "permission": True}])
    added = await slash(discord_fake, HELPER, "moderation", "blocklist add", opt("word", STRING, "kraken"))
    assert await private_reply(added) == "Blocked `kraken`."
    with pytest.raises(PermissionError):  # members without the role still do not see it
        await slash(discord_fake, BOB, "moderation", "blocklist list")


async def test_blocked_words_refuse_video_and_remix_before_any_charge(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    await private_reply(await slash(discord_fake, MOD, "moderation", "blocklist add", opt("word", STRING, "Dragon")))
    refused = await bot.video("A red DRAGON, flying over hills")
    assert await private_reply(refused) == "Your prompt contains a blocked word: `dragon`."
    allowed = await bot.video("a dragonfly over a pond")  # whole words only
    job = await bot.job_for(allowed)
    delivered = await bot.wait_status(job.id, JobStatus.DELIVERED, timeout=10)
    [post] = bot.results_in(CHANNEL)

    click = await discord_fake.click_button(message=post, custom_id=f"kb:remix:{delivered.id}", user_id=ALICE)
    assert (await click.wait_response())["type"] == 9
    remix = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE,
                                            custom_id=f"kb:remixed:{delivered.id}",
                                            fields={"prompt": "a dragon over a pond"})
    assert await private_reply(remix) == "Your prompt contains a blocked word: `dragon`."
    ledger = await bot.sql("SELECT kind, job_id FROM quota_ledger")
    assert ledger == [("reserve", job.id)]


async def test_video_only_in_the_chosen_channels(bot: BotHarness, discord_fake: FakeDiscord) -> None:
    for channel in (STUDIO, OTHER_CHANNEL):
        await private_reply(await slash(discord_fake, MOD, "moderation", "channels allow",
                                        opt("channel", CHANNEL_OPTION, channel)))
    refused = await bot.video(channel_id=CHANNEL)
    assert await private_reply(refused) == f"Videos can be made in <#{OTHER_CHANNEL}>, <#{STUDIO}>."
    accepted = await bot.video(channel_id=OTHER_CHANNEL)
    response = await accepted.wait_response()
    assert not response["data"].get("flags") and "Queued" in response["data"]["embeds"][0]["title"]
    assert await bot.sql("SELECT COUNT(*) FROM quota_ledger") == [(1,)]
