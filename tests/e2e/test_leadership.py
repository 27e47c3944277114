"""The leader lease in the running bot on PostgreSQL: a lone bot leads (/healthz and /metrics say so), a bot that
finds the lease held follows, and a leader whose lease was taken from it stops, so that its supervisor restarts it
as a follower. On SQLite the bot leads alone, and /healthz says nothing of roles (as before there were any)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Application
from bot.core.background import BackgroundTaskDied
from tests import postgres
from tests.fakes.discord import FakeDiscord
from tests.harness import BotHarness


async def health(app: Application) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{app.listener_url}/healthz") as response:
        return response.status, await response.json()


def on_postgres(discord: FakeDiscord, tmp_path: Path) -> BotHarness:
    postgres.skip_or_fail_without_server()
    return BotHarness(discord, tmp_path, database_url=postgres.database_url(tmp_path), lease_seconds=3)


async def test_a_lone_bot_on_sqlite_leads_and_its_health_names_no_role(discord_fake: FakeDiscord,
                                                                       tmp_path: Path) -> None:
    if postgres.e2e_on_postgres():
        pytest.skip("about SQLite")
    harness = BotHarness(discord_fake, tmp_path)
    app = await harness.start()
    try:
        status, body = await health(app)
        assert status == 200 and "role" not in body
        assert app.leadership.role == "leader" and app.metrics.value("kling_leader") == 1
    finally:
        await harness.stop()


async def test_a_bot_on_postgres_leads_and_a_second_one_follows(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    harness = on_postgres(discord_fake, tmp_path)
    app = await harness.start()
    try:
        status, body = await health(app)
        assert (status, body["role"]) == (200, "leader") and app.metrics.value("kling_leader") == 1
        # Another process on the same database (no gateway needed to see its role): the lease is taken.
        second = Application(harness.settings(), guild_ready_timeout=0.05)
        try:
            await second.start()
            status, body = await health(second)
            assert body["role"] == "follower" and second.metrics.value("kling_leader") == 0
            assert second.dispatcher.queue.order() == [] and second.tracker.tracked_count == 0
        finally:
            await second.stop()
        assert app.leadership.role == "leader"  # the follower's stop gave up nothing it did not hold
    finally:
        await harness.stop()


async def test_a_leader_whose_lease_was_taken_stops_with_an_error(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    harness = on_postgres(discord_fake, tmp_path)
    app = Application(harness.settings(), guild_ready_timeout=0.05)
    running = asyncio.create_task(app.run_forever())
    try:
        deadline = time.monotonic() + 20
        while getattr(app, "leadership", None) is None or app.leadership.role != "leader":
            assert time.monotonic() < deadline, "the bot did not lead"
            await asyncio.sleep(0.05)
        # Another process took the lease (its clock says ours ran out): this one must stop acting at once.
        await postgres.run_sql(postgres.database_url(tmp_path),
                               "UPDATE leader SET owner = 'another-process', lease_until = now() + interval '1 hour'")
        with pytest.raises(BackgroundTaskDied, match="another process holds the lease now"):
            await asyncio.wait_for(running, timeout=20)
        assert app.metrics.value("kling_leader") == 0
        holder = await postgres.run_sql(postgres.database_url(tmp_path), "SELECT owner FROM leader")
        assert holder == [("another-process",)]  # not released: it was not this process's any more
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
