"""runbase's one creative field: the end frame, as the last of its `image_urls` frame images."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.providers.base import ErrorKind, ProviderError
from bot.providers.runbase import CAPABILITIES, RunbaseProvider
from tests.fakes.runbase import FakeRunbase
from tests.providers import TEST_TIMEOUT, video_request

START = "https://cdn.example/first.png"
END = "https://cdn.example/last.png"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunbase]:
    server = FakeRunbase()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeRunbase) -> RunbaseProvider:
    return RunbaseProvider(session, fake.api_key, fake.base_url, timeout=TEST_TIMEOUT)


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
