"""The official Kling adapter against the fake Kling server, and its JWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.providers.base import ErrorKind, MalformedCallback, ProviderError, ProviderState
from bot.providers.kling import CAPABILITIES, KlingProvider
from bot.providers.kling_jwt import KlingToken
from tests.fakes.kling import FakeKling
from tests.providers import SHORT_TIMEOUT, TEST_TIMEOUT, CallbackSink, closed_base_url, video_request

ACCESS = "AK-kling-1a2b3c4d"
SECRET = "SK-kling-5e6f7a8b9c"
IMAGE = "https://cdn.example/first.png"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeKling]:
    server = FakeKling()
    server.access_key, server.secret_key = ACCESS, SECRET
    server.clock = clock
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeKling, clock: Clock) -> KlingProvider:
    return KlingProvider(session, ACCESS, SECRET, fake.base_url, now=clock, timeout=TEST_TIMEOUT)


def decode(segment: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# -- the token ----------------------------------------------------------------------------------------
def test_token_is_a_standard_hs256_jwt(clock: Clock) -> None:
    token = KlingToken(ACCESS, SECRET, now=clock).token()
    header, payload, signature = token.split(".")

    assert decode(header) == {"alg": "HS256", "typ": "JWT"}
    issued = int(clock.now)
    assert decode(payload) == {"iss": ACCESS, "exp": issued + 1800, "nbf": issued - 5}
    expected = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    assert "=" not in token


def test_token_is_reused_then_renewed_before_expiry(clock: Clock) -> None:
    tokens = KlingToken(ACCESS, SECRET, now=clock)
    first = tokens.token()
    clock.now += 1800 - 301
    assert tokens.token() == first
    clock.now += 2  # inside the last five minutes
    second = tokens.token()
    assert second != first
    assert decode(second.split(".")[1])["exp"] == int(clock.now) + 1800


async def test_requests_carry_a_token_the_server_accepts(
    provider: KlingProvider, fake: FakeKling, clock: Clock
) -> None:
    job_id = (await provider.submit(video_request(), callback_url=None)).provider_job_id
    await provider.status(job_id)
    assert len(set(fake.tokens_seen)) == 1  # cached

    clock.now += 1600  # both sides: the old token is still valid but due for renewal
    await provider.status(job_id)
    assert len(set(fake.tokens_seen)) == 2
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {fake.tokens_seen[-1]}"


async def test_expired_token_is_refused_and_forgotten(provider: KlingProvider, fake: FakeKling, clock: Clock) -> None:
    await provider.submit(video_request(), callback_url=None)
    fake.clock = lambda: clock.now + 1900  # the server's clock has run past the token's exp
    with pytest.raises(ProviderError) as caught:
        await provider.status(fake.job().id)
    assert caught.value.kind is ErrorKind.MISCONFIGURED and "1004" in caught.value.detail

    fake.clock = clock
    clock.now += 1  # not due for renewal: only the forgotten cache explains a new token
    await provider.status(fake.job().id)
    assert fake.tokens_seen[-1] != fake.tokens_seen[0]


async def test_bad_signature_is_refused(session: aiohttp.ClientSession, fake: FakeKling) -> None:
    provider = KlingProvider(session, ACCESS, "SK-not-the-secret", fake.base_url, timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    error = caught.value
    assert (error.kind, error.status, error.retryable) == (ErrorKind.MISCONFIGURED, 401, False)
    assert "1002" in error.detail
    assert "SK-not-the-secret" not in str(error) and ACCESS not in str(error)


async def test_missing_or_foreign_token(session: aiohttp.ClientSession, fake: FakeKling) -> None:
    async with session.get(f"{fake.base_url}/v1/videos/text2video/1") as response:
        assert response.status == 401
        assert (await response.json())["code"] == 1001
    provider = KlingProvider(session, "AK-someone-else", SECRET, fake.base_url, timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.status("1")
    assert caught.value.kind is ErrorKind.MISCONFIGURED and "1000" in caught.value.detail


# -- requests and statuses ----------------------------------------------------------------------------
async def test_text_request_body(provider: KlingProvider, fake: FakeKling) -> None:
    request = video_request(duration=7, mode="pro", aspect="9:16", negative_prompt="blur", audio=True)
    result = await provider.submit(request, callback_url=None)

    sent = fake.requests[-1]
    assert sent.path == "/v1/videos/text2video"
    assert sent.body.pop("external_task_id").startswith("text2video-")
    assert sent.body == {"model_name": "kling-v3", "prompt": "A red fox running through snow",
                         "negative_prompt": "blur", "mode": "pro", "duration": "7", "aspect_ratio": "9:16",
                         "sound": "on"}
    assert result.provider_job_id == fake.job().id
    assert result.state is ProviderState.PENDING


async def test_image_request_body(provider: KlingProvider, fake: FakeKling) -> None:
    result = await provider.submit(video_request(image_urls=(IMAGE,)), callback_url="https://bot.example/cb/k/t")

    sent = fake.requests[-1]
    assert sent.path == "/v1/videos/image2video"
    assert sent.body.pop("external_task_id").startswith("image2video-")
    assert sent.body == {"model_name": "kling-v3", "prompt": "A red fox running through snow", "image": IMAGE,
                         "mode": "std", "duration": "5", "sound": "off", "callback_url": "https://bot.example/cb/k/t"}
    assert result.provider_job_id == f"image2video:{fake.job().id}"


@pytest.mark.parametrize("images", [(), (IMAGE, "https://cdn.example/last.png")])
@pytest.mark.parametrize(("word", "state"), [
    ("submitted", ProviderState.PENDING),
    ("processing", ProviderState.PROCESSING),
    ("succeed", ProviderState.COMPLETED),
    ("failed", ProviderState.FAILED),
])
async def test_every_status_word_on_the_right_route(
    provider: KlingProvider, fake: FakeKling, word: str, state: ProviderState, images: tuple[str, ...]
) -> None:
    job_id = (await provider.submit(video_request(image_urls=images), callback_url=None)).provider_job_id
    fake.set_state(fake.job().id, word, error="Failure to pass the risk control system" if word == "failed" else None)

    update = await provider.status(job_id)

    kind = "image2video" if images else "text2video"
    assert fake.requests[-1].path == f"/v1/videos/{kind}/{fake.job().id}"
    assert (update.provider_job_id, update.state) == (job_id, state)
    assert update.video_url == (fake.video_url(fake.job().id) if word == "succeed" else None)
    assert update.error_kind == (ErrorKind.CONTENT_BLOCKED if word == "failed" else None)


@pytest.mark.parametrize("images", [(), (IMAGE,)])
async def test_a_callback_for_every_status_change(
    provider: KlingProvider, fake: FakeKling, sink: CallbackSink, images: tuple[str, ...]
) -> None:
    job_id = (await provider.submit(video_request(image_urls=images), callback_url=sink.url)).provider_job_id
    await sink.wait_for(1)
    await fake.advance(fake.job().id, "processing")
    await fake.finish(fake.job().id, failed="Video generation failed")

    # Each callback is posted on a task of its own, so they may arrive in any order.
    updates = {update.state: update for update in map(provider.parse_callback, await sink.wait_for(3))}

    assert set(updates) == {ProviderState.PENDING, ProviderState.PROCESSING, ProviderState.FAILED}
    assert {u.provider_job_id for u in updates.values()} == {job_id}
    failed = updates[ProviderState.FAILED]
    assert (failed.error_kind, failed.error_detail) == (ErrorKind.GENERATION_FAILED, "Video generation failed")


async def test_timeline_sends_its_callbacks(session: aiohttp.ClientSession, sink: CallbackSink) -> None:
    fake = FakeKling(auto_complete_after=0.15)
    await fake.start()
    try:
        provider = KlingProvider(session, fake.access_key, fake.secret_key, fake.base_url)
        job_id = (await provider.submit(video_request(), callback_url=sink.url)).provider_job_id
        updates = {update.state: update for update in map(provider.parse_callback, await sink.wait_for(3))}
        assert updates[ProviderState.COMPLETED].video_url == fake.video_url(job_id)
    finally:
        await fake.close()


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"{}", b'{"task_id": "1"}', b'{"task_id": "1", "task_status": "queued"}',
    b'{"task_status": "succeed", "task_result": {"videos": []}}',
])
def test_malformed_callbacks_raise(provider: KlingProvider, body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        provider.parse_callback(body)


# -- errors -------------------------------------------------------------------------------------------
async def test_concurrency_full_is_a_wait_not_a_failure(provider: KlingProvider, fake: FakeKling) -> None:
    fake.concurrency_limit = 1
    first = (await provider.submit(video_request(), callback_url=None)).provider_job_id

    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    error = caught.value
    assert (error.kind, error.retryable, error.maybe_started) == (ErrorKind.RATE_LIMITED, True, False)
    assert error.retry_after and error.retry_after > 0
    assert "1303" in error.detail

    await fake.finish(first, send_callback=False)
    await provider.submit(video_request(), callback_url=None)
    assert len(fake.jobs) == 2


def kling_error(code: int, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "request_id": "req-1"}


@pytest.mark.parametrize(("status", "code", "kind", "retryable"), [
    (401, 1000, ErrorKind.MISCONFIGURED, False),
    (429, 1100, ErrorKind.MISCONFIGURED, False),
    (429, 1101, ErrorKind.INSUFFICIENT_CREDITS, False),
    (429, 1102, ErrorKind.INSUFFICIENT_CREDITS, False),
    (403, 1103, ErrorKind.MISCONFIGURED, False),
    (400, 1200, ErrorKind.INVALID_REQUEST, False),
    (400, 1201, ErrorKind.INVALID_REQUEST, False),
    (404, 1203, ErrorKind.MISCONFIGURED, False),  # at create: a model that does not exist
    (400, 1300, ErrorKind.CONTENT_BLOCKED, False),
    (400, 1301, ErrorKind.CONTENT_BLOCKED, False),
    (429, 1302, ErrorKind.RATE_LIMITED, True),
    (429, 1303, ErrorKind.RATE_LIMITED, True),
    (429, 1304, ErrorKind.MISCONFIGURED, False),
    (500, 5000, ErrorKind.PROVIDER_DOWN, True),
    (503, 5001, ErrorKind.PROVIDER_DOWN, True),
    (504, 5002, ErrorKind.PROVIDER_DOWN, True),
    (200, 1303, ErrorKind.RATE_LIMITED, True),
    (400, 1999, ErrorKind.INVALID_REQUEST, False),  # unknown code: the HTTP status decides
])
async def test_submit_codes_mapped(
    provider: KlingProvider, fake: FakeKling, status: int, code: int, kind: ErrorKind, retryable: bool
) -> None:
    fake.fail_next("submit", status, kling_error(code, "described"))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert (caught.value.kind, caught.value.retryable, caught.value.maybe_started) == (kind, retryable, False)
    assert caught.value.detail == f"described (code {code})"


async def test_validation_detail_reaches_the_error(provider: KlingProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(duration=20), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "duration is invalid" in caught.value.detail


async def test_unknown_task_is_not_found(provider: KlingProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.status("image2video:42")
    assert caught.value.kind is ErrorKind.NOT_FOUND and not caught.value.retryable


async def test_unreadable_create_answer_may_have_started(provider: KlingProvider, fake: FakeKling) -> None:
    fake.fail_next("submit", 200, {"code": 0, "message": "SUCCEED", "data": None})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and not caught.value.retryable


async def test_timeout_after_sending_may_have_started(
    session: aiohttp.ClientSession, fake: FakeKling, clock: Clock
) -> None:
    provider = KlingProvider(session, ACCESS, SECRET, fake.base_url, now=clock, timeout=SHORT_TIMEOUT)
    fake.fail_next("submit", 200, kling_error(0, "SUCCEED"), delay=0.6)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and caught.value.retryable


async def test_connection_refused_started_nothing(session: aiohttp.ClientSession) -> None:
    provider = KlingProvider(session, ACCESS, SECRET, closed_base_url(), timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.retryable and not caught.value.maybe_started


async def test_echoed_credentials_are_masked(provider: KlingProvider, fake: FakeKling) -> None:
    fake.fail_next("submit", 401, kling_error(1000, f"bad key {ACCESS} / {SECRET}"))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert ACCESS not in str(caught.value) and SECRET not in str(caught.value)


def test_capabilities(provider: KlingProvider) -> None:
    assert CAPABILITIES.push and CAPABILITIES.durations == tuple(range(3, 16))
    assert CAPABILITIES.modes == ("std", "pro") and CAPABILITIES.max_images == 1 and CAPABILITIES.end_image
    assert ACCESS not in provider.rate_key and SECRET not in provider.rate_key
    assert provider.expected_seconds(video_request(duration=3)) < provider.expected_seconds(video_request(duration=15))
