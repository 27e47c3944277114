"""The creative options end to end, through the fake Discord: an end frame, sound (and its price), a camera
preset and a 3-shot storyboard reach the fake Kling API as Kling's fields, finished videos keep them across a
restart (Re-roll, Details), and refusals cost nothing. The sandbox takes them all, for free; a provider without
them does not offer them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import CameraMove, JobStatus, Shot
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.kling import FakeKling
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness, free_port, settle

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
SHOTS = "3: a cat jumps onto the table\n3: close-up of its face, slow zoom in\n4: it knocks a cup off the edge"


@pytest.fixture
async def kling() -> AsyncIterator[FakeKling]:
    fake = FakeKling()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def bot(discord_fake: FakeDiscord, kling: FakeKling, tmp_path: Path) -> AsyncIterator[BotHarness]:
    port = free_port()
    harness = BotHarness(discord_fake, tmp_path, kling_provider="kling", kling_access_key=kling.access_key,
                         kling_secret_key=kling.secret_key, kling_base_url=kling.base_url, http_port=port,
                         public_base_url=f"http://127.0.0.1:{port}", default_user_quota=100)
    await harness.start()
    yield harness
    await harness.stop()


async def video(discord_fake: FakeDiscord, user_id: int = ALICE, **options: Any) -> FakeInteraction:
    """`/video` with options in their wire types (numbers as numbers, attachments by id)."""
    wire: list[dict[str, Any]] = [{"name": "prompt", "type": 3, "value": options.pop("prompt", "a red fox")}]
    attachments = []
    for name, value in options.items():
        if isinstance(value, dict):
            wire.append({"name": name, "type": 11, "value": value["id"]})
            attachments.append(value)
        elif isinstance(value, bool):
            wire.append({"name": name, "type": 5, "value": value})
        elif isinstance(value, int):
            wire.append({"name": name, "type": 4, "value": value})
        else:
            wire.append({"name": name, "type": 3, "value": value})
    return await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, name="video",
                                                 options=wire, attachments=attachments or None)


async def storyboard(discord_fake: FakeDiscord, shots: str, user_id: int = ALICE, **options: Any) -> FakeInteraction:
    wire = [{"name": name, "type": 5 if isinstance(value, bool) else 3, "value": value}
            for name, value in options.items()]
    opened = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id,
                                                   name="storyboard", options=wire)
    response = await opened.wait_response()
    assert response["type"] == 9, response  # the form
    assert opened.modal is not None
    return await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id,
                                           custom_id=opened.modal["custom_id"], fields={"shots": shots})


def sent(kling: FakeKling) -> dict[str, Any]:
    body = dict(kling.job().payload)
    for generated in ("external_task_id", "callback_url"):
        body.pop(generated, None)
    return body


async def deliver(harness: BotHarness, kling: FakeKling, interaction: FakeInteraction) -> Any:
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    await kling.finish(kling.job().id)
    return await harness.wait_status(job.id, JobStatus.DELIVERED)


async def details_of(discord_fake: FakeDiscord, harness: BotHarness, job_id: str) -> dict[str, Any]:
    [post] = [m for m in harness.results_in(CHANNEL) if job_id in str(m.get("embeds"))]
    click = await discord_fake.click_button(message=post, custom_id=f"kb:details:{job_id}", user_id=ALICE)
    return (await click.wait_response())["data"]


async def test_an_end_frame_goes_to_kling_as_image_tail_and_survives_a_restart(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    start = discord_fake.add_attachment(PNG, "start.png", "image/png")
    end = discord_fake.add_attachment(PNG, "end.png", "image/png")
    job = await deliver(bot, kling, await video(discord_fake, image=start, end_image=end, duration=5))

    assert job.request.image_urls == (start["url"],) and job.request.end_image_url == end["url"]
    assert kling.count("POST", "/v1/videos/image2video") == 1
    assert sent(kling) == {"model_name": "kling-v3", "prompt": "a red fox", "image": start["url"],
                           "image_tail": end["url"], "mode": "std", "duration": "5", "sound": "off"}

    await bot.restart()
    details = await details_of(discord_fake, bot, job.id)
    assert "end image" in str(details["embeds"][0]) and "attach it again as `end_image`" in details["content"]
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{job.id}", user_id=BOB)
    rerolled = await bot.job_for(click)
    assert rerolled.request.end_image_url is not None and rerolled.request.image_urls
    await kling.wait_for_jobs(2)
    assert "image_tail" in sent(kling)


async def test_sound_is_sent_and_priced_by_the_audio_multiplier(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    job = await bot.job_for(await video(discord_fake, duration=5, audio=True))
    assert job.cost == 8  # 5 s x std 1 x 1.5, rounded up
    await kling.wait_for_jobs(1)
    assert sent(kling)["sound"] == "on"

    shown = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="quota",
                                                  options=[{"name": "show", "type": 1, "options": []}])
    text = (await shown.wait_response())["data"]
    assert "With sound: ×1.5 more" in str(text)
    assert "Used **8**" in str(text)


async def test_a_camera_preset_is_kling_camera_control_and_is_in_the_reproduce_line(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    job = await deliver(bot, kling, await video(discord_fake, camera="zoom_in", camera_strength=7, duration=5))

    assert job.request.camera == CameraMove("zoom_in", 7)
    assert sent(kling)["camera_control"] == {
        "type": "simple", "config": {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": -7}}
    details = await details_of(discord_fake, bot, job.id)
    assert "camera:zoom_in camera_strength:7" in details["content"]
    assert "camera: Zoom in 7" in str(details["embeds"][0])


async def test_a_camera_move_with_an_end_frame_is_refused_before_anything_is_charged(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    start = discord_fake.add_attachment(PNG, "start.png", "image/png")
    end = discord_fake.add_attachment(PNG, "end.png", "image/png")
    refused = await video(discord_fake, image=start, end_image=end, camera="turn_left")
    response = await refused.wait_response()
    assert response["data"]["flags"] & 64
    assert "cannot combine a camera move with an end image" in response["data"]["content"]
    await settle(0.2)
    assert kling.jobs == {} and await bot.sql("SELECT id FROM jobs") == []


async def test_a_three_shot_storyboard_is_one_multi_shot_video(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    submitted = await storyboard(discord_fake, SHOTS, aspect="9:16", audio=True)
    job = await deliver(bot, kling, submitted)

    assert job.request.shots == (Shot("a cat jumps onto the table", 3), Shot("close-up of its face, slow zoom in", 3),
                                 Shot("it knocks a cup off the edge", 4))
    assert job.request.duration == 10 and job.request.prompt == SHOTS and job.cost == 15
    assert sent(kling) == {
        "model_name": "kling-v3", "multi_shot": True, "shot_type": "customize",
        "multi_prompt": [{"index": 1, "prompt": "a cat jumps onto the table", "duration": "3"},
                         {"index": 2, "prompt": "close-up of its face, slow zoom in", "duration": "3"},
                         {"index": 3, "prompt": "it knocks a cup off the edge", "duration": "4"}],
        "mode": "std", "duration": "10", "aspect_ratio": "9:16", "sound": "on",
    }

    await bot.restart()
    details = await details_of(discord_fake, bot, job.id)
    assert "/storyboard aspect:9:16 mode:std audio:True" in details["content"]
    assert "4: it knocks a cup off the edge" in details["content"]
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{job.id}", user_id=ALICE)
    assert (await bot.job_for(click)).request == job.request


async def test_a_bad_storyboard_line_is_named_and_the_text_given_back(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    text = "3: a cat jumps onto the table\nthen it sleeps"
    submitted = await storyboard(discord_fake, text)
    first = await submitted.wait_response()
    assert first["data"]["flags"] & 64 and 'Line 2 ("then it sleeps") is not a shot' in first["data"]["content"]
    await submitted.wait_for(lambda i: len(i.followups) >= 1)
    assert text in submitted.followups[0]["content"]
    await settle(0.2)
    assert kling.jobs == {} and await bot.sql("SELECT id FROM jobs") == []


async def test_shots_that_add_up_to_a_length_kling_does_not_make_are_refused(
    bot: BotHarness, kling: FakeKling, discord_fake: FakeDiscord
) -> None:
    submitted = await storyboard(discord_fake, "10: a long shot\n8: another long shot")
    response = await submitted.wait_response()
    assert "Your shots add up to 18 s" in response["data"]["content"]
    await settle(0.2)
    assert kling.jobs == {}


async def test_the_sandbox_takes_every_creative_option(sandbox_bot: BotHarness, discord_fake: FakeDiscord) -> None:
    start = discord_fake.add_attachment(PNG, "start.png", "image/png")
    end = discord_fake.add_attachment(PNG, "end.png", "image/png")
    framed = await sandbox_bot.job_for(await video(discord_fake, image=start, end_image=end, audio=True,
                                                    duration=5))
    moved = await sandbox_bot.job_for(await video(discord_fake, user_id=BOB, camera="forward_up", duration=5))
    for job in (framed, moved):
        delivered = await sandbox_bot.wait_status(job.id, JobStatus.DELIVERED)
        assert delivered.last_error is None
    board = await sandbox_bot.job_for(await storyboard(discord_fake, "2: a\n3: b\n5: c", user_id=ALICE))
    assert (await sandbox_bot.wait_status(board.id, JobStatus.DELIVERED)).request.duration == 10


async def test_a_provider_without_the_options_does_not_offer_them(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    try:
        commands = {command["name"]: command for command in discord_fake.guild_commands[GUILD]}
        assert "storyboard" not in commands
        options = {option["name"] for option in commands["video"]["options"]}
        assert not options & {"end_image", "camera", "camera_strength", "audio"}
        assert {"image", "image5"} <= options  # its five reference images stay
    finally:
        await harness.stop()
