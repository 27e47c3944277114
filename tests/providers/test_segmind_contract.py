"""segmind adapter against the fake segmind server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.core.models import CameraMove, Shot
from bot.providers.base import ErrorKind, MalformedCallback, ProviderError, ProviderState
from bot.providers.segmind import CAPABILITIES, SegmindProvider, find_video_url, seconds_until
from tests.fakes.segmind import FakeSegmind
from tests.providers import SHORT_TIMEOUT, TEST_TIMEOUT, closed_base_url, video_request

START = "https://cdn.example/first.png"
END = "https://cdn.example/last.png"

KEY = "SG_live_4e5f6a7b"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSegmind]:
    server = FakeSegmind()
    server.api_key = KEY
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeSegmind) -> SegmindProvider:
    return SegmindProvider(session, KEY, fake.base_url, timeout=TEST_TIMEOUT)


async def submit(provider: SegmindProvider, **changes: object) -> str:
    return (await provider.submit(video_request(**changes), callback_url=None)).provider_job_id


async def test_text_request_body_and_headers(provider: SegmindProvider, fake: FakeSegmind) -> None:
    result = await provider.submit(
        video_request(duration=12, mode="pro", negative_prompt="blur", audio=True),
        callback_url="https://bot.example/ignored",  # segmind has no webhooks: never sent
    )

    sent = fake.requests[-1]
    assert sent.path == "/v2/kling-o3-text2video"
    assert sent.headers["x-api-key"] == KEY
    assert "Authorization" not in sent.headers
    assert sent.body == {"prompt": "A red fox running through snow", "aspect_ratio": "16:9", "duration": "12",
                         "mode": "pro", "generate_audio": True, "negative_prompt": "blur"}
    assert result.provider_job_id == fake.job().id
    assert result.state is ProviderState.PENDING


async def test_image_request_uses_image_route(provider: SegmindProvider, fake: FakeSegmind) -> None:
    await submit(provider, image_urls=("https://cdn.example/first.png",))
    assert fake.requests[-1].path == "/v2/kling-o3-image2video"
    assert fake.requests[-1].body == {"prompt": "A red fox running through snow",
                                      "image_url": "https://cdn.example/first.png", "duration": "5", "mode": "std",
                                      "generate_audio": False}

    await submit(provider, image_urls=("https://cdn.example/first.png",), end_image_url="https://cdn.example/last.png")
    assert fake.requests[-1].body["end_image_url"] == "https://cdn.example/last.png"
    assert fake.submit_calls == 2


@pytest.mark.parametrize(("word", "state"), [
    ("QUEUED", ProviderState.PENDING),
    ("PROCESSING", ProviderState.PROCESSING),
])
async def test_in_flight_status_words(
    provider: SegmindProvider, fake: FakeSegmind, word: str, state: ProviderState
) -> None:
    job_id = await submit(provider)
    fake.set_state(job_id, word)
    update = await provider.status(job_id)
    assert (update.provider_job_id, update.state, update.video_url) == (job_id, state, None)
    assert (fake.status_calls, fake.result_calls) == (1, 0)


@pytest.mark.parametrize("style", ["string", "object", "list"])
async def test_completed_fetches_the_result(provider: SegmindProvider, fake: FakeSegmind, style: str) -> None:
    fake.output_style = style
    job_id = await submit(provider)
    await fake.finish(job_id)

    update = await provider.status(job_id)

    assert update.state is ProviderState.COMPLETED
    assert update.video_url == fake.video_url(job_id)
    assert (fake.status_calls, fake.result_calls) == (1, 1)


@pytest.mark.parametrize(("error", "kind"), [
    ("Content blocked by RAI filter", ErrorKind.CONTENT_BLOCKED),
    ("Prompt flagged by safety checker", ErrorKind.CONTENT_BLOCKED),
    ("Worker crashed during inference", ErrorKind.GENERATION_FAILED),
])
async def test_failed_is_a_422_and_an_update(
    provider: SegmindProvider, fake: FakeSegmind, error: str, kind: ErrorKind
) -> None:
    job_id = await submit(provider)
    await fake.finish(job_id, failed=error)

    update = await provider.status(job_id)

    assert update.state is ProviderState.FAILED
    assert (update.error_kind, update.error_detail) == (kind, error)


async def test_failed_on_the_result_route_too(provider: SegmindProvider, fake: FakeSegmind) -> None:
    job_id = await submit(provider)
    fake.set_state(job_id, "COMPLETED")
    fake.fail_next("status", 200, {"status": "COMPLETED", "request_id": job_id})  # the status route says done
    fake.fail_next("status", 422, {"status": "FAILED", "error": "NSFW content detected"})  # the result: failed
    update = await provider.status(job_id)
    assert update.state is ProviderState.FAILED and update.error_kind is ErrorKind.CONTENT_BLOCKED


async def test_completed_without_a_url_is_a_failed_generation(provider: SegmindProvider, fake: FakeSegmind) -> None:
    job_id = await submit(provider)
    fake.fail_next("status", 200, {"status": "COMPLETED", "request_id": job_id})
    fake.fail_next("status", 200, {"status": "COMPLETED", "output": {"seed": 42}, "error": None})
    update = await provider.status(job_id)
    assert update.state is ProviderState.FAILED and update.error_kind is ErrorKind.GENERATION_FAILED


async def test_expired_request_is_not_found(provider: SegmindProvider, fake: FakeSegmind) -> None:
    job_id = await submit(provider)
    fake.expire(job_id)
    with pytest.raises(ProviderError) as caught:
        await provider.status(job_id)
    assert caught.value.kind is ErrorKind.NOT_FOUND and not caught.value.retryable


async def test_timeline_moves_requests_along(session: aiohttp.ClientSession) -> None:
    fake = FakeSegmind(auto_complete_after=0.3)
    await fake.start()
    try:
        provider = SegmindProvider(session, fake.api_key, fake.base_url)
        job_id = await submit(provider)
        assert (await provider.status(job_id)).state is ProviderState.PENDING
        fake.jobs[job_id].created -= 0.15
        assert (await provider.status(job_id)).state is ProviderState.PROCESSING
        fake.jobs[job_id].created -= 0.15
        update = await provider.status(job_id)
        assert update.state is ProviderState.COMPLETED and update.video_url == fake.video_url(job_id)
    finally:
        await fake.close()


@pytest.mark.parametrize(("status", "body", "kind", "retryable"), [
    (400, {"error": "duration: invalid"}, ErrorKind.INVALID_REQUEST, False),
    (400, {"error": "Prompt violates content policy"}, ErrorKind.CONTENT_BLOCKED, False),
    (401, {"error": "Unauthorized"}, ErrorKind.MISCONFIGURED, False),
    (403, {"error": "Forbidden"}, ErrorKind.MISCONFIGURED, False),
    (404, {"error": "Model not found"}, ErrorKind.MISCONFIGURED, False),  # at submit: the route, not a request
    (406, {"error": "Insufficient credits"}, ErrorKind.INSUFFICIENT_CREDITS, False),
    (500, {"error": "Internal server error"}, ErrorKind.PROVIDER_DOWN, True),
    (502, "Bad Gateway", ErrorKind.PROVIDER_DOWN, True),
    (504, {"error": "Timeout"}, ErrorKind.PROVIDER_DOWN, True),
])
async def test_submit_errors_mapped(
    provider: SegmindProvider, fake: FakeSegmind, status: int, body: object, kind: ErrorKind, retryable: bool
) -> None:
    fake.fail_next("submit", status, body)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    # A gateway timeout (504) may have started the job: it must never be resubmitted blindly.
    assert (caught.value.kind, caught.value.retryable, caught.value.maybe_started) == (kind, retryable, status == 504)


async def test_validation_detail_reaches_the_error(provider: SegmindProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(duration=20), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "duration" in caught.value.detail


async def test_rate_limit_reset_header_gives_the_wait(provider: SegmindProvider, fake: FakeSegmind) -> None:
    fake.rate_limit = (2, 30.0)
    job_id = await submit(provider)
    await provider.status(job_id)
    with pytest.raises(ProviderError) as caught:
        await provider.status(job_id)
    error = caught.value
    assert error.kind is ErrorKind.RATE_LIMITED and error.retryable and error.status == 429
    assert error.retry_after is not None and 25.0 < error.retry_after <= 30.0


@pytest.mark.parametrize("value", [
    "2030-01-01T00:00:30Z", "2030-01-01T00:00:30", "2030-01-01T00:00:30+00:00", "Tue, 01 Jan 2030 00:00:30 GMT",
    "1893456030", "1893456030000",
])
def test_reset_header_formats(value: str) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert seconds_until(value, now) == pytest.approx(30.0)


def test_reset_header_nonsense() -> None:
    assert seconds_until(None) is None
    assert seconds_until("soon") is None
    assert seconds_until("2000-01-01T00:00:00Z") == 0.0
    assert seconds_until(str(time.time() - 100)) == 0.0


def test_find_video_url_prefers_a_video() -> None:
    assert find_video_url(" https://x.example/v.mp4 ") == "https://x.example/v.mp4"
    assert find_video_url({"poster": "https://x.example/p.jpg", "files": [{"u": "https://x.example/v.mp4?s=1"}]}) \
        == "https://x.example/v.mp4?s=1"
    assert find_video_url({"result": "https://x.example/no-suffix"}) == "https://x.example/no-suffix"
    assert find_video_url({"seed": 3, "text": "done"}) is None
    assert find_video_url(None) is None


async def test_unreadable_submit_answer_may_have_started(provider: SegmindProvider, fake: FakeSegmind) -> None:
    fake.fail_next("submit", 200, {"status": "QUEUED"})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and not caught.value.retryable


async def test_unknown_status_word_is_retryable(provider: SegmindProvider, fake: FakeSegmind) -> None:
    fake.fail_next("status", 200, {"status": "WARMING_UP"})
    with pytest.raises(ProviderError) as caught:
        await provider.status("any")
    assert caught.value.kind is ErrorKind.PROVIDER_DOWN and caught.value.retryable


async def test_timeout_after_sending_may_have_started(session: aiohttp.ClientSession, fake: FakeSegmind) -> None:
    provider = SegmindProvider(session, KEY, fake.base_url, timeout=SHORT_TIMEOUT)
    fake.fail_next("submit", 200, {"request_id": "late", "status": "QUEUED"}, delay=0.6)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.maybe_started and caught.value.retryable


async def test_connection_refused_started_nothing(session: aiohttp.ClientSession) -> None:
    provider = SegmindProvider(session, KEY, closed_base_url(), timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.retryable and not caught.value.maybe_started


async def test_bearer_or_wrong_key_is_refused(session: aiohttp.ClientSession, fake: FakeSegmind) -> None:
    async with session.post(f"{fake.base_url}/v2/kling-o3-text2video", json={"prompt": "x"},
                             headers={"Authorization": f"Bearer {KEY}"}) as response:
        assert response.status == 401
        assert "error" in await response.json()

    wrong = "SG_wrong_000"
    provider = SegmindProvider(session, wrong, fake.base_url, timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert caught.value.kind is ErrorKind.MISCONFIGURED and wrong not in str(caught.value)


async def test_echoed_key_is_masked(provider: SegmindProvider, fake: FakeSegmind) -> None:
    fake.fail_next("submit", 401, {"error": f"API key {KEY} is not valid"})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(), callback_url=None)
    assert KEY not in str(caught.value)


def test_no_webhooks(provider: SegmindProvider) -> None:
    with pytest.raises(MalformedCallback):
        provider.parse_callback(b'{"request_id": "r", "status": "COMPLETED"}')


def test_capabilities(provider: SegmindProvider) -> None:
    assert not CAPABILITIES.push
    assert CAPABILITIES.durations == tuple(range(3, 16))
    assert CAPABILITIES.max_images == 1 and CAPABILITIES.end_image and CAPABILITIES.negative_prompt
    assert CAPABILITIES.audio
    assert (CAPABILITIES.rate_limit.calls, CAPABILITIES.rate_limit.per_seconds) == (50, 60)
    assert KEY not in provider.rate_key
    assert provider.expected_seconds(video_request(duration=3)) < provider.expected_seconds(video_request(duration=15))


# -- segmind's creative fields (`end_image_url`, `generate_audio`, `multi_prompt`) against the fake segmind server:
# the bodies as its reference gives them, and its refusals (422-style field messages, as 400).
async def test_end_frame_is_end_image_url_with_sound(provider: SegmindProvider, fake: FakeSegmind) -> None:
    await provider.submit(video_request(image_urls=(START,), end_image_url=END, audio=True), callback_url=None)
    assert fake.requests[-1].path == "/v2/kling-o3-image2video"
    assert fake.requests[-1].body == {"prompt": "A red fox running through snow", "image_url": START,
                                      "end_image_url": END, "duration": "5", "mode": "std", "generate_audio": True}


async def test_an_end_frame_without_a_start_image_is_refused(provider: SegmindProvider, fake: FakeSegmind) -> None:
    """image2video requires `image_url`; the bot's intake never sends this, since segmind needs both."""
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(end_image_url=END), callback_url=None)
    assert (caught.value.kind, caught.value.status) == (ErrorKind.INVALID_REQUEST, 400)
    assert "image_url: field required" in caught.value.detail
    assert fake.jobs == {} and not CAPABILITIES.end_image_alone


async def test_a_storyboard_is_multi_prompt(provider: SegmindProvider, fake: FakeSegmind) -> None:
    shots = (Shot("a cat jumps onto the table", 5), Shot("close-up of its face", 3), Shot("it sleeps", 4))
    prompt = "5: a cat jumps onto the table\n3: close-up of its face\n4: it sleeps"
    await provider.submit(video_request(prompt=prompt, shots=shots, duration=12), callback_url=None)
    assert fake.requests[-1].path == "/v2/kling-o3-text2video"
    assert fake.requests[-1].body == {
        "prompt": prompt, "aspect_ratio": "16:9", "duration": "12", "mode": "std", "generate_audio": False,
        "multi_prompt": [{"prompt": "a cat jumps onto the table", "duration": "5"},
                         {"prompt": "close-up of its face", "duration": "3"},
                         {"prompt": "it sleeps", "duration": "4"}],
        "shot_type": "customize",
    }
    assert len(fake.jobs) == 1


async def test_too_many_shots_are_refused(provider: SegmindProvider, fake: FakeSegmind) -> None:
    shots = tuple(Shot(f"shot {n}", 2) for n in range(7))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(shots=shots, duration=14), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST and "between 1 and 6 items" in caught.value.detail
    assert fake.jobs == {}


async def test_segmind_is_never_sent_a_camera_move(provider: SegmindProvider, fake: FakeSegmind) -> None:
    await provider.submit(video_request(camera=CameraMove("zoom_in", 5)), callback_url=None)
    assert "camera_control" not in fake.requests[-1].body
    assert CAPABILITIES.camera is None  # so /video never offers one


def test_the_creative_capabilities() -> None:
    assert CAPABILITIES.end_image and CAPABILITIES.audio and CAPABILITIES.storyboard is not None
    assert CAPABILITIES.storyboard.max_shots == 6 and CAPABILITIES.storyboard.totals == tuple(range(3, 16))
