"""The intake's checks of the creative options (end image, camera, storyboard) against each provider's
capabilities, the storyboard's line format, and their price: every refusal says what to change, and nothing
is charged or stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.core.errors import InvalidRequest, UserFacingError
from bot.core.jobs import ImageInput, JobIntake, Submission
from bot.core.models import CameraMove, Shot, VideoRequest
from bot.core.moderation import Actor
from bot.core.ports.provider import Capabilities
from bot.core.quotas import job_cost
from bot.core.storyboard import parse_shots, storyboard_text
from bot.providers.kling import CAPABILITIES as KLING
from bot.providers.runbase import CAPABILITIES as RUNBASE
from bot.providers.runblob import CAPABILITIES as RUNBLOB
from bot.providers.sandbox import CAPABILITIES as SANDBOX
from bot.providers.segmind import CAPABILITIES as SEGMIND
from tests.clock import FakeClock
from tests.unit.world import CHANNEL, GUILD, make_world

START = ImageInput("https://cdn.example/start.png", "image/png", 1000, "start.png")
END = ImageInput("https://cdn.example/end.png", "image/png", 1000, "end.png")


def intake(caps: Capabilities) -> JobIntake:
    return JobIntake(store=None, capabilities=caps, provider_name="test", clock=FakeClock())  # type: ignore[arg-type]


def ask(**changes: object) -> Submission:
    fields: dict[str, object] = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 10, "prompt": "a fox",
                                 "duration": 5, "aspect": "16:9", "mode": "std"}
    fields.update(changes)
    return Submission(**fields)  # type: ignore[arg-type]


def refusal(caps: Capabilities, **changes: object) -> str:
    with pytest.raises(InvalidRequest) as caught:
        intake(caps).build_request(ask(**changes))
    return str(caught.value)


# -- end image ------------------------------------------------------------------------------------------
def test_an_end_image_is_kept_apart_from_the_start_image() -> None:
    request = intake(KLING).build_request(ask(images=(START,), end_image=END))
    assert request == VideoRequest("a fox", 5, "16:9", "std", image_urls=(START.url,), end_image_url=END.url)


def test_an_end_image_alone_where_the_provider_needs_both() -> None:
    assert "needs a start image" in refusal(SEGMIND, end_image=END)
    assert "needs a start image" in refusal(RUNBASE, end_image=END)
    assert intake(KLING).build_request(ask(end_image=END)).end_image_url == END.url  # Kling takes it alone


def test_an_end_image_where_the_provider_has_none() -> None:
    assert "cannot end on a chosen image" in refusal(RUNBLOB, images=(START,), end_image=END)


def test_an_end_image_is_checked_like_any_image() -> None:
    gif = ImageInput("https://cdn.example/end.gif", "image/gif", 1000, "end.gif")
    assert "`end.gif` is not a supported image" in refusal(KLING, images=(START,), end_image=gif)


# -- camera ---------------------------------------------------------------------------------------------
def test_a_simple_move_takes_the_default_or_given_strength() -> None:
    assert intake(KLING).build_request(ask(camera="zoom_in")).camera == CameraMove("zoom_in", 5)
    assert intake(KLING).build_request(ask(camera="zoom_in", camera_strength=9)).camera == CameraMove("zoom_in", 9)
    assert intake(KLING).build_request(ask(camera="forward_up")).camera == CameraMove("forward_up")


@pytest.mark.parametrize(("caps", "changes", "words"), [
    (SEGMIND, {"camera": "zoom_in"}, "has no camera moves"),
    (KLING, {"camera": "dolly_zoom"}, "not a camera move"),
    (KLING, {"camera_strength": 4}, "Choose a `camera` move"),
    (KLING, {"camera": "zoom_in", "camera_strength": 11}, "from 1 to 10"),
    (KLING, {"camera": "down_back", "camera_strength": 3}, "leave `camera_strength` empty"),
    (KLING, {"camera": "zoom_in", "images": (START,), "end_image": END}, "cannot combine a camera move"),
])
def test_camera_refusals(caps: Capabilities, changes: dict[str, object], words: str) -> None:
    assert words in refusal(caps, **changes)


# -- storyboard -----------------------------------------------------------------------------------------
def test_a_storyboards_duration_is_its_shots_and_its_prompt_their_lines() -> None:
    shots = (Shot("a cat jumps onto the table", 5), Shot("close-up of its face", 3), Shot("it sleeps", 2))
    request = intake(KLING).build_request(ask(prompt="", duration=None, shots=shots))
    assert request.duration == 10 and request.shots == shots
    assert request.prompt == "5: a cat jumps onto the table\n3: close-up of its face\n2: it sleeps"


@pytest.mark.parametrize(("caps", "shots", "words"), [
    (RUNBLOB, (Shot("a", 5),), "cannot make a storyboard"),
    (KLING, tuple(Shot(f"shot {n}", 2) for n in range(7)), "at most 6 shots; yours has 7"),
    (KLING, (Shot("a", 5), Shot("  ", 5)), "Shot 2 has no description"),
    (KLING, (Shot("a", 10), Shot("b", 10)), "add up to 20 s"),
    (dataclasses.replace(SANDBOX), (Shot("a", 4), Shot("b", 2)), "5, 10 or 15 seconds"),
])
def test_storyboard_refusals(caps: Capabilities, shots: tuple[Shot, ...], words: str) -> None:
    assert words in refusal(caps, shots=shots)


def test_a_storyboard_takes_no_images_or_camera() -> None:
    assert "words alone" in refusal(KLING, shots=(Shot("a", 5),), images=(START,))
    assert "cannot take a camera move" in refusal(KLING, shots=(Shot("a", 5),), camera="zoom_in")


async def test_the_blocklist_applies_to_every_shot(tmp_path: Path) -> None:
    world = await make_world(tmp_path)
    world.jobs.capabilities = SANDBOX
    await world.moderation.block_word(Actor(GUILD, 99, permissions=1 << 5), "gore")
    submission = ask(shots=(Shot("a calm lake", 5), Shot("then gore everywhere", 5)), prompt="")
    with pytest.raises(UserFacingError):
        await world.jobs.accept(submission)
    assert await world.rows("SELECT id FROM jobs") == [] and await world.ledger() == []


# -- the line format ------------------------------------------------------------------------------------
def test_shot_lines_parse_strictly() -> None:
    text = "5: a cat jumps onto the table\n\n3s: close-up of its face\n 2 s : it sleeps "
    assert parse_shots(text) == (Shot("a cat jumps onto the table", 5), Shot("close-up of its face", 3),
                                 Shot("it sleeps", 2))
    assert storyboard_text(parse_shots(text)) == "5: a cat jumps onto the table\n3: close-up of its face\n2: it sleeps"


def test_shot_lines_take_the_full_width_colon_and_digits_of_cjk_keyboards() -> None:
    assert parse_shots("５秒：一只猫跳上桌子\n3：它睡着了") == (Shot("一只猫跳上桌子", 5), Shot("它睡着了", 3))


@pytest.mark.parametrize(("text", "words"), [
    ("5: a cat\na dog runs", 'Line 2 ("a dog runs") is not a shot'),
    ("5: a cat\n\nfive: a dog", "Line 3"),
    ("5: a cat\n3:   ", "Line 2 has no description"),
    ("\n  \n", "The storyboard is empty"),
])
def test_bad_lines_are_named(text: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_shots(text)
    assert words in str(caught.value)


# -- the price ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("duration", "mode", "audio", "multiplier", "credits"), [
    (5, "std", False, 1.5, 5),
    (5, "std", True, 1.5, 8),  # 7.5, rounded up
    (10, "pro", True, 1.5, 30),
    (10, "std", True, 1.1, 11),  # exactly 11: no floating-point 11.000000000000002 rounding up to 12
    (3, "pro", True, 1.0, 6),
])
def test_audio_is_priced_by_its_multiplier(duration: int, mode: str, audio: bool, multiplier: float,
                                           credits: int) -> None:
    request = VideoRequest("a fox", duration, "16:9", mode, audio=audio)
    assert job_cost(request, {"std": 1, "pro": 2}, multiplier) == credits


async def test_the_charge_includes_sound(tmp_path: Path) -> None:
    world = await make_world(tmp_path, audio_multiplier=1.5)
    world.jobs.capabilities = SANDBOX
    job = await world.jobs.accept(ask(duration=5, audio=True))
    assert job.cost == 8
    assert [row["amount"] for row in await world.ledger()] == [8]
