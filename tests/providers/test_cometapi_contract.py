"""cometapi adapter against the fake cometapi server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.providers.base import ErrorKind, MalformedCallback, ProviderError, ProviderState
from bot.providers.cometapi import CAPABILITIES, CometapiProvider
from tests.fakes.cometapi import FakeCometapi
from tests.providers import SHORT_TIMEOUT, TEST_TIMEOUT, CallbackSink, closed_base_url, video_request

KEY = "sk-comet-9d8e7f6a"
IMAGE = "https://cdn.example/first.png"


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometapi]:
    server = FakeCometapi()
    server.api_key = KEY
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeCometapi) -> CometapiProvider:
    return CometapiProvider(session, KEY, fake.base_url, timeout=TEST_TIMEOUT)


async def test_text_request_body_and_headers(provider: CometapiProvider, fake: FakeCometapi) -> None:
    result = await provider.submit(video_request(duration=10, mode="pro", audio=True), callback_url=None)

    sent = fake.requests[-1]
    assert sent.path == "/kling/v1/videos/text2video"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    external = sent.body.pop("external_task_id")
    assert external.startswith("text2video-")
    assert sent.body == {"model_name": "kling-v3", "prompt": "A red fox running through snow", "mode": "pro",
                         "duration": "10", "aspect_ratio": "16:9", "sound": "on"}
    assert result.provider_job_id == fake.job().id  # text tasks keep the bare id
    assert result.state is ProviderState.PENDING


async def test_image_request_with_tail_and_callback(provider: CometapiProvider, fake: FakeCometapi) -> None:
    request = video_request(image_urls=(IMAGE,), end_image_url="https://cdn.example/last.png", negative_prompt="blur")
    result = await provider.submit(request, callback_url="https://bot.example/callbacks/cometapi/j/t")

    sent = fake.requests[-1]
    assert sent.path == "/kling/v1/videos/image2video"
    assert sent.body["external_task_id"].startswith("image2video-")
    del sent.body["external_task_id"]
    assert sent.body == {"model_name": "kling-v3", "prompt": "A red fox running through snow", "image": IMAGE,
                         "image_tail": "https://cdn.example/last.png", "negative_prompt": "blur", "mode": "std",
                         "duration": "5", "sound": "off", "callback_url": "https://bot.example/callbacks/cometapi/j/t"}
    assert result.provider_job_id == f"image2video:{fake.job().id}"


@pytest.mark.parametrize("images", [(), (IMAGE,)])
@pytest.mark.parametrize(("word", "state"), [
    ("submitted", ProviderState.PENDING),
    ("processing", ProviderState.PROCESSING),
    ("succeed", ProviderState.COMPLETED),
    ("failed", ProviderState.FAILED),
])
async def test_every_status_word_on_the_right_route(
    provider: CometapiProvider, fake: FakeCometapi, word: str, state: ProviderState, images: tuple[str, ...]
) -> None:
    job_id = (await provider.submit(video_request(image_urls=images), callback_url=None)).provider_job_id
    fake.set_state(fake.job().id, word, error="Task failed" if word == "failed" else None)

    update = await provider.status(job_id)

    kind = "image2video" if images else "text2video"
    assert fake.requests[-1].path == f"/kling/v1/videos/{kind}/{fake.job().id}"
    assert (update.provider_job_id, update.state) == (job_id, state)
    assert update.video_url == (fake.video_url(fake.job().id) if word == "succeed" else None)
    if word == "failed":
        assert (update.error_kind, update.error_detail) == (ErrorKind.GENERATION_FAILED, "Task failed")
    assert fake.status_calls == 1


@pytest.mark.parametrize("images", [(), (IMAGE,)])
async def test_a_callback_for_every_status_change(
    provider: CometapiProvider, fake: FakeCometapi, sink: CallbackSink, images: tuple[str, ...]
) -> None:
    job_id = (await provider.submit(video_request(image_urls=images), callback_url=sink.url)).provider_job_id
    await sink.wait_for(1)
    await fake.advance(fake.job().id, "processing")
    await fake.finish(fake.job().id)

    # Each callback is posted on a task of its own, so they may arrive in any order (the bot's conditional
    # status updates are what keep a late "processing" from undoing "completed").
    updates = {update.state: update for update in map(provider.parse_callback, await sink.wait_for(3))}

    assert set(updates) == {ProviderState.PENDING, ProviderState.PROCESSING, ProviderState.COMPLETED}
    # Image tasks too: the kind rides in external_task_id.
    assert {u.provider_job_id for u in updates.values()} == {job_id}
    assert updates[ProviderState.COMPLETED].video_url == fake.video_url(fake.job().id)


async def test_timeline_sends_its_callbacks(session: aiohttp.ClientSession, sink: CallbackSink) -> None:
    fake = FakeCometapi(auto_complete_after=0.15)
    await fake.start()
    try:
        provider = CometapiProvider(session, fake.api_key, fake.base_url)
        job_id = (await provider.submit(video_request(), callback_url=sink.url)).provider_job_id
        states = sorted(provider.parse_callback(body).state.value for body in await sink.wait_for(3))
        assert states == sorted(state.value for state in (ProviderState.PENDING, ProviderState.PROCESSING,
                                                          ProviderState.COMPLETED))
        assert (await provider.status(job_id)).state is ProviderState.COMPLETED
    finally:
        await fake.close()


@pytest.mark.parametrize(("message", "kind"), [
    ("Failure to pass the risk control system", ErrorKind.CONTENT_BLOCKED),
    ("The content may contain sensitive information", ErrorKind.CONTENT_BLOCKED),
    ("Internal generation error", ErrorKind.GENERATION_FAILED),
])
async def test_failure_callback(
    provider: CometapiProvider, fake: FakeCometapi, sink: CallbackSink, message: str, kind: ErrorKind
) -> None:
    await provider.submit(video_request(), callback_url=sink.url)
    await fake.finish(fake.job().id, failed=message)
    # The fake calls back for each state on a task of its own, so the two may arrive in either order.
    updates = [provider.parse_callback(body) for body in await sink.wait_for(2)]
    [update] = [update for update in updates if update.state is ProviderState.FAILED]
    assert (update.error_kind, update.error_detail) == (kind, message)


@pytest.mark.parametrize("body", [
    b"", b"garbage", b"[]", b"{}", b'{"task_id": "1"}', b'{"task_id": "1", "task_status": "exploded"}',
    b'{"task_status": "succeed"}',
])
def test_malformed_callbacks_raise(provider: CometapiProvider, body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        provider.parse_callback(body)


def gateway(message: str, code: str = "", type_: str = "comet_api_error") -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "param": "", "code": code}}


@pytest.mark.parametrize(("status", "body", "kind", "retryable"), [
    (400, gateway("duration is invalid", "invalid_request"), ErrorKind.INVALID_REQUEST, False),
    (400, gateway("prompt violates the content policy"), ErrorKind.CONTENT_BLOCKED, False),
    (401, gateway("Invalid token", "invalid_api_key"), ErrorKind.MISCONFIGURED, False),
    (403, gateway("user quota is insufficient", "insufficient_user_quota"), ErrorKind.INSUFFICIENT_CREDITS, False),
    (404, gateway("Invalid URL (POST /kling/v1/videos/x)", "not_found"), ErrorKind.MISCONFIGURED, False),
    (429, gateway("Too many requests", "rate_limit_exceeded"), ErrorKind.RATE_LIMITED, True),
    (500, gateway("upstream error", "bad_response_status_code"), ErrorKind.PROVIDER_DOWN, True),
    (503, "Service Unavailable", ErrorKind.PROVIDER_DOWN, True),
    # Kling's own codes relayed in a 200 answer
    (200, {"code": 1303, "message": "parallel task over resource pack limit"}, ErrorKind.RATE_LIMITED, True),
    (200, {"code": 1102, "message": "resource pack exhausted"}, ErrorKind.INSUFFICIENT_CREDITS, False),
    (200, {"code": 1301, "message": "content security policy"}, ErrorKind.CONTENT_BLOCKED, False),
    (200, {"code": 1201, "message": "mode is invalid"}, ErrorKind.INVALID_REQUEST, False),
    (200, {"code": 5000, "message": "server error"}, ErrorKind.PROVIDER_DOWN, True),
    (200, {"code": 4242, "message": "something new"}, ErrorKind.INVALID_REQUEST, False),
])
async def test_submit_errors_mapped(
    provider: CometapiProvider, fake: FakeCometapi, status: int, body: object, kind: ErrorKind, retryable: bool
) -> None:
    fake.fail_next("submit", status, body)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert (caught.value.kind, caught.value.retryable, caught.value.maybe_started) == (kind, retryable, False)
    assert fake.jobs == {}


async def test_validation_detail_reaches_the_error(provider: CometapiProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(duration=15), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "duration is invalid" in caught.value.detail


async def test_unknown_task_is_not_found(provider: CometapiProvider) -> None:
    for job_id in ("123", "image2video:123"):
        with pytest.raises(ProviderError) as caught:
            await provider.status(job_id)
        assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_status_errors(provider: CometapiProvider, fake: FakeCometapi) -> None:
    job_id = (await provider.submit(video_request(), callback_url=None)).provider_job_id
    fake.fail_next("status", 502, "Bad Gateway")
    fake.fail_next("status", 200, {"code": 0, "message": "", "data": {"task_status": "submitted"}})
    fake.fail_next("status", 200, {"code": 1302, "message": "too fast"})
    for kind in (ErrorKind.PROVIDER_DOWN, ErrorKind.PROVIDER_DOWN, ErrorKind.RATE_LIMITED):
        with pytest.raises(ProviderError) as caught:
            await provider.status(job_id)
        assert caught.value.kind is kind and caught.value.retryable


@pytest.mark.parametrize("body", [{"code": 0, "message": "ok", "data": {"task_status": "submitted"}},
                                  {"code": 0, "message": "ok"}, "OK"])
async def test_unreadable_create_answer_may_have_started(
    provider: CometapiProvider, fake: FakeCometapi, body: object
) -> None:
    fake.fail_next("submit", 200, body)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and not caught.value.retryable


async def test_timeout_after_sending_may_have_started(session: aiohttp.ClientSession, fake: FakeCometapi) -> None:
    provider = CometapiProvider(session, KEY, fake.base_url, timeout=SHORT_TIMEOUT)
    fake.fail_next("submit", 200, {"code": 0, "data": {"task_id": "1", "task_status": "submitted"}}, delay=0.6)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and caught.value.retryable


async def test_connection_refused_started_nothing(session: aiohttp.ClientSession) -> None:
    provider = CometapiProvider(session, KEY, closed_base_url(), timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.retryable and not caught.value.maybe_started


async def test_wrong_key_is_misconfigured(session: aiohttp.ClientSession, fake: FakeCometapi) -> None:
    wrong = "sk-comet-wrong"
    provider = CometapiProvider(session, wrong, fake.base_url, timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.kind is ErrorKind.MISCONFIGURED and wrong not in str(caught.value)


async def test_echoed_key_is_masked(provider: CometapiProvider, fake: FakeCometapi) -> None:
    fake.fail_next("submit", 401, gateway(f"token {KEY} is disabled"))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert KEY not in str(caught.value)


def test_capabilities(provider: CometapiProvider) -> None:
    assert CAPABILITIES.push and CAPABILITIES.durations == (5, 10) and CAPABILITIES.modes == ("std", "pro")
    assert CAPABILITIES.max_images == 1 and CAPABILITIES.end_image and CAPABILITIES.negative_prompt
    assert CAPABILITIES.audio
    assert KEY not in provider.rate_key
    assert provider.expected_seconds(video_request(duration=5)) < provider.expected_seconds(
        video_request(duration=10, mode="pro")
    )
