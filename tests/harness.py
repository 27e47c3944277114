"""The real bot, started against the fake Discord and a fake (or the built-in sandbox) provider."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from bot.app import Application
from bot.config import Settings, load_settings
from bot.core.clock import Clock
from bot.core.models import Job, JobStatus
from bot.discord_adapter.attachments import DISCORD_CDN_BASES
from tests import postgres
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.stuck_tasks import describe_tasks
from tests.waiting import until

GUILD = 810000000000000001
CHANNEL = 810000000000000002
OTHER_CHANNEL = 810000000000000003
ALICE = 810000000000000010
BOB = 810000000000000011
MANAGE_GUILD = 1 << 5
START_TIMEOUT = 60.0  # a bot's start takes about a second; under a loaded machine, a few
SQL_TIMEOUT = 30.0
STOP_TIMEOUT = 90.0


def free_port() -> int:
    """A port nothing listens on right now (for a listener whose public URL must be known before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fast_schedule(checks_done: int, *, callback_expected_after: float | None = None) -> float:
    """The poll schedule compressed for tests (a check every 50 ms; with callbacks expected, 1 s)."""
    return 1.0 if callback_expected_after is not None else 0.05


class BotHarness:
    """Starts and restarts the real application; tests drive it through the fakes only."""

    def __init__(self, discord: FakeDiscord, tmp_path: Path, *, clock: Clock | None = None, **settings: Any) -> None:
        self.clock = clock
        self.discord = discord
        self.tmp_path = tmp_path
        self.overrides = settings
        self.app: Application | None = None
        self.poll_schedule: Callable[..., float] = fast_schedule

    def settings(self) -> Settings:
        base: dict[str, Any] = {
            "discord_token": "fake-bot-token",
            "database_path": self.tmp_path / "bot.sqlite3",
            "http_host": "127.0.0.1",
            "http_port": 0,
            "sandbox_pending_seconds": 0.2,
            "sandbox_processing_seconds": 0.3,
            "dev_guild_id": GUILD,
            "callback_secret": "test-callback-secret",
            "download_allow_networks": "127.0.0.1/32",  # the fakes serve their videos over plain http here
        }
        if postgres.e2e_on_postgres():  # TEST_DATABASE=postgres: a database of this test's own (tests/postgres.py)
            base["database_url"] = postgres.database_url(self.tmp_path)
        base.update(self.overrides)
        return load_settings(**base)

    def cdn_bases(self) -> tuple[str, ...]:
        """Discord's CDN, and the fake's where there is one (benchmarks run the fake in another process)."""
        fake = getattr(self.discord, "cdn_url", None)
        return (*DISCORD_CDN_BASES, fake) if fake else DISCORD_CDN_BASES

    async def start(self) -> Application:
        app = Application(self.settings(), clock=self.clock, guild_ready_timeout=0.05,
                          delivery_retry_delays=(0.05, 0.1, 0.2), poll_schedule=self.poll_schedule,
                          discord_cdn_bases=self.cdn_bases())
        # Bounded like every wait in a test: a start that never finishes fails this test, with the traceback of
        # where it waited, instead of the whole run stopping at pytest-timeout's limit.
        await asyncio.wait_for(app.start(), timeout=START_TIMEOUT)
        await asyncio.wait_for(app.bot.wait_until_ready(), timeout=10)
        self.app = app
        return app

    async def stop(self) -> None:
        if self.app is not None:
            app, self.app = self.app, None
            # Bounded below pytest-timeout's 120 s, so a stop stuck in several of its 20 s steps fails this test
            # with its logs (which name the steps) and what every task waits on, instead of ending the whole run.
            stopping = asyncio.ensure_future(app.stop())
            if not (await asyncio.wait({stopping}, timeout=STOP_TIMEOUT))[0]:
                tasks = describe_tasks(asyncio.get_running_loop())
                stopping.cancel()
                raise TimeoutError(f"the bot did not stop within {STOP_TIMEOUT:g} s; {tasks}")
            await stopping

    async def restart(self) -> Application:
        await self.stop()
        return await self.start()

    @property
    def running(self) -> Application:
        assert self.app is not None, "the bot is not running"
        return self.app

    # -- driving it --------------------------------------------------------------------------------
    async def video(self, prompt: str = "a red fox running through snow", *, duration: int = 5,
                    aspect: str = "16:9", user_id: int = ALICE, channel_id: int = CHANNEL,
                    **options: Any) -> FakeInteraction:
        wire = [
            {"name": "prompt", "type": 3, "value": prompt},
            {"name": "duration", "type": 4, "value": duration},
            {"name": "aspect", "type": 3, "value": aspect},
        ]
        attachments = []
        for name, value in options.items():
            if isinstance(value, dict) and "url" in value:  # an attachment from FakeDiscord.add_attachment
                wire.append({"name": name, "type": 11, "value": value["id"]})
                attachments.append(value)
            elif isinstance(value, bool):
                wire.append({"name": name, "type": 5, "value": value})
            else:
                wire.append({"name": name, "type": 3, "value": value})
        return await self.discord.send_slash_command(
            guild_id=GUILD, channel_id=channel_id, user_id=user_id, name="video", options=wire,
            attachments=attachments or None,
        )

    async def job_for(self, interaction: FakeInteraction, timeout: float = 5) -> Job:
        """The job whose status message answered this interaction."""
        await interaction.wait_response(timeout)
        message_id = interaction.original_message_id
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for job in await self.running.store.recent_for_user(GUILD, interaction.user_id, 50):
                if job.status_message_id == message_id:
                    return job
            await asyncio.sleep(0.02)
        raise TimeoutError("no job recorded for the interaction")

    async def wait_status(self, job_id: str, status: JobStatus, timeout: float = 10) -> Job:
        deadline = time.monotonic() + timeout
        job = None
        while time.monotonic() < deadline:
            job = await self.running.store.get(job_id)
            if job is not None and job.status is status:
                return job
            await asyncio.sleep(0.02)
        raise TimeoutError(f"job {job_id} is {job.status if job else None}, not {status}")

    async def status_reads(self, interaction: FakeInteraction, title_word: str,
                           timeout: float = 10) -> dict[str, Any]:
        """The job's status message once its title has `title_word` ("Done", "Failed", ...).

        The store records a job's end before the status message is edited to show it, so a test that saw
        the status change waits here for the edit rather than racing it."""
        def reads() -> bool:
            message = interaction.response_message
            return message is not None and bool(message["embeds"]) and title_word in message["embeds"][0]["title"]

        await until(reads, f"the status message's title reading {title_word!r}", timeout)
        assert interaction.response_message is not None
        return interaction.response_message

    async def redeliver_after_a_crash(self, job_id: str) -> Job:
        """Stop, leave the job as a crash right after its post and before the DELIVERED write would, start again,
        and return the job once delivered again (and a moment for a second post to show, were one coming)."""
        await self.stop()
        await self.sql("UPDATE jobs SET status = 'completed', delivery_outcome = NULL, result_message_id = NULL "
                       "WHERE id = ?", job_id)
        await self.start()
        again = await self.wait_status(job_id, JobStatus.DELIVERED)
        await settle()
        return again

    def results_in(self, channel_id: int = CHANNEL) -> list[dict[str, Any]]:
        """Messages the bot posted as finished videos (not status messages)."""
        messages = self.discord.messages.get(channel_id, [])
        return [m for m in messages if "your video is ready" in (m.get("content") or "")]

    async def sql(self, statement: str, *args: Any) -> list[Any]:
        """Direct access to the database, for what a crash would leave behind (`?` placeholders, as SQLite). On
        PostgreSQL, a SQLite-only statement (a trigger, a PRAGMA) skips the test (tests/postgres.py)."""
        async with asyncio.timeout(SQL_TIMEOUT):
            if postgres.e2e_on_postgres():
                return await postgres.run_sql(postgres.database_url(self.tmp_path), statement, *args)
            async with aiosqlite.connect(self.tmp_path / "bot.sqlite3") as connection:
                cursor = await connection.execute(statement, args)
                rows = await cursor.fetchall()
                await connection.commit()
                return list(rows)


async def settle(seconds: float = 0.3) -> None:
    """Give background work a moment to (wrongly) do more than it should."""
    await asyncio.sleep(seconds)
