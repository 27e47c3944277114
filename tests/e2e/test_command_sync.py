"""Slash commands are synced only when their definition changed, copies left in a former DEV_GUILD_ID are
removed once, the command line's sync is remembered, and the invite link is logged at start-up: the real bot
and the real command line against the fake Discord, which records every command PUT."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import cli
from tests import postgres
from tests.admin_cli import settings_env
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind
from tests.harness import GUILD, BotHarness

OTHER_GUILD = 810000000000000099
SYNC_LOGGER = "bot.discord_adapter.command_sync"
UNCHANGED = "commands unchanged; not synced"
# View Channel 1<<10, Send Messages 1<<11, Embed Links 1<<14, Attach Files 1<<15, Read Message History 1<<16,
# Send Messages in Threads 1<<38, written out so that a wrong permission set in the code fails here.
INVITE_PERMISSIONS = (1 << 10) + (1 << 11) + (1 << 14) + (1 << 15) + (1 << 16) + (1 << 38)


def guild_puts(discord: FakeDiscord, guild_id: int = GUILD) -> int:
    path = f"/applications/{discord.application_id}/guilds/{guild_id}/commands"
    return sum(1 for method, p in discord.requests if method == "PUT" and p == path)


def global_puts(discord: FakeDiscord) -> int:
    path = f"/applications/{discord.application_id}/commands"
    return sum(1 for method, p in discord.requests if method == "PUT" and p == path)


def duration_choices(commands: list[dict[str, object]]) -> list[object]:
    video = next(c for c in commands if c["name"] == "video")
    options = video["options"]
    assert isinstance(options, list)
    duration = next(o for o in options if o["name"] == "duration")
    return [choice["value"] for choice in duration["choices"]]


@pytest.fixture
async def segmind() -> AsyncIterator[FakeSegmind]:
    fake = FakeSegmind()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def harness(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    bot = BotHarness(discord_fake, tmp_path)  # the sandbox, commands copied to the dev guild GUILD
    try:
        yield bot
    finally:
        await bot.stop()


def use_segmind(harness: BotHarness, segmind: FakeSegmind) -> None:
    harness.overrides.update(kling_provider="segmind", segmind_api_key=segmind.api_key,
                             segmind_base_url=segmind.base_url)


async def test_a_restart_with_unchanged_commands_makes_no_put(
    harness: BotHarness, discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SYNC_LOGGER)
    await harness.start()
    assert guild_puts(discord_fake) == 1
    assert UNCHANGED not in caplog.text

    await harness.restart()
    await harness.restart()
    assert guild_puts(discord_fake) == 1
    assert global_puts(discord_fake) == 0
    assert caplog.text.count(f"{UNCHANGED} (guild {GUILD})") == 2
    assert {c["name"] for c in discord_fake.guild_commands[GUILD]} == {"video", "jobs", "show", "quota", "moderation",
                                                                     "help", "Animate with Kling", "settings",
                                                                     "queue", "storyboard"}


async def test_global_commands_are_not_synced_again_either(
    harness: BotHarness, discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SYNC_LOGGER)
    harness.overrides["dev_guild_id"] = None
    await harness.start()
    await harness.restart()
    assert global_puts(discord_fake) == 1
    assert guild_puts(discord_fake) == 0
    assert f"{UNCHANGED} (global)" in caplog.text


async def test_a_changed_definition_is_synced_once(
    harness: BotHarness, discord_fake: FakeDiscord, segmind: FakeSegmind
) -> None:
    await harness.start()
    assert duration_choices(discord_fake.guild_commands[GUILD]) == [5, 10, 15]  # the sandbox's

    use_segmind(harness, segmind)  # another provider: /video offers other durations
    await harness.restart()
    assert guild_puts(discord_fake) == 2
    assert duration_choices(discord_fake.guild_commands[GUILD]) == list(range(3, 16))

    await harness.restart()
    assert guild_puts(discord_fake) == 2


async def test_copies_in_a_former_dev_guild_are_removed_once(
    harness: BotHarness, discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SYNC_LOGGER)
    await harness.start()
    assert len(discord_fake.guild_commands[GUILD]) == 10

    harness.overrides["dev_guild_id"] = None  # the operator is done testing
    await harness.restart()
    assert {c["name"] for c in discord_fake.commands} == {"video", "jobs", "show", "quota", "moderation", "help",
                                                      "Animate with Kling", "settings", "queue", "storyboard"}
    assert discord_fake.guild_commands[GUILD] == []  # no longer listed twice in that server
    assert (global_puts(discord_fake), guild_puts(discord_fake)) == (1, 2)
    assert f"removed the commands copied to former DEV_GUILD_ID {GUILD}" in caplog.text

    await harness.restart()
    assert (global_puts(discord_fake), guild_puts(discord_fake)) == (1, 2)  # removed once, then forgotten

    harness.overrides["dev_guild_id"] = GUILD  # back to testing: the copies must come back
    await harness.restart()
    assert guild_puts(discord_fake) == 3
    assert len(discord_fake.guild_commands[GUILD]) == 10


async def test_moving_the_dev_guild_removes_the_copies_from_the_former_one(
    harness: BotHarness, discord_fake: FakeDiscord
) -> None:
    discord_fake.add_guild(OTHER_GUILD, name="Test Lab")
    await harness.start()
    harness.overrides["dev_guild_id"] = OTHER_GUILD
    await harness.restart()
    assert discord_fake.guild_commands[GUILD] == []
    assert len(discord_fake.guild_commands[OTHER_GUILD]) == 10
    assert (guild_puts(discord_fake, GUILD), guild_puts(discord_fake, OTHER_GUILD)) == (2, 1)

    await harness.restart()
    assert (guild_puts(discord_fake, GUILD), guild_puts(discord_fake, OTHER_GUILD)) == (2, 1)
    assert global_puts(discord_fake) == 0


async def test_a_removal_discord_failed_is_tried_again_at_the_next_start(
    harness: BotHarness, discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SYNC_LOGGER)
    await harness.start()
    harness.overrides["dev_guild_id"] = None
    discord_fake.fail_next("PUT", rf"/guilds/{GUILD}/commands$", 503)
    await harness.restart()
    assert len(discord_fake.guild_commands[GUILD]) == 10  # still there
    assert "will try again at the next start" in caplog.text

    await harness.restart()
    assert discord_fake.guild_commands[GUILD] == []
    assert guild_puts(discord_fake) == 3  # the first sync, the failed removal, the removal
    await harness.restart()
    assert guild_puts(discord_fake) == 3


async def test_a_former_dev_guild_without_access_is_forgotten_with_a_warning(
    harness: BotHarness, discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SYNC_LOGGER)
    await harness.start()
    harness.overrides["dev_guild_id"] = None
    discord_fake.fail_next("PUT", rf"/guilds/{GUILD}/commands$", 403, code=50001, message="Missing Access")
    await harness.restart()  # the start goes on
    assert harness.running.bot.is_ready()
    assert f"kling-bot commands clear --guild {GUILD}" in caplog.text
    assert guild_puts(discord_fake) == 2  # the first sync and the refused removal

    await harness.restart()
    assert guild_puts(discord_fake) == 2  # not tried again at every start


async def test_the_command_lines_sync_is_remembered_and_its_clear_forgotten(
    harness: BotHarness, discord_fake: FakeDiscord, segmind: FakeSegmind, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    await harness.start()  # creates the database; synced once
    await harness.stop()

    # The operator switches provider and registers the new /video by hand before starting the bot.
    on_postgres = {"database_url": postgres.database_url(tmp_path)} if postgres.e2e_on_postgres() else {}
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3", kling_provider="segmind",
                 segmind_api_key=segmind.api_key, segmind_base_url=segmind.base_url, **on_postgres)
    assert await cli.run(["commands", "sync", "--guild", str(GUILD)]) == 0
    assert guild_puts(discord_fake) == 2
    assert duration_choices(discord_fake.guild_commands[GUILD]) == list(range(3, 16))

    use_segmind(harness, segmind)
    await harness.start()
    assert guild_puts(discord_fake) == 2  # the command line's sync was recorded: nothing to do
    await harness.stop()

    assert await cli.run(["commands", "clear", "--guild", str(GUILD)]) == 0
    assert discord_fake.guild_commands[GUILD] == []
    await harness.start()
    assert guild_puts(discord_fake) == 4  # cleared, so the start registers them again
    assert len(discord_fake.guild_commands[GUILD]) == 10
    assert "not recorded" not in capsys.readouterr().out


async def test_the_invite_link_is_logged_at_start_up(
    harness: BotHarness, discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord_adapter.client")
    await harness.start()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Invite the bot with: ")]
    assert lines == [
        f"Invite the bot with: https://discord.com/oauth2/authorize?client_id={discord_fake.application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.getMessage() == lines[0])


async def test_a_sync_the_database_cannot_record_is_done_and_said(
    harness: BotHarness, discord_fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await harness.start()
    await harness.stop()
    await harness.sql("PRAGMA user_version = 999")  # written by a newer bot: this one must not touch it
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3")

    assert await cli.run(["commands", "sync", "--guild", str(GUILD)]) == 0
    assert guild_puts(discord_fake) == 2  # Discord has the commands all the same
    out = capsys.readouterr().out
    assert "not recorded in the database" in out and "schema version 999" in out
    assert "will sync the commands again at its next start" in out

    assert await cli.run(["commands", "clear", "--guild", str(GUILD)]) == 0
    assert discord_fake.guild_commands[GUILD] == []
    assert "run `kling-bot commands sync` when you want them back" in capsys.readouterr().out
