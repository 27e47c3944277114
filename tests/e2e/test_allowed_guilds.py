"""ALLOWED_GUILD_IDS through the fake Discord: the bot leaves other servers, and refuses what comes from them."""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.core.models import JobStatus
from bot.discord_adapter.allowed_guilds import NOT_ENABLED, AllowedServersOnly
from tests.e2e.commands import EPHEMERAL, INTEGER, MOD, STRING, opt, private_reply
from tests.fakes.discord import DEFAULT_MEMBER_PERMISSIONS, FakeDiscord, FakeInteraction
from tests.harness import ALICE, CHANNEL, GUILD, MANAGE_GUILD, BotHarness
from tests.waiting import until

SECOND = 810000000000000101
SECOND_CHANNEL = 810000000000000102
THIRD = 810000000000000201
THIRD_CHANNEL = 810000000000000202


@pytest.fixture
async def two_servers(discord_fake: FakeDiscord) -> FakeDiscord:
    """The operator's server (GUILD) and a stranger's, where MOD has Manage Server and ALICE is a member."""
    discord_fake.add_guild(SECOND, name="Second Club")
    discord_fake.add_channel(SECOND, SECOND_CHANNEL, "lobby")
    discord_fake.add_member(SECOND, ALICE, "alice")
    discord_fake.add_member(SECOND, MOD, "mod", permissions=DEFAULT_MEMBER_PERMISSIONS | MANAGE_GUILD)
    return discord_fake


def global_commands(fake: FakeDiscord, tmp_path: Path, **settings: Any) -> BotHarness:
    """Commands synced globally (no DEV_GUILD_ID), so that they exist in every server, as in production."""
    return BotHarness(fake, tmp_path, dev_guild_id=None, **settings)


async def video_in(fake: FakeDiscord, guild_id: int, channel_id: int, user_id: int = ALICE) -> FakeInteraction:
    return await fake.send_slash_command(guild_id=guild_id, channel_id=channel_id, user_id=user_id, name="video",
                                         options=[opt("prompt", STRING, "a lighthouse at dusk"),
                                                  opt("duration", INTEGER, 5), opt("aspect", STRING, "16:9")])


async def quota_default_in(fake: FakeDiscord, guild_id: int, channel_id: int, limit: int) -> FakeInteraction:
    return await fake.send_slash_command(
        guild_id=guild_id, channel_id=channel_id, user_id=MOD, name="quota",
        options=[{"name": "default", "type": 1, "options": [opt("limit", INTEGER, limit)]}])


async def counts(harness: BotHarness, guild_id: int) -> tuple[int, int, int]:
    """Jobs, ledger rows and server settings recorded for a server."""
    jobs = await harness.sql("SELECT COUNT(*) FROM jobs WHERE guild_id = ?", guild_id)
    ledger = await harness.sql("SELECT COUNT(*) FROM quota_ledger WHERE guild_id = ?", guild_id)
    settings = await harness.sql("SELECT COUNT(*) FROM guild_settings WHERE guild_id = ?", guild_id)
    return jobs[0][0], ledger[0][0], settings[0][0]


# -- leaving ---------------------------------------------------------------------------------------------------
async def test_the_bot_leaves_servers_not_allowed_at_start_up_and_when_it_joins_one(
    two_servers: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    harness = global_commands(two_servers, tmp_path, allowed_guild_ids=str(GUILD))
    await harness.start()
    try:
        bot = harness.running.bot
        await two_servers.wait_for_request("DELETE", rf"^/users/@me/guilds/{SECOND}$")
        await until(lambda: bot.get_guild(SECOND) is None, "the bot to drop the server it left")
        assert two_servers.left_guilds == [SECOND] and SECOND not in two_servers.guilds
        assert bot.get_guild(GUILD) is not None and GUILD in two_servers.guilds
        assert any(r.levelno == logging.WARNING and f"leaving server {SECOND} ('Second Club') at start-up" in
                   r.getMessage() for r in caplog.records)

        two_servers.add_guild(THIRD, name="Drop-in")  # someone adds the bot while it runs
        await two_servers.wait_for_request("DELETE", rf"^/users/@me/guilds/{THIRD}$")
        await until(lambda: two_servers.left_guilds == [SECOND, THIRD], "the bot to leave the new server")
        assert any(r.levelno == logging.WARNING and f"leaving server {THIRD} ('Drop-in') on joining" in
                   r.getMessage() for r in caplog.records)

        # The operator's server is served as before.
        accepted = await video_in(two_servers, GUILD, CHANNEL)
        response = await accepted.wait_response()
        assert not response["data"].get("flags", 0) & EPHEMERAL
        assert (await counts(harness, GUILD))[:2] == (1, 1)
        # Leaving a server the bot is no longer in: Discord's Unknown Guild.
        with pytest.raises(discord.NotFound) as gone:
            await bot.http.leave_guild(SECOND)
        assert gone.value.code == 10004
        with pytest.raises(discord.Forbidden) as no_access:  # its channels are out of reach now
            await bot.http.get_channel(SECOND_CHANNEL)
        assert no_access.value.code == 50001
    finally:
        await harness.stop()
    assert two_servers.internal_errors == []


async def test_without_a_list_the_bot_stays_and_serves_every_server(two_servers: FakeDiscord, tmp_path: Path) -> None:
    harness = global_commands(two_servers, tmp_path)
    await harness.start()
    try:
        two_servers.add_guild(THIRD, name="Drop-in")
        await until(lambda: harness.running.bot.get_guild(THIRD) is not None, "the bot to see the new server")
        response = await (await video_in(two_servers, SECOND, SECOND_CHANNEL)).wait_response()
        assert not response["data"].get("flags", 0) & EPHEMERAL
        assert (await counts(harness, SECOND))[:2] == (1, 1)
        assert two_servers.left_guilds == []
        assert not [r for r in two_servers.requests if r[0] == "DELETE" and "/guilds/" in r[1]]
    finally:
        await harness.stop()


# -- refusing ------------------------------------------------------------------------------------------------
async def test_commands_buttons_and_autocomplete_from_a_server_not_allowed_are_refused(
    two_servers: FakeDiscord, tmp_path: Path
) -> None:
    # The bot first served the second server (no list yet) and posted a video there with its buttons.
    harness = global_commands(two_servers, tmp_path)
    await harness.start()
    try:
        made = await video_in(two_servers, SECOND, SECOND_CHANNEL)
        await made.wait_response()
        [(job_id,)] = await harness.sql("SELECT id FROM jobs WHERE guild_id = ?", SECOND)
        await harness.wait_status(job_id, JobStatus.DELIVERED)
        [post] = harness.results_in(SECOND_CHANNEL)
    finally:
        await harness.stop()
    before = await counts(harness, SECOND)
    assert before == (1, 1, 0)

    # Now the operator sets the list; leaving the second server fails (Discord answers an error), so its
    # members can still reach the bot, and are refused.
    harness.overrides["allowed_guild_ids"] = str(GUILD)
    two_servers.fail_next("DELETE", rf"^/users/@me/guilds/{SECOND}$", 403, code=50001, message="Missing Access")
    await harness.start()
    try:
        await two_servers.wait_for_request("DELETE", rf"^/users/@me/guilds/{SECOND}$")
        assert SECOND in two_servers.guilds

        assert await private_reply(await video_in(two_servers, SECOND, SECOND_CHANNEL)) == NOT_ENABLED
        lift = await quota_default_in(two_servers, SECOND, SECOND_CHANNEL, 1_000_000)  # from a moderator there
        assert await private_reply(lift) == NOT_ENABLED
        reroll = await two_servers.click_button(message=post, custom_id=f"kb:reroll:{job_id}", user_id=ALICE)
        assert await private_reply(reroll) == NOT_ENABLED
        remix = await two_servers.click_button(message=post, custom_id=f"kb:remix:{job_id}", user_id=MOD)
        assert await private_reply(remix) == NOT_ENABLED and remix.modal is None
        typing = await two_servers.send_autocomplete(
            guild_id=SECOND, channel_id=SECOND_CHANNEL, user_id=ALICE, name="video",
            options=[{"name": "prompt", "type": STRING, "value": "a li", "focused": True}])
        assert await typing.wait_response() == {"type": 8, "data": {"choices": []}}

        assert await counts(harness, SECOND) == before  # nothing inserted, charged or changed
        assert (await harness.running.quotas.balance(SECOND, MOD)).limit == 60
        # The operator's own server is unaffected, buttons included.
        response = await (await video_in(two_servers, GUILD, CHANNEL)).wait_response()
        assert not response["data"].get("flags", 0) & EPHEMERAL
    finally:
        await harness.stop()
    assert two_servers.internal_errors == []


async def test_every_component_and_modal_of_the_bot_checks_the_server_first(sandbox_bot: BotHarness) -> None:
    """A new button, select, view or modal class must refuse servers not on the list too."""
    registered = sandbox_bot.running.bot._connection._view_store._dynamic_items.values()  # discord.py's registry
    assert registered and all(issubclass(item, AllowedServersOnly) for item in registered)
    ours = [cls for name, module in list(sys.modules.items()) if name.startswith(("cogs.", "bot."))
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == name and issubclass(cls, discord.ui.Item | discord.ui.View | discord.ui.Modal)]
    assert ours and [cls.__name__ for cls in ours if not issubclass(cls, AllowedServersOnly)] == []
