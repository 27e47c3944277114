"""Kling's creative fields (end frame `image_tail`, `sound`, `camera_control`, `multi_shot`), from the official
adapter and cometapi's relay of it, against their fakes: the bodies exactly as Kling's reference gives them,
and Kling's refusals of what cannot go together, in each provider's error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.core.models import CameraMove, Shot
from bot.providers.base import ErrorKind, ProviderError
from bot.providers.cometapi import CAPABILITIES as COMETAPI_CAPABILITIES
from bot.providers.cometapi import CometapiProvider
from bot.providers.kling import CAPABILITIES as KLING_CAPABILITIES
from bot.providers.kling import KlingProvider, KlingTaskProvider
from tests.fakes.cometapi import FakeCometapi
from tests.fakes.kling import FakeKling, KlingTaskServer
from tests.providers import TEST_TIMEOUT, video_request

START = "https://cdn.example/first.png"
END = "https://cdn.example/last.png"


@pytest.fixture(params=["kling", "cometapi"])
async def pair(request: pytest.FixtureRequest, session: aiohttp.ClientSession
               ) -> AsyncIterator[tuple[KlingTaskProvider, KlingTaskServer]]:
    fake: KlingTaskServer = FakeKling() if request.param == "kling" else FakeCometapi()
    await fake.start()
    provider: KlingTaskProvider
    if isinstance(fake, FakeKling):
        provider = KlingProvider(session, fake.access_key, fake.secret_key, fake.base_url, timeout=TEST_TIMEOUT)
    else:
        provider = CometapiProvider(session, fake.api_key, fake.base_url, timeout=TEST_TIMEOUT)
    yield provider, fake
    await fake.close()


def sent_body(fake: KlingTaskServer) -> dict[str, Any]:
    body = dict(fake.requests[-1].body)
    body.pop("external_task_id")
    return body


async def test_end_frame_is_image_tail_on_image2video(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    provider, fake = pair
    result = await provider.submit(video_request(image_urls=(START,), end_image_url=END), callback_url=None)

    assert fake.requests[-1].path.endswith("/v1/videos/image2video")
    assert sent_body(fake) == {"model_name": "kling-v3", "prompt": "A red fox running through snow", "image": START,
                               "image_tail": END, "mode": "std", "duration": "5", "sound": "off"}
    assert result.provider_job_id == f"image2video:{fake.job().id}"


async def test_an_end_frame_alone_is_an_image2video_task(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    """Kling's image2video wants `image` or `image_tail`, at least one: an end frame alone is accepted."""
    provider, fake = pair
    await provider.submit(video_request(end_image_url=END), callback_url=None)
    body = sent_body(fake)
    assert fake.requests[-1].path.endswith("/v1/videos/image2video")
    assert body["image_tail"] == END and "image" not in body and "aspect_ratio" not in body
    assert KLING_CAPABILITIES.end_image_alone and COMETAPI_CAPABILITIES.end_image_alone


async def test_sound_on(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    provider, fake = pair
    await provider.submit(video_request(audio=True, duration=10), callback_url=None)
    assert sent_body(fake) == {"model_name": "kling-v3", "prompt": "A red fox running through snow", "mode": "std",
                               "duration": "10", "aspect_ratio": "16:9", "sound": "on"}


async def test_sound_is_refused_by_a_model_before_v2_6(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    provider, fake = pair
    provider.model_name = "kling-v2-5-turbo"  # an older model, which has no sound
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(audio=True), callback_url=None)
    assert (caught.value.kind, caught.value.status) == (ErrorKind.INVALID_REQUEST, 400)
    assert "sound is not supported" in caught.value.detail
    assert fake.jobs == {}


@pytest.mark.parametrize(("move", "config"), [
    (CameraMove("zoom_in", 7), {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": -7}),
    (CameraMove("slide_right", 3), {"horizontal": 3, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": 0}),
    (CameraMove("look_down", 10), {"horizontal": 0, "vertical": 0, "pan": -10, "tilt": 0, "roll": 0, "zoom": 0}),
    (CameraMove("roll_anticlockwise", 1),
     {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": -1, "zoom": 0}),
])
async def test_a_simple_camera_move_sets_exactly_one_axis(
    pair: tuple[KlingTaskProvider, KlingTaskServer], move: CameraMove, config: dict[str, int]
) -> None:
    provider, fake = pair
    await provider.submit(video_request(camera=move), callback_url=None)
    assert sent_body(fake)["camera_control"] == {"type": "simple", "config": config}
    assert fake.job().state == "submitted"


@pytest.mark.parametrize("name", ["down_back", "forward_up", "right_turn_forward", "left_turn_forward"])
async def test_a_combined_move_is_its_type_alone(pair: tuple[KlingTaskProvider, KlingTaskServer], name: str) -> None:
    provider, fake = pair
    await provider.submit(video_request(camera=CameraMove(name), image_urls=(START,)), callback_url=None)
    assert sent_body(fake)["camera_control"] == {"type": name}


async def test_camera_with_an_end_frame_is_refused_by_the_provider(
    pair: tuple[KlingTaskProvider, KlingTaskServer]
) -> None:
    """Kling: `image_tail` and `camera_control` cannot be used together (the bot's intake never sends it)."""
    provider, fake = pair
    request = video_request(image_urls=(START,), end_image_url=END, camera=CameraMove("zoom_out", 4))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(request, callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST and not caught.value.retryable
    assert "cannot be used at the same time" in caught.value.detail
    assert fake.jobs == {}
    assert not KLING_CAPABILITIES.camera or not KLING_CAPABILITIES.camera.with_end_image


async def test_a_storyboard_is_multi_shot_with_its_shots(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    provider, fake = pair
    shots = (Shot("a cat jumps onto the table", 3), Shot("close-up of its face", 3), Shot("it knocks a cup off", 4))
    request = video_request(prompt="3: a cat jumps onto the table\n3: close-up of its face\n4: it knocks a cup off",
                            shots=shots, duration=10, audio=True)
    await provider.submit(request, callback_url=None)

    assert sent_body(fake) == {
        "model_name": "kling-v3", "multi_shot": True, "shot_type": "customize",
        "multi_prompt": [{"index": 1, "prompt": "a cat jumps onto the table", "duration": "3"},
                         {"index": 2, "prompt": "close-up of its face", "duration": "3"},
                         {"index": 3, "prompt": "it knocks a cup off", "duration": "4"}],
        "mode": "std", "duration": "10", "aspect_ratio": "16:9", "sound": "on",
    }
    assert fake.job().state == "submitted"


async def test_shots_that_do_not_add_up_are_refused(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    provider, fake = pair
    request = video_request(shots=(Shot("one", 3), Shot("two", 3)), duration=10)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(request, callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST and "add up to duration" in caught.value.detail
    assert fake.jobs == {}


async def test_multi_shot_is_refused_by_a_model_before_v3(pair: tuple[KlingTaskProvider, KlingTaskServer]) -> None:
    provider, fake = pair
    provider.model_name = "kling-v2-6"
    with pytest.raises(ProviderError) as caught:
        await provider.submit(video_request(shots=(Shot("one", 5),), duration=5), callback_url=None)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST and "multi_shot is not supported" in caught.value.detail
    assert fake.jobs == {}


def test_capabilities_offer_every_creative_option_within_the_relays_lengths() -> None:
    for caps in (KLING_CAPABILITIES, COMETAPI_CAPABILITIES):
        assert caps.end_image and caps.audio and caps.camera is not None and caps.storyboard is not None
        assert len(caps.camera.moves) == 16 and caps.camera.strengths == (1, 10)
        assert caps.storyboard.max_shots == 6
        assert set(caps.storyboard.totals) == set(caps.durations)
    assert COMETAPI_CAPABILITIES.storyboard is not None and COMETAPI_CAPABILITIES.storyboard.totals == (5, 10)
