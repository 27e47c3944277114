"""The bot killed with SIGKILL (no shutdown code runs) after submitting and after completion, then
started again: the job is finished and posted exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import postgres
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import CHANNEL, GUILD, BotHarness

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(self, discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> None:
        self.database = tmp_path / "bot.sqlite3"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KLING", "RUNBLOB", "DISCORD"))},
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_API": discord_fake.base_url,
            "FAKE_DISCORD_GATEWAY": discord_fake.gateway_url,
            "DISCORD_TOKEN": "fake-bot-token",
            "KLING_PROVIDER": "runblob",
            "RUNBLOB_API_KEY": runblob.api_key,
            "RUNBLOB_BASE_URL": runblob.base_url,
            "DATABASE_PATH": str(self.database),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
            "DEV_GUILD_ID": str(GUILD),
            "DOWNLOAD_ALLOW_NETWORKS": "127.0.0.1/32",  # the fake serves its video over plain http here
            "LOG_LEVEL": "WARNING",
        }
        # TEST_DATABASE=postgres: the child bot on this test's PostgreSQL database (tests/postgres.py).
        self.database_url = postgres.database_url(tmp_path) if postgres.e2e_on_postgres() else None
        if self.database_url:
            self.env["DATABASE_URL"] = self.database_url
            # The killed process still holds the leader lease; the restarted one (another process to the
            # database) takes over when it runs out, as it would in production after LEASE_SECONDS.
            self.env["LEASE_SECONDS"] = "3"
        self.log = tmp_path / "bot.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.bot_process", env=self.env, cwd=ROOT, stdout=log, stderr=log
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def status(self) -> str | None:
        if self.database_url:
            found = postgres.run_sql_sync(self.database_url, "SELECT status FROM jobs ORDER BY created_at LIMIT 1")
            return found[0][0] if found else None
        if not self.database.exists():
            return None
        with sqlite3.connect(self.database) as connection:
            row = connection.execute("SELECT status FROM jobs ORDER BY created_at LIMIT 1").fetchone()
        return row[0] if row else None

    async def wait_status(self, status: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.status() != status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job is {self.status()}, not {status}; log:\n{self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def bot_process(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(discord_fake, runblob, tmp_path)
    yield process
    if process.process is not None and process.process.returncode is None:
        await process.kill()


async def started(process: BotProcess, discord_fake: FakeDiscord) -> None:
    identifies = discord_fake.gateway_identifies
    await process.start()
    deadline = time.monotonic() + 20
    while discord_fake.gateway_identifies == identifies or not discord_fake.gateway_connected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot did not connect; log:\n{process.log.read_text()[-3000:]}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # READY and the guild reach the client


def results(discord_fake: FakeDiscord) -> list[dict[str, object]]:
    return [m for m in discord_fake.messages.get(CHANNEL, []) if "your video is ready" in str(m.get("content"))]


async def test_killed_after_submit_and_after_completion_posts_once(
    bot_process: BotProcess, discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    await started(bot_process, discord_fake)
    harness = BotHarness(discord_fake, tmp_path)
    interaction = await harness.video("a kite over the dunes")
    await interaction.wait_response(timeout=10)
    await bot_process.wait_status("submitted")

    await bot_process.kill()  # 1: killed with the job at the provider
    [fake_job] = await runblob.wait_for_jobs(1)
    runblob.set_state(fake_job.id, "completed")
    # Discord refuses posts for a while, so the second run completes the job but cannot post it yet.
    discord_fake.fail_next("POST", rf"/channels/{CHANNEL}/messages$", 500, times=1000)
    await started(bot_process, discord_fake)
    await bot_process.wait_status("completed")

    await bot_process.kill()  # 2: killed with the video finished but not posted
    discord_fake._faults.clear()
    await started(bot_process, discord_fake)
    await bot_process.wait_status("delivered")
    await asyncio.sleep(0.3)
    assert len(results(discord_fake)) == 1
    assert runblob.submit_calls == 1
