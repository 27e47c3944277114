"""runbase adapter against the fake runbase server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.providers.base import ErrorKind, MalformedCallback, ProviderError, ProviderState
from bot.providers.runbase import CAPABILITIES, RunbaseProvider
from tests.fakes.runbase import FakeRunbase
from tests.providers import SHORT_TIMEOUT, TEST_TIMEOUT, closed_base_url, video_request

START = "https://cdn.example/first.png"
END = "https://cdn.example/last.png"

KEY = "sk-rb-5c6d7e8f"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunbase]:
    server = FakeRunbase()
    server.api_key = KEY
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeRunbase) -> RunbaseProvider:
    return RunbaseProvider(session, KEY, fake.base_url, timeout=TEST_TIMEOUT)


async def submit(provider: RunbaseProvider, **changes: object) -> str:
    return (await provider.submit(video_request(**changes), callback_url=None)).provider_job_id


@pytest.mark.parametrize(("mode", "wire"), [("std", "std"), ("pro", "pro"), ("4k", "4K")])
async def test_text_request_body_and_headers(
    provider: RunbaseProvider, fake: FakeRunbase, mode: str, wire: str
) -> None:
    result = await provider.submit(video_request(duration=10, mode=mode, aspect="1:1"),
                                   callback_url="https://bot.example/ignored")

    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/runs")
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.body == {"model": "kling/kling-3.0", "input": {
        "prompt": "A red fox running through snow", "aspect_ratio": "1:1", "mode": wire, "duration": 10,
    }}
    assert result.provider_job_id == fake.job().id
    assert result.state is ProviderState.PENDING


async def test_image_request_sends_frame_images(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    await submit(provider, image_urls=("https://cdn.example/a.png",), end_image_url="https://cdn.example/b.png")
    assert fake.requests[-1].body["input"]["image_urls"] == ["https://cdn.example/a.png", "https://cdn.example/b.png"]


async def test_run_id_field_is_accepted(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    fake.id_field = "run_id"
    assert await submit(provider) == fake.job().id
    fake.fail_next("submit", 200, {"data": {"id": "run_wrapped", "status": "pending"}})
    assert await submit(provider) == "run_wrapped"


@pytest.mark.parametrize(("word", "state"), [
    ("pending", ProviderState.PENDING),
    ("processing", ProviderState.PROCESSING),
    ("succeeded", ProviderState.COMPLETED),
    ("failed", ProviderState.FAILED),
])
async def test_every_status_word_is_mapped(
    provider: RunbaseProvider, fake: FakeRunbase, word: str, state: ProviderState
) -> None:
    job_id = await submit(provider)
    fake.set_state(job_id, word)

    update = await provider.status(job_id)

    assert (update.provider_job_id, update.state) == (job_id, state)
    assert update.video_url == (fake.video_url(job_id) if word == "succeeded" else None)
    assert fake.status_calls == 1


@pytest.mark.parametrize("style", ["object", "string"])
@pytest.mark.parametrize(("message", "kind"), [
    ("Output flagged by content moderation", ErrorKind.CONTENT_BLOCKED),
    ("Upstream generation error", ErrorKind.GENERATION_FAILED),
])
async def test_failed_run_error_shapes(
    provider: RunbaseProvider, fake: FakeRunbase, style: str, message: str, kind: ErrorKind
) -> None:
    fake.error_style = style
    job_id = await submit(provider)
    await fake.finish(job_id, failed=message)

    update = await provider.status(job_id)

    assert (update.state, update.error_kind, update.error_detail) == (ProviderState.FAILED, kind, message)


async def test_succeeded_without_urls_is_a_failed_generation(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    fake.fail_next("status", 200, {"id": "r", "status": "succeeded", "output": {"urls": []}})
    update = await provider.status("r")
    assert update.state is ProviderState.FAILED and update.error_kind is ErrorKind.GENERATION_FAILED


async def test_timeline_moves_runs_along(session: aiohttp.ClientSession) -> None:
    fake = FakeRunbase(auto_complete_after=0.3)
    await fake.start()
    try:
        provider = RunbaseProvider(session, fake.api_key, fake.base_url)
        job_id = await submit(provider)
        assert (await provider.status(job_id)).state is ProviderState.PENDING
        fake.jobs[job_id].created -= 0.3
        assert (await provider.status(job_id)).state is ProviderState.COMPLETED
    finally:
        await fake.close()


def runbase_error(message: str, code: str) -> dict[str, object]:
    return {"error": {"message": message, "code": code}}


@pytest.mark.parametrize(("status", "body", "kind", "retryable"), [
    (400, runbase_error("input.prompt: required", "invalid_input"), ErrorKind.INVALID_REQUEST, False),
    (400, runbase_error("Prompt rejected by safety policy", "invalid_input"), ErrorKind.CONTENT_BLOCKED, False),
    (400, runbase_error("Model 'kling/kling-3.0' not found", "model_not_found"), ErrorKind.MISCONFIGURED, False),
    (401, runbase_error("Invalid API key", "invalid_api_key"), ErrorKind.MISCONFIGURED, False),
    (402, runbase_error("Insufficient balance", "insufficient_balance"), ErrorKind.INSUFFICIENT_CREDITS, False),
    (403, runbase_error("API key spend limit exceeded", "api_key_spend_limit_exceeded"),
     ErrorKind.INSUFFICIENT_CREDITS, False),
    (403, runbase_error("IP not allowed", "ip_not_allowed"), ErrorKind.MISCONFIGURED, False),
    (429, runbase_error("Rate limit exceeded", "RATE_LIMITED"), ErrorKind.RATE_LIMITED, True),
    (429, runbase_error("Monthly usage exceeded", "USAGE_EXCEEDED"), ErrorKind.INSUFFICIENT_CREDITS, False),
    (500, runbase_error("Internal server error", "internal_error"), ErrorKind.PROVIDER_DOWN, True),
    (503, "upstream unavailable", ErrorKind.PROVIDER_DOWN, True),
    (404, "Not Found", ErrorKind.MISCONFIGURED, False),  # at create: the route, not a run
])
async def test_submit_errors_mapped(
    provider: RunbaseProvider, fake: FakeRunbase, status: int, body: object, kind: ErrorKind, retryable: bool
) -> None:
    fake.fail_next("submit", status, body)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert (caught.value.kind, caught.value.retryable, caught.value.maybe_started) == (kind, retryable, False)


async def test_validation_detail_reaches_the_error(provider: RunbaseProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(aspect="4:3"), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "aspect_ratio" in caught.value.detail


async def test_unknown_run_is_not_found(provider: RunbaseProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.status("run_missing")
    assert caught.value.kind is ErrorKind.NOT_FOUND and not caught.value.retryable


async def test_shared_window_counts_creates_and_status_calls(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    fake.rate_calls = 3
    job_id = await submit(provider)
    await provider.status(job_id)
    await submit(provider)
    for call in (provider.status(job_id), provider.submit(video_request(), callback_url=None)):
        with pytest.raises(ProviderError) as caught:
            await call
        error = caught.value
        assert (error.kind, error.retryable, error.maybe_started) == (ErrorKind.RATE_LIMITED, True, False)
        assert error.retry_after == CAPABILITIES.rate_limit.per_seconds
    assert len(fake.jobs) == 2


async def test_unreadable_create_answer_may_have_started(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    fake.fail_next("submit", 201, {"status": "pending"})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and not caught.value.retryable


async def test_timeout_after_sending_may_have_started(session: aiohttp.ClientSession, fake: FakeRunbase) -> None:
    provider = RunbaseProvider(session, KEY, fake.base_url, timeout=SHORT_TIMEOUT)
    fake.fail_next("submit", 201, {"id": "late", "status": "pending"}, delay=0.6)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and caught.value.retryable


async def test_connection_refused_started_nothing(session: aiohttp.ClientSession) -> None:
    provider = RunbaseProvider(session, KEY, closed_base_url(), timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.retryable and not caught.value.maybe_started


async def test_wrong_key_is_misconfigured(session: aiohttp.ClientSession, fake: FakeRunbase) -> None:
    wrong = "sk-rb-wrong"
    provider = RunbaseProvider(session, wrong, fake.base_url, timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.status("run_x")
    assert caught.value.kind is ErrorKind.MISCONFIGURED and wrong not in str(caught.value)


async def test_echoed_key_is_masked(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    fake.fail_next("submit", 401, runbase_error(f"key {KEY} revoked", "invalid_api_key"))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert KEY not in str(caught.value)


def test_no_webhooks(provider: RunbaseProvider) -> None:
    with pytest.raises(MalformedCallback):
        provider.parse_callback(b'{"id": "run_1", "status": "succeeded"}')


def test_capabilities(provider: RunbaseProvider) -> None:
    assert not CAPABILITIES.push and CAPABILITIES.durations == (5, 10, 15)
    assert CAPABILITIES.modes == ("std", "pro", "4k") and CAPABILITIES.max_images == 1 and CAPABILITIES.end_image
    assert CAPABILITIES.rate_limit.includes_submit
    assert (CAPABILITIES.rate_limit.calls, CAPABILITIES.rate_limit.per_seconds) == (20, 10)
    assert KEY not in provider.rate_key
    assert provider.expected_seconds(video_request(mode="std")) < provider.expected_seconds(video_request(mode="4k"))


# -- runbase's one creative field: the end frame, as the last of its `image_urls` frame images.
async def test_end_frame_follows_the_first_frame(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    await provider.submit(video_request(image_urls=(START,), end_image_url=END), callback_url=None)
    assert fake.requests[-1].body == {"model": "kling/kling-3.0", "input": {
        "prompt": "A red fox running through snow", "aspect_ratio": "16:9", "mode": "std", "duration": 5,
        "image_urls": [START, END]}}


async def test_a_third_frame_is_refused(provider: RunbaseProvider, fake: FakeRunbase) -> None:
    request = video_request(image_urls=(START, "https://cdn.example/middle.png"), end_image_url=END)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(request, callback_url=None)
    assert (caught.value.kind, caught.value.status) == (ErrorKind.INVALID_REQUEST, 400)
    assert "at most 2 frame images" in caught.value.detail


def test_only_the_end_frame_is_offered() -> None:
    assert CAPABILITIES.end_image and not CAPABILITIES.end_image_alone and CAPABILITIES.max_images == 1
    assert not CAPABILITIES.audio and CAPABILITIES.camera is None and CAPABILITIES.storyboard is None
