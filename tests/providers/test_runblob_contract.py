"""runblob adapter against the fake runblob server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from bot.providers.base import ErrorKind, MalformedCallback, ProviderError, ProviderState, ReportedCost
from bot.providers.runblob import CAPABILITIES, RunblobProvider, price_of
from tests.fakes.runblob import FakeRunblob
from tests.providers import SHORT_TIMEOUT, TEST_TIMEOUT, CallbackSink, closed_base_url, video_request

KEY = "rb-live-7f3a9c"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunblob]:
    server = FakeRunblob()
    server.api_key = KEY
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeRunblob) -> RunblobProvider:
    return RunblobProvider(session, KEY, fake.base_url, timeout=TEST_TIMEOUT)


async def test_text_request_body_and_headers(provider: RunblobProvider, fake: FakeRunblob) -> None:
    result = await provider.submit(video_request(duration=10, mode="pro"), callback_url=None)

    sent = fake.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.body == {"prompt": "A red fox running through snow", "duration": "10", "aspect_ratio": "16:9",
                         "model": "kling_o3_pro"}
    assert result.provider_job_id == fake.job().id
    assert result.state is ProviderState.PENDING
    assert fake.submit_calls == 1


async def test_image_request_carries_images_and_callback(provider: RunblobProvider, fake: FakeRunblob) -> None:
    request = video_request(aspect="9:16", image_urls=("https://cdn.example/a.png", "https://cdn.example/b.png"))
    await provider.submit(request, callback_url="https://bot.example/callbacks/runblob/j1/t")

    assert fake.requests[-1].body == {
        "prompt": "A red fox running through snow", "duration": "5", "aspect_ratio": "9:16", "model": "kling_o3",
        "images_url": ["https://cdn.example/a.png", "https://cdn.example/b.png"],
        "callback_url": "https://bot.example/callbacks/runblob/j1/t",
    }


@pytest.mark.parametrize(("word", "state"), [
    ("pending", ProviderState.PENDING),
    ("processing", ProviderState.PROCESSING),
    ("completed", ProviderState.COMPLETED),
    ("failed", ProviderState.FAILED),
])
async def test_every_status_word_is_mapped(
    provider: RunblobProvider, fake: FakeRunblob, word: str, state: ProviderState
) -> None:
    job_id = (await provider.submit(video_request(), callback_url=None)).provider_job_id
    fake.set_state(job_id, word)

    update = await provider.status(job_id)

    assert update.provider_job_id == job_id
    assert update.state is state
    assert update.video_url == (fake.video_url(job_id) if word == "completed" else None)
    assert update.error_kind == (ErrorKind.GENERATION_FAILED if word == "failed" else None)
    assert fake.status_calls == 1


async def test_timeline_moves_jobs_along(session: aiohttp.ClientSession) -> None:
    fake = FakeRunblob(auto_complete_after=0.3)
    await fake.start()
    try:
        provider = RunblobProvider(session, fake.api_key, fake.base_url)
        job_id = (await provider.submit(video_request(), callback_url=None)).provider_job_id
        assert (await provider.status(job_id)).state is ProviderState.PENDING
        fake.jobs[job_id].created -= 0.3
        assert (await provider.status(job_id)).state is ProviderState.COMPLETED
    finally:
        await fake.close()


async def test_webhook_parsed(provider: RunblobProvider, fake: FakeRunblob, sink: CallbackSink) -> None:
    job_id = (await provider.submit(video_request(), callback_url=sink.url)).provider_job_id
    await fake.finish(job_id)

    [body] = await sink.wait_for(1)
    update = provider.parse_callback(body)
    assert update.provider_job_id == job_id
    assert update.state is ProviderState.COMPLETED
    assert update.video_url == fake.video_url(job_id)


@pytest.mark.parametrize(("code", "kind"), [
    ("CONTENT_POLICY_VIOLATION", ErrorKind.CONTENT_BLOCKED),
    ("IMAGE_INACCESSIBLE", ErrorKind.INVALID_REQUEST),
    ("INVALID_IMAGE", ErrorKind.INVALID_REQUEST),
    ("TIMEOUT", ErrorKind.GENERATION_FAILED),
])
async def test_failure_webhook_codes(
    provider: RunblobProvider, fake: FakeRunblob, sink: CallbackSink, code: str, kind: ErrorKind
) -> None:
    job_id = (await provider.submit(video_request(), callback_url=sink.url)).provider_job_id
    await fake.finish(job_id, failed=code)

    update = provider.parse_callback((await sink.wait_for(1))[0])
    assert update.state is ProviderState.FAILED
    assert update.error_kind is kind
    assert update.error_detail == code


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b"{}", b'{"generation_id": "g1"}', b'{"generation_id": "g1", "status": "exploded"}',
])
def test_malformed_callbacks_raise(provider: RunblobProvider, body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        provider.parse_callback(body)


@pytest.mark.parametrize(("status", "body", "headers", "kind", "retryable", "retry_after"), [
    (400, {"detail": "Prompt must be 1-2500 characters"}, {}, ErrorKind.INVALID_REQUEST, False, None),
    (422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}, {}, ErrorKind.INVALID_REQUEST,
     False, None),
    (400, {"detail": "CONTENT_POLICY_VIOLATION"}, {}, ErrorKind.CONTENT_BLOCKED, False, None),
    (401, {"detail": "Not authenticated"}, {}, ErrorKind.MISCONFIGURED, False, None),
    (402, {"detail": "INSUFFICIENT_CREDITS: Please top up your balance"}, {}, ErrorKind.INSUFFICIENT_CREDITS,
     False, None),
    (429, {"detail": "Too many requests"}, {"Retry-After": "7"}, ErrorKind.RATE_LIMITED, True, 7.0),
    (500, {"detail": "Internal error"}, {}, ErrorKind.PROVIDER_DOWN, True, None),
    (502, "<html>Bad gateway</html>", {}, ErrorKind.PROVIDER_DOWN, True, None),
])
async def test_submit_errors_mapped(
    provider: RunblobProvider, fake: FakeRunblob, status: int, body: object, headers: dict[str, str],
    kind: ErrorKind, retryable: bool, retry_after: float | None,
) -> None:
    fake.fail_next("submit", status, body, headers=headers)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    error = caught.value
    assert (error.kind, error.retryable, error.maybe_started, error.retry_after) == (
        kind, retryable, False, retry_after
    )
    assert error.status == status


async def test_validation_detail_reaches_the_error(provider: RunblobProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(prompt="x" * 2501), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "1-2500 characters" in caught.value.detail


async def test_unknown_generation_is_not_found(provider: RunblobProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.status("00000000-0000-0000-0000-000000000000")
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert not caught.value.retryable


async def test_status_server_error_is_retryable(provider: RunblobProvider, fake: FakeRunblob) -> None:
    job_id = (await provider.submit(video_request(), callback_url=None)).provider_job_id
    fake.fail_next("status", 503, {"detail": "maintenance"})
    with pytest.raises(ProviderError) as caught:
        await provider.status(job_id)
    assert caught.value.kind is ErrorKind.PROVIDER_DOWN and caught.value.retryable


async def test_unreadable_created_answer_may_have_started(provider: RunblobProvider, fake: FakeRunblob) -> None:
    fake.fail_next("submit", 201, {"ok": True})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started
    assert not caught.value.retryable


async def test_timeout_after_sending_may_have_started(session: aiohttp.ClientSession, fake: FakeRunblob) -> None:
    provider = RunblobProvider(session, KEY, fake.base_url, timeout=SHORT_TIMEOUT)
    fake.fail_next("submit", 201, {"generation_id": "late", "status": "pending"}, delay=0.6)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.kind is ErrorKind.PROVIDER_DOWN
    assert caught.value.maybe_started and caught.value.retryable
    assert fake.submit_calls == 1


async def test_connection_refused_started_nothing(session: aiohttp.ClientSession) -> None:
    provider = RunblobProvider(session, KEY, closed_base_url(), timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.kind is ErrorKind.PROVIDER_DOWN
    assert caught.value.retryable and not caught.value.maybe_started


async def test_echoed_key_is_masked(provider: RunblobProvider, fake: FakeRunblob) -> None:
    fake.fail_next("submit", 401, {"detail": f"Invalid API key {KEY}"})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.kind is ErrorKind.MISCONFIGURED
    assert KEY not in str(caught.value) and KEY not in caught.value.detail


async def test_wrong_key_is_misconfigured(session: aiohttp.ClientSession, fake: FakeRunblob) -> None:
    wrong = "rb-wrong-1b2c3d"
    provider = RunblobProvider(session, wrong, fake.base_url, timeout=TEST_TIMEOUT)
    for call in (provider.submit(video_request(), callback_url=None), provider.status("anything")):
        with pytest.raises(ProviderError) as caught:
            await call
        assert caught.value.kind is ErrorKind.MISCONFIGURED and not caught.value.retryable
        assert wrong not in str(caught.value)


def test_rate_key_hides_the_key(provider: RunblobProvider) -> None:
    assert KEY not in provider.rate_key
    assert provider.rate_key.startswith("runblob:")


def test_capabilities_and_expected_seconds(provider: RunblobProvider) -> None:
    assert CAPABILITIES.push and CAPABILITIES.durations == (5, 10, 15) and CAPABILITIES.max_images == 5
    assert provider.expected_seconds(video_request(duration=5)) < provider.expected_seconds(
        video_request(duration=15, mode="pro")
    )


# -- runblob's reported cost: `price` in the create answer (money, a decimal string), and wherever a status or
# webhook carries it.
async def test_the_create_answers_price_is_the_jobs_cost_in_money(provider: RunblobProvider) -> None:
    result = await provider.submit(video_request(), callback_url=None)
    assert result.reported_cost == ReportedCost(Decimal("0.50"))  # the fake answers as the docs: "price": "0.50"


async def test_a_status_without_a_price_reports_none(provider: RunblobProvider, fake: FakeRunblob) -> None:
    result = await provider.submit(video_request(), callback_url=None)
    fake.set_state(result.provider_job_id, "processing")
    update = await provider.status(result.provider_job_id)
    assert update.state is ProviderState.PROCESSING and update.reported_cost is None


def test_a_webhook_with_a_price_carries_it(provider: RunblobProvider) -> None:
    body = json.dumps({"generation_id": "g-1", "status": "completed", "video_url": "https://cdn.example/v.mp4",
                       "price": "1.25"}).encode()
    assert provider.parse_callback(body).reported_cost == ReportedCost(Decimal("1.25"))


@pytest.mark.parametrize(("price", "expected"), [
    ("0.50", Decimal("0.50")), (0.5, Decimal("0.5")), (" 2 ", Decimal("2")), (None, None), ("", None),
    ("free", None), ("-1", None), ("NaN", None), (True, None),
])
def test_price_is_read_defensively(price: object, expected: Decimal | None) -> None:
    cost = price_of(price)  # type: ignore[arg-type]
    assert (cost.amount if cost else None) == expected
    assert cost is None or not cost.units
