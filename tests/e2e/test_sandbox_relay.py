"""The built-in sandbox serves this bot only: strangers are refused, foreign callback URLs are never
called (no open relay), and the work it keeps in memory is capped."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.core.models import DeliveryOutcome, JobStatus
from tests.fakes.discord import FakeDiscord
from tests.harness import CHANNEL, BotHarness, settle

GENERATE = "/sandbox/v1/kling/o3-video/generate"
STATUS = "/sandbox/v1/kling/o3-video/generations/"
CREATE = {"prompt": "a kite over the dunes", "duration": "5", "model": "kling_o3"}
SANDBOX_JOB_TIME = 0.2 + 0.3  # the harness's sandbox timeline


class Bystander:
    """A little web server on another loopback host that records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.2", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.2:{port}"

    async def _record(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.json_response({"ok": True})

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def bystander() -> AsyncIterator[Bystander]:
    server = Bystander()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def key_header(harness: BotHarness) -> dict[str, str]:
    return {"Authorization": f"Bearer {harness.running.sandbox_key}"}


async def test_anonymous_and_wrong_key_creates_are_refused(sandbox_bot: BotHarness) -> None:
    base = sandbox_bot.running.listener_url
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer sandbox"}, {"Authorization": "Bearer wrong-key"},
                        {"Authorization": f"Bearer {sandbox_bot.running.sandbox_key}x"},
                        {"Authorization": sandbox_bot.running.sandbox_key}):
            async with session.post(f"{base}{GENERATE}", json=CREATE, headers=headers) as response:
                assert response.status == 401, headers
                assert await response.json() == {"detail": "Not authenticated"}
            async with session.get(f"{base}{STATUS}sbx_1_k000000000000", headers=headers) as response:
                assert response.status == 401, headers
        async with session.post(f"{base}{GENERATE}", json=CREATE, headers=key_header(sandbox_bot)) as response:
            assert response.status == 201  # the bot's own key works


async def test_the_key_is_random_per_start(sandbox_bot: BotHarness) -> None:
    first = sandbox_bot.running.sandbox_key
    second = (await sandbox_bot.restart()).sandbox_key
    assert first != second and len(first) >= 32 and "sandbox" not in (first, second)


async def test_foreign_callback_urls_are_never_called(
    sandbox_bot: BotHarness, bystander: Bystander, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.providers.sandbox")
    app = sandbox_bot.running
    own_path = app.signer.path("sandbox", "0123456789abcdef")
    listener_port = app.listener_url.rsplit(":", 1)[1]
    foreign = [
        f"{bystander.base_url}/hook",
        f"{bystander.base_url}{own_path}",  # the right path on another host
        f"http://127.0.0.1:{listener_port}@{bystander.base_url.removeprefix('http://')}{own_path}",
        f"{bystander.base_url.replace('http://', 'https://')}{own_path}",
    ]
    async with aiohttp.ClientSession() as session:
        for url in foreign:
            async with session.post(f"{app.listener_url}{GENERATE}", json={**CREATE, "callback_url": url},
                                    headers=key_header(sandbox_bot)) as response:
                assert response.status == 201  # it answers like runblob, but will not call anyone
    await settle(SANDBOX_JOB_TIME + 1.0)  # well past the moment a callback would have gone out
    assert bystander.hits == []
    assert app.built_in.pending_callbacks == 0  # nothing even waits to be sent
    ignored = [r for r in caplog.records if "ignored a callback URL" in r.getMessage()]
    assert [r.levelno for r in ignored][:1] == [logging.INFO]
    assert sum(r.levelno == logging.INFO for r in ignored) == 1


async def test_callbacks_named_by_the_public_url_go_to_the_listener_itself(
    discord_fake: FakeDiscord, tmp_path: Path, bystander: Bystander
) -> None:
    # PUBLIC_BASE_URL names some other address (here a bystander standing in for a proxy): the sandbox
    # still calls the bot on its own listener and nobody else.
    harness = BotHarness(discord_fake, tmp_path, public_base_url=bystander.base_url)
    await harness.start()
    try:
        job = await harness.job_for(await harness.video("a tide pool at noon"))
        delivered = await harness.wait_status(job.id, JobStatus.DELIVERED, timeout=15)
        assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
        assert harness.running.metrics.value("kling_callbacks_total", outcome="applied") == 1
        assert bystander.hits == []
    finally:
        await harness.stop()


async def test_the_sandbox_flow_completes_by_its_own_callback(sandbox_bot: BotHarness) -> None:
    job = await sandbox_bot.job_for(await sandbox_bot.video("a lantern on a river"))
    await sandbox_bot.wait_status(job.id, JobStatus.DELIVERED, timeout=15)
    assert sandbox_bot.running.metrics.value("kling_callbacks_total", outcome="applied") == 1
    assert len(sandbox_bot.results_in(CHANNEL)) == 1


async def test_too_many_pending_callbacks_answer_429(sandbox_bot: BotHarness) -> None:
    app = sandbox_bot.running
    app.built_in.max_pending_callbacks = 2
    own = f"{app.listener_url}{app.signer.path('sandbox', '0123456789abcdef')}"
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(f"{app.listener_url}{GENERATE}", json={**CREATE, "callback_url": own},
                                    headers=key_header(sandbox_bot)) as response:
                statuses.append(response.status)
                last = await response.json()
    assert statuses == [201, 201, 429]
    assert last == {"detail": "Too many requests"}
    assert app.built_in.pending_callbacks == 2
