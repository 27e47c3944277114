"""Commands for servers only, and the bot's own permissions checked before anything is charged; /video in a
thread. Through the fake Discord and a real discord.py client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.models import JobStatus
from tests.e2e.commands import private_reply
from tests.fakes.discord import ATTACH_FILES, EMBED_LINKS, SEND_MESSAGES, SEND_MESSAGES_IN_THREADS, FakeDiscord
from tests.harness import ALICE, BOB, CHANNEL, GUILD, OTHER_CHANNEL, BotHarness

THREAD = 810000000000000040
MY_COMMANDS = {"video", "jobs", "show", "quota", "moderation"}


async def charged_rows(harness: BotHarness) -> list[tuple[int]]:
    return await harness.sql("SELECT COUNT(*) FROM quota_ledger WHERE kind = 'reserve'")


# -- installs and contexts -----------------------------------------------------------------------------------
@pytest.fixture
async def global_commands_bot(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    """Commands synced globally, as in production (no DEV_GUILD_ID)."""
    harness = BotHarness(discord_fake, tmp_path, dev_guild_id=None)
    await harness.start()
    yield harness
    await harness.stop()


async def test_every_command_is_for_server_installs_and_servers_only(global_commands_bot: BotHarness,
                                                                      discord_fake: FakeDiscord) -> None:
    synced = {command["name"]: command for command in discord_fake.commands}
    assert set(synced) >= MY_COMMANDS
    for name, command in synced.items():
        assert command["integration_types"] == [0], name
        assert command["contexts"] == [0], name
    # Discord's client offers none of them through a member's own install, nor in a DM with the bot.
    with pytest.raises(PermissionError, match="user"):
        await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="jobs",
                                              user_install=True)
    with pytest.raises(PermissionError, match="DMs"):
        await discord_fake.send_slash_command(guild_id=None, channel_id=0, user_id=ALICE, name="jobs")
    allowed = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="jobs")
    assert "no video jobs yet" in await private_reply(allowed)


# -- the bot's own permissions ---------------------------------------------------------------------------------
async def test_video_where_the_bot_cannot_attach_files_is_refused_naming_it(
    sandbox_bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    discord_fake.deny_bot_permissions(OTHER_CHANNEL, ATTACH_FILES)
    refused = await sandbox_bot.video(channel_id=OTHER_CHANNEL)
    assert await private_reply(refused) == (
        "I can't post here: I'm missing Attach Files in this channel. Ask a moderator to give me that "
        "permission, or use another channel.")
    assert await charged_rows(sandbox_bot) == [(0,)]
    assert await sandbox_bot.sql("SELECT COUNT(*) FROM jobs") == [(0,)]
    assert discord_fake.messages[OTHER_CHANNEL] == [refused.response_message]  # only the private answer

    discord_fake.deny_bot_permissions(OTHER_CHANNEL, ATTACH_FILES | EMBED_LINKS)
    assert "I'm missing Embed Links and Attach Files in this channel. Ask a moderator to give me those " \
           "permissions" in await private_reply(await sandbox_bot.video(channel_id=OTHER_CHANNEL))

    discord_fake.deny_bot_permissions(OTHER_CHANNEL, 0)  # the moderator fixed it
    job = await sandbox_bot.job_for(await sandbox_bot.video(channel_id=OTHER_CHANNEL))
    assert job.channel_id == OTHER_CHANNEL and await charged_rows(sandbox_bot) == [(1,)]


async def test_reroll_is_refused_the_same_way_in_such_a_channel(sandbox_bot: BotHarness,
                                                                discord_fake: FakeDiscord) -> None:
    original = await sandbox_bot.job_for(await sandbox_bot.video("a tin robot"))
    await sandbox_bot.wait_status(original.id, JobStatus.DELIVERED)
    [post] = sandbox_bot.results_in(CHANNEL)
    discord_fake.deny_bot_permissions(CHANNEL, SEND_MESSAGES)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    assert "I'm missing Send Messages in this channel" in await private_reply(click)
    assert await charged_rows(sandbox_bot) == [(1,)]  # only the original


# -- threads ---------------------------------------------------------------------------------------------------
async def test_video_in_a_thread_posts_its_status_and_result_there(sandbox_bot: BotHarness,
                                                                   discord_fake: FakeDiscord) -> None:
    discord_fake.add_thread(GUILD, THREAD, CHANNEL, "fox ideas")
    # The parent channel takes no plain messages from the bot; a thread needs Send Messages in Threads only.
    discord_fake.deny_bot_permissions(CHANNEL, SEND_MESSAGES)
    interaction = await sandbox_bot.video("a fox in a thread", channel_id=THREAD)
    job = await sandbox_bot.job_for(interaction)
    assert job.channel_id == THREAD
    assert interaction.response_message is not None and interaction.response_message["channel_id"] == str(THREAD)
    await sandbox_bot.wait_status(job.id, JobStatus.DELIVERED)
    [result] = sandbox_bot.results_in(THREAD)
    assert result["message_reference"]["message_id"] == str(job.status_message_id)
    assert sandbox_bot.results_in(CHANNEL) == []


async def test_a_thread_where_the_bot_may_not_post_is_refused_naming_it(sandbox_bot: BotHarness,
                                                                        discord_fake: FakeDiscord) -> None:
    discord_fake.add_thread(GUILD, THREAD, CHANNEL, "quiet thread")
    discord_fake.deny_bot_permissions(CHANNEL, SEND_MESSAGES_IN_THREADS)  # threads follow their channel
    refused = await sandbox_bot.video(channel_id=THREAD)
    assert await private_reply(refused) == (
        "I can't post here: I'm missing Send Messages in Threads in this thread. Ask a moderator to give me "
        "that permission, or use another channel.")
    assert await charged_rows(sandbox_bot) == [(0,)]
