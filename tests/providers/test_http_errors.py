"""bot/providers/http.py: transport failures mapped once, the generic status mapping, error details."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.providers.base import ErrorKind, ProviderError
from bot.providers.http import HttpAnswer, ProviderHttp, detail_text, fixed, redact, status_error
from tests.providers import SHORT_TIMEOUT, TEST_TIMEOUT, closed_base_url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"auth": request.headers.get("Authorization"), "body": await request.json()},
                                 headers={"X-Thing": "1"})

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", status=502)

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.6)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_get("/text", text)
    app.router.add_get("/empty", empty)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


# -- ProviderHttp -------------------------------------------------------------------------------------
async def test_json_headers_and_body(session: aiohttp.ClientSession, server: str) -> None:
    tokens = iter(["Bearer a", "Bearer b"])  # headers are asked for on every request (Kling's JWT renews)
    http = ProviderHttp(session, server + "/", lambda: {"Authorization": next(tokens)}, TEST_TIMEOUT)
    first = await http.request("POST", "/echo", json_body={"x": 1})
    assert first.body == {"auth": "Bearer a", "body": {"x": 1}}
    answer = await http.request("POST", "/echo", json_body={"x": 1})
    assert answer.ok and answer.status == 200
    assert answer.body == {"auth": "Bearer b", "body": {"x": 1}}
    assert answer.headers["x-thing"] == "1"


async def test_non_json_and_empty_bodies(session: aiohttp.ClientSession, server: str) -> None:
    http = ProviderHttp(session, server, fixed({}), TEST_TIMEOUT)
    text = await http.request("GET", "/text")
    assert (text.ok, text.status, text.body) == (False, 502, "<html>oops</html>")
    empty = await http.request("GET", "/empty")
    assert (empty.ok, empty.body) == (True, None)


async def test_refused_connection_is_retryable_and_started_nothing(session: aiohttp.ClientSession) -> None:
    http = ProviderHttp(session, closed_base_url(), fixed({}), TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await http.request("POST", "/anything", json_body={})
    assert (caught.value.kind, caught.value.retryable, caught.value.maybe_started) == (
        ErrorKind.PROVIDER_DOWN, True, False
    )


async def test_timeout_after_sending_may_have_started(session: aiohttp.ClientSession, server: str) -> None:
    http = ProviderHttp(session, server, fixed({}), SHORT_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await http.request("POST", "/slow", json_body={})
    assert (caught.value.kind, caught.value.retryable, caught.value.maybe_started) == (
        ErrorKind.PROVIDER_DOWN, True, True
    )


async def test_dropped_connection_may_have_started(session: aiohttp.ClientSession) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request arrived...
        writer.close()  # ...and no answer ever comes

    listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        http = ProviderHttp(session, f"http://127.0.0.1:{port}", fixed({}), TEST_TIMEOUT)
        with pytest.raises(ProviderError) as caught:
            await http.request("POST", "/x", json_body={})
        assert caught.value.retryable and caught.value.maybe_started
    finally:
        listener.close()
        await listener.wait_closed()


class _RaisingSession:
    """A session whose every request fails with one exception before anything is sent."""

    def __init__(self, exc: Exception) -> None:
        self._exc = exc

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise self._exc


async def test_connect_timeout_started_nothing() -> None:
    http = ProviderHttp(_RaisingSession(aiohttp.ConnectionTimeoutError("connect")), "http://x", fixed({}))  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as caught:
        await http.request("GET", "/")
    assert caught.value.retryable and not caught.value.maybe_started


async def test_no_header_value_leaks_into_transport_errors(session: aiohttp.ClientSession) -> None:
    http = ProviderHttp(session, closed_base_url(), fixed({"Authorization": "Bearer sk-very-secret"}), TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await http.request("GET", "/")
    assert "sk-very-secret" not in str(caught.value)


# -- status_error -------------------------------------------------------------------------------------
def answer(status: int, headers: dict[str, str] | None = None) -> HttpAnswer:
    return HttpAnswer(status, None, headers or {})


@pytest.mark.parametrize(("status", "kind", "retryable"), [
    (400, ErrorKind.INVALID_REQUEST, False),
    (422, ErrorKind.INVALID_REQUEST, False),
    (401, ErrorKind.MISCONFIGURED, False),
    (403, ErrorKind.MISCONFIGURED, False),
    (402, ErrorKind.INSUFFICIENT_CREDITS, False),
    (404, ErrorKind.NOT_FOUND, False),
    (429, ErrorKind.RATE_LIMITED, True),
    (500, ErrorKind.PROVIDER_DOWN, True),
    (502, ErrorKind.PROVIDER_DOWN, True),
    (503, ErrorKind.PROVIDER_DOWN, True),
    (504, ErrorKind.PROVIDER_DOWN, True),
    (409, ErrorKind.INVALID_REQUEST, False),
    (418, ErrorKind.INVALID_REQUEST, False),
])
def test_status_mapping(status: int, kind: ErrorKind, retryable: bool) -> None:
    error = status_error(answer(status), "why")
    # Only a gateway timeout leaves it open whether the provider started the job.
    assert (error.kind, error.retryable, error.maybe_started, error.status, error.detail) == (
        kind, retryable, status == 504, status, "why"
    )


def test_unknown_status_without_detail_names_the_status() -> None:
    assert status_error(answer(418), "").detail == "HTTP 418"


@pytest.mark.parametrize(("value", "expected"), [("12", 12.0), ("0.5", 0.5), ("Wed, 21 Oct 2015 07:28:00 GMT", None)])
def test_retry_after_header(value: str, expected: float | None) -> None:
    assert status_error(answer(429, {"retry-after": value}), "").retry_after == expected
    assert status_error(answer(429), "").retry_after is None


# -- detail_text and redact ---------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    (None, ""),
    ("plain", "plain"),
    ([{"loc": ["body", "prompt"], "msg": "field required"}, "second"], "field required; second"),
    ({"message": "from message"}, "from message"),
    ({"detail": "from detail"}, "from detail"),
    (42, "42"),
])
def test_detail_text(value: object, expected: str) -> None:
    assert detail_text(value) == expected


def test_detail_text_is_bounded() -> None:
    assert len(detail_text("x" * 5000)) == 300


def test_redact_masks_secrets_and_keeps_the_flags() -> None:
    error = ProviderError(ErrorKind.RATE_LIMITED, "key sk-1 over limit", retryable=True, maybe_started=True,
                          retry_after=3.0, status=429)
    masked = redact(error, "sk-1", "")
    assert "sk-1" not in str(masked) and masked.detail == "key *** over limit"
    assert (masked.kind, masked.retryable, masked.maybe_started, masked.retry_after, masked.status) == (
        ErrorKind.RATE_LIMITED, True, True, 3.0, 429
    )
    assert redact(error, "absent") is error
