"""The bot's HTTP listener against strangers: bodies split, stalled or oversized; odd tokens and job
ids; errors without tracebacks; idle connections closed; /metrics behind METRICS_TOKEN and cached."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.core.models import JobStatus
from bot.web.server import WEB_DEPENDENCIES, WebDependencies, build_app
from tests.conftest import runblob_harness
from tests.e2e.raw_http import RawConnection, request
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import BotHarness, settle

UNKNOWN_JOB = "0123456789abcdef"




@pytest.fixture
async def guarded(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path):
    """The bot with METRICS_TOKEN set."""
    harness = runblob_harness(discord_fake, runblob, tmp_path, metrics_token="scrape-me-please-42")
    await harness.start()
    yield harness
    await harness.stop()


def web_deps(harness: BotHarness) -> WebDependencies:
    return harness.running.runner.app[WEB_DEPENDENCIES]


async def submitted_job(harness: BotHarness, prompt: str = "a lighthouse at dusk"):
    job = await harness.job_for(await harness.video(prompt))
    return await harness.wait_status(job.id, JobStatus.SUBMITTED)


def assert_plain(body: bytes) -> None:
    assert b"Traceback" not in body and b'File "' not in body, body


async def test_a_callback_body_arriving_in_two_segments_is_read_whole(
    pushed: BotHarness, runblob: FakeRunblob
) -> None:
    job = await submitted_job(pushed)
    app = pushed.running
    body = json.dumps({"generation_id": job.provider_job_id, "status": "completed",
                       "video_url": runblob.video_url(job.provider_job_id)}).encode()
    connection = await RawConnection.open(app.listener_url)
    try:
        await connection.send_head("POST", app.signer.path("runblob", job.id),
                                   {"Content-Type": "application/json", "Content-Length": str(len(body))})
        await connection.send(body[:25])
        await asyncio.sleep(0.3)  # the rest comes in a later TCP segment
        await connection.send(body[25:])
        answer = await connection.answer()
    finally:
        await connection.close()
    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == {"status": "received"}
    delivered = await pushed.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.video_url == runblob.video_url(job.provider_job_id)


async def test_a_body_that_stalls_after_its_headers_gets_408(pushed: BotHarness) -> None:
    app = pushed.running
    web_deps(pushed).body_deadline = 0.5
    connection = await RawConnection.open(app.listener_url)
    try:
        await connection.send_head("POST", app.signer.path("runblob", UNKNOWN_JOB),
                                   {"Content-Type": "application/json", "Content-Length": "200"})
        await connection.send(b'{"generation_id": ')  # and then nothing more
        try:
            answer = await connection.answer(timeout=5)
        except asyncio.IncompleteReadError:
            return  # closing the connection is an acceptable answer too
    finally:
        await connection.close()
    assert answer.status == 408
    assert answer.headers.get("connection", "").lower() == "close"
    assert_plain(answer.body)


async def test_an_oversized_chunked_body_without_a_length_gets_413(pushed: BotHarness) -> None:
    job = await submitted_job(pushed)
    app = pushed.running
    connection = await RawConnection.open(app.listener_url)
    try:
        await connection.send_head("POST", app.signer.path("runblob", job.id),
                                   {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        piece = b'{"padding": "' + b"x" * 8000
        try:
            for _ in range(12):  # about 96 KiB in chunks, a little apart: over the 64 KiB cap
                await connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await asyncio.sleep(0.01)
            await connection.send(b"0\r\n\r\n")
        except ConnectionError:
            pass  # the server may stop listening once it has refused the body
        answer = await connection.answer()
    finally:
        await connection.close()
    assert answer.status == 413, answer.body
    assert_plain(answer.body)
    unchanged = await app.store.get(job.id)
    assert unchanged is not None and unchanged.status is JobStatus.SUBMITTED
    assert app.metrics.value("kling_callbacks_total", outcome="too_large") == 1


ODD_TARGETS = [
    # tokens
    "/callbacks/runblob/{job}/" + "%C3%A9" * 40,  # non-ASCII, 40 characters once decoded
    "/callbacks/runblob/{job}/" + "%ED%A0%80" * 40,  # an encoded lone surrogate
    "/callbacks/runblob/{job}/{token}0",  # one character too long
    "/callbacks/runblob/{job}/" + "a" * 5000,
    "/callbacks/runblob/{job}/{TOKEN}",  # upper case
    "/callbacks/runblob/{job}/%20",
    "/callbacks/runblob/{job}/%00" + "0" * 39,
    "/callbacks/runblob/{job}/",
    # job ids
    "/callbacks/runblob/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9/{token}",
    "/callbacks/runblob/{JOB}/{token}",
    "/callbacks/runblob/{job}0/{token}",
    "/callbacks/runblob/..%2F..%2Fetc/{token}",
    "/callbacks/runblob/%ED%A0%80/{token}",
    "/callbacks/runblob//{token}",
]


async def test_odd_tokens_and_job_ids_get_4xx_without_a_traceback(
    pushed: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    job = await submitted_job(pushed)
    app = pushed.running
    token = app.signer.token(job.id)
    body = json.dumps({"generation_id": job.provider_job_id, "status": "completed"}).encode()
    for template in ODD_TARGETS:
        target = template.format(job=job.id, JOB=job.id.upper(), token=token, TOKEN=token.upper())
        answer = await request(app.listener_url, "POST", target, body=body,
                               headers={"Content-Type": "application/json"})
        assert 400 <= answer.status < 500, (target, answer.status, answer.body)
        assert_plain(answer.body)
    # Raw non-ASCII bytes in the request line, as no URL library would send them.
    raw = f"/callbacks/runblob/{job.id}/".encode() + "é".encode() * 40
    answer = await request(app.listener_url, "POST", raw, body=body, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status < 500 and b"Traceback" not in answer.body
    unchanged = await app.store.get(job.id)
    assert unchanged is not None and unchanged.status is JobStatus.SUBMITTED
    # No handler of the bot's failed (aiohttp itself logs the unparseable request line it refused).
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bot") and r.exc_info] == []


async def test_unexpected_errors_and_router_errors_are_plain_json(
    pushed: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    app = pushed.running
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{app.listener_url}/no/such/page", headers={"Accept": "text/html"}) as response:
            assert response.status == 404
            assert await response.json() == {"error": "not found"}
        async with session.get(f"{app.listener_url}{app.signer.path('runblob', UNKNOWN_JOB)}") as response:
            assert response.status == 405
            assert await response.json() == {"error": "method not allowed"}
            assert "POST" in response.headers["Allow"]
        # Something really breaks inside a handler: the database is gone under /metrics.
        await app.database.close()
        caplog.set_level(logging.ERROR, logger="bot.web.guards")
        async with session.get(f"{app.listener_url}/metrics", headers={"Accept": "text/html"}) as response:
            assert response.status == 500
            text = await response.text()
    assert json.loads(text) == {"error": "internal error"}
    assert "unexpected error answering GET /metrics" in caplog.text  # the details stay in the server log


async def test_idle_keep_alive_connections_are_closed(pushed: BotHarness) -> None:
    # A second listener built the same way, with the idle limit shortened (it is 75 s in the bot).
    deps = replace(web_deps(pushed), keepalive_timeout=0.5)
    runner = web.AppRunner(build_app(deps), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        connection = await RawConnection.open(f"http://127.0.0.1:{port}")
        try:
            await connection.send_head("GET", "/healthz")
            answer = await connection.answer()
            assert answer.status == 200 and answer.headers.get("connection", "").lower() != "close"
            assert await connection.closed_by_server(timeout=5)
        finally:
            await connection.close()
    finally:
        await runner.cleanup()


async def test_the_bot_listener_keeps_idle_connections_at_most_75_seconds(pushed: BotHarness) -> None:
    assert 0 < web_deps(pushed).keepalive_timeout <= 75


async def test_metrics_need_the_token_when_one_is_set(guarded: BotHarness) -> None:
    url = f"{guarded.running.listener_url}/metrics"
    async with aiohttp.ClientSession() as session:
        refused = ["", "Bearer wrong", "scrape-me-please-42", "Bearer scrape-me-please-4",
                   "Bearer scrape-me-please-42x", "Basic scrape-me-please-42"]
        for value in refused:
            headers = {"Authorization": value} if value else {}
            async with session.get(url, headers=headers) as response:
                assert response.status == 401, headers
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert "kling_jobs" not in await response.text()
        async with session.get(url, headers={"Authorization": "Bearer scrape-me-please-42"}) as response:
            assert response.status == 200
            assert "kling_queue_depth 0" in await response.text()
    # A header no polite client would send (raw UTF-8 bytes) is refused the same way, not with a 500.
    connection = await RawConnection.open(guarded.running.listener_url)
    try:
        await connection.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + "é".encode() * 10
                              + b"\r\n\r\n")
        answer = await connection.answer()
    finally:
        await connection.close()
    assert answer.status == 401


async def test_metrics_without_a_token_stay_open(pushed: BotHarness) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{pushed.running.listener_url}/metrics") as response:
        assert response.status == 200


async def metric_text(harness: BotHarness) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{harness.running.listener_url}/metrics") as response:
        assert response.status == 200
        return await response.text()


async def test_metrics_job_counts_are_cached_between_scrapes(pushed: BotHarness) -> None:
    deps = web_deps(pushed)
    deps.counts_ttl = 3600  # long enough that only the test decides when the cache expires
    assert 'kling_jobs{status="submitted"} 0' in await metric_text(pushed)
    await submitted_job(pushed)
    await settle(0.1)
    assert 'kling_jobs{status="submitted"} 0' in await metric_text(pushed)  # served from the cache
    deps.counts_ttl = 0  # expired: the next scrape counts again
    assert 'kling_jobs{status="submitted"} 1' in await metric_text(pushed)


async def test_the_default_counts_cache_lasts_a_few_seconds(pushed: BotHarness) -> None:
    assert 1 <= web_deps(pushed).counts_ttl <= 30
