"""segmind's creative fields (`end_image_url`, `generate_audio`, `multi_prompt`) against the fake segmind server:
the bodies as its reference gives them, and its refusals (422-style field messages, as 400)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.core.models import CameraMove, Shot
from bot.providers.base import ErrorKind, ProviderError
from bot.providers.segmind import CAPABILITIES, SegmindProvider
from tests.fakes.segmind import FakeSegmind
from tests.providers import TEST_TIMEOUT, video_request

START = "https://cdn.example/first.png"
END = "https://cdn.example/last.png"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSegmind]:
    server = FakeSegmind()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeSegmind) -> SegmindProvider:
    return SegmindProvider(session, fake.api_key, fake.base_url, timeout=TEST_TIMEOUT)


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


def test_capabilities() -> None:
    assert CAPABILITIES.end_image and CAPABILITIES.audio and CAPABILITIES.storyboard is not None
    assert CAPABILITIES.storyboard.max_shots == 6 and CAPABILITIES.storyboard.totals == tuple(range(3, 16))
