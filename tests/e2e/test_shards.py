"""Discord sharding (SHARD_COUNT, SHARD_IDS): the real bot on an AutoShardedBot against the fake Discord, which
routes each guild's events to the connection of its shard, `(guild_id >> 22) % shard_count`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import JobStatus
from bot.discord_adapter.client import ShardedKlingBot
from bot.i18n import Lang
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, CHANNEL, GUILD, BotHarness, settle
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]
READY = "your video is ready"
WIDE_CHANNEL = 820000000000000002  # the channel of the guild on shard 1

VIDEO = [
    {"name": "prompt", "type": 3, "value": "a kite over dunes"},
    {"name": "duration", "type": 4, "value": 5},
    {"name": "aspect", "type": 3, "value": "16:9"},
]


def guild_on_shard_one(discord: FakeDiscord) -> FakeGuild:
    """A second server, on shard 1 of 2 (the harness's GUILD is on shard 0)."""
    assert discord.shard_of(GUILD, 2) == 0
    guild = discord.add_guild_on_shard(1, 2, name="Film Club")
    discord.add_channel(guild.id, WIDE_CHANNEL, "films")
    discord.add_member(guild.id, ALICE, "alice")
    return guild


def ready_videos(discord: FakeDiscord, channel_id: int) -> list[dict[str, object]]:
    return [m for m in discord.messages.get(channel_id, []) if READY in str(m.get("content") or "")]


async def test_two_shards_in_one_process_answer_video_in_a_server_of_each(
    discord_fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    discord_fake.max_concurrency = 16  # a large bot's identify buckets: both shards may IDENTIFY at once
    discord_fake.recommended_shards = 3
    wide = guild_on_shard_one(discord_fake)
    harness = BotHarness(discord_fake, tmp_path, shard_count=2, dev_guild_id=None)  # global commands
    caplog.set_level(logging.INFO, logger="bot.discord_adapter.client")
    app = await harness.start()
    try:
        bot = app.bot
        assert isinstance(bot, ShardedKlingBot)
        assert discord_fake.identified_shards == [(0, 2), (1, 2)]
        assert sorted(bot.shards) == [0, 1] and bot.gateway_connected
        known = {guild.id: guild.shard_id for guild in bot.guilds}
        assert known == {GUILD: 0, wide.id: 1}
        assert "running shards 0, 1 of 2 (identify concurrency 16)" in caplog.text
        assert "Discord recommends 3 shards; SHARD_COUNT is 2 (raise it before Discord requires it)" in caplog.text
        async with aiohttp.ClientSession() as session, session.get(f"{app.listener_url}/healthz") as answer:
            assert answer.status == 200 and (await answer.json())["gateway"] is True

        here = await harness.video("a kite over dunes")
        there = await discord_fake.send_slash_command(guild_id=wide.id, channel_id=WIDE_CHANNEL, user_id=ALICE,
                                                      name="video", options=VIDEO)
        await here.wait_response()
        await there.wait_response()
        assert (here.shard, there.shard) == ((0, 2), (1, 2))
        await discord_fake.wait_for_message(CHANNEL, lambda m: READY in (m.get("content") or ""), timeout=15)
        await discord_fake.wait_for_message(WIDE_CHANNEL, lambda m: READY in (m.get("content") or ""), timeout=15)
        await settle(0.3)
        assert len(ready_videos(discord_fake, CHANNEL)) == 1 and len(ready_videos(discord_fake, WIDE_CHANNEL)) == 1

        await discord_fake.disconnect_clients()  # an outage: each shard resumes its own session
        await until(lambda: discord_fake.gateway_resumes == 2 and bot.gateway_connected, "both shards to resume")
        again = await discord_fake.send_slash_command(guild_id=wide.id, channel_id=WIDE_CHANNEL, user_id=ALICE,
                                                      name="help")
        await again.wait_response()
        assert again.shard == (1, 2) and discord_fake.identified_shards == [(0, 2), (1, 2)]
        assert discord_fake.undelivered == []
    finally:
        await harness.stop()


async def test_a_process_of_shard_1_gets_nothing_of_shard_0_yet_delivers_there_by_rest(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    discord_fake.max_concurrency = 16
    wide = guild_on_shard_one(discord_fake)
    harness = runblob_harness(discord_fake, runblob, tmp_path, shard_count=2, dev_guild_id=None)
    await harness.start()
    # The first run (both shards) takes a job in the server of shard 0; it finishes while the bot is down.
    job = await harness.job_for(await harness.video("a tram in the rain"))
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    # Shard 0's server is boosted and German: the process of shard 1 has no gateway copy of it to say so.
    discord_fake.guilds[GUILD].premium_tier = 3
    discord_fake.set_guild_locale(GUILD, "de")
    await harness.stop()
    runblob.set_state(job.provider_job_id, "completed")

    requests_before = len(discord_fake.requests)
    harness.overrides["shard_ids"] = "1"
    app = await harness.start()
    try:
        assert discord_fake.identified_shards[-1] == (1, 2) and len(discord_fake.identified_shards) == 3
        assert [guild.id for guild in app.bot.guilds] == [wide.id]  # shard 0's server is not known here
        # The recovered job of shard 0's server is posted from this process all the same: REST, any shard.
        await harness.wait_status(job.id, JobStatus.DELIVERED)
        # ... in that server's language and with its upload limit, as Discord's REST API gives them.
        ready = Lang("de").t("result.ready", mention=f"<@{ALICE}>")
        assert [m["content"] for m in discord_fake.messages[CHANNEL] if m.get("attachments")] == [ready]
        assert await app.publisher.upload_limit(GUILD) == 100 * 1024 * 1024
        # Commands are global: the process running shard 0 registers them, not this one.
        assert not any(method == "PUT" and "/commands" in path
                       for method, path in discord_fake.requests[requests_before:])

        lost = await harness.video("a boat at night")  # from shard 0's server: no connection of its shard
        answered = await discord_fake.send_slash_command(guild_id=wide.id, channel_id=WIDE_CHANNEL, user_id=ALICE,
                                                         name="video", options=VIDEO)
        await answered.wait_response()
        assert answered.shard == (1, 2)
        await settle(0.3)
        assert lost.shard is None and not lost.acknowledged
        assert discord_fake.undelivered == [("INTERACTION_CREATE", GUILD)]
    finally:
        await harness.stop()


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "KLING", "SHARD", "HTTP"))}
    full = {**clean, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x", "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            "HTTP_HOST": "127.0.0.1", "HTTP_PORT": "0", **env}
    return subprocess.run([sys.executable, "-m", "bot"], env=full, cwd=tmp_path, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize(("env", "line"), [
    ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"},
     "SHARD_IDS: 2 is not a shard of SHARD_COUNT=2 (shard ids go from 0 to 1)"),
    ({"SHARD_IDS": "1"},
     "SHARD_IDS: needs SHARD_COUNT (the bot's total number of shards), for example SHARD_COUNT=2 with SHARD_IDS=0,1"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "SHARD_IDS: a shard is listed twice"),
    ({"SHARD_COUNT": "0"}, "SHARD_COUNT: Input should be greater than 0"),
    ({"SHARD_COUNT": "two"}, "SHARD_COUNT: Input should be a valid integer, unable to parse string as an integer"),
])
def test_bad_shard_settings_stop_the_start_with_one_line(tmp_path: Path, env: dict[str, str], line: str) -> None:
    result = run_bot(tmp_path, **env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["Configuration error:", line]
    assert not (tmp_path / "bot.sqlite3").exists()  # refused before anything was opened
