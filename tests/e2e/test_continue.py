"""Continue: the last frame of a delivered clip starts the next clip, whose result replies to the first, through
the fake Discord with a real discord.py client and the fake runblob serving a real MP4 made here."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.continuing import CANNOT_CONTINUE, TOO_OLD
from bot.core.engine import START_FRAME_NOT_SHOWN, STOPPED_BEFORE_START_FRAME
from bot.core.jobs import new_job_id
from bot.core.models import Job, JobStatus
from bot.discord_adapter.errors import START_FRAME_NOT_SHOWN_KEY
from bot.i18n.lang import EN
from tests.clips import BLUE, RED, centre_pixel, close_to, make_clip
from tests.conftest import runblob_harness
from tests.e2e.commands import EPHEMERAL, private_reply
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness, settle
from tests.waiting import until

MODAL = 9
START_FRAME_NOT_SHOWN_REASON = str(START_FRAME_NOT_SHOWN)  # as stored, in English
START_FRAME_NOT_SHOWN_TEXT = EN.t(START_FRAME_NOT_SHOWN_KEY)


@pytest.fixture
async def bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    runblob.video = make_clip(frames=24, colour=RED, last=BLUE)
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def delivered(bot: BotHarness, runblob: FakeRunblob, prompt: str = "a fox in the snow") -> Job:
    job = await bot.wait_status((await bot.job_for(await bot.video(prompt))).id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id or "", "completed")
    return await bot.wait_status(job.id, JobStatus.DELIVERED)


def buttons(message: dict[str, Any]) -> list[str]:
    return [item["custom_id"] for row in message.get("components", []) for item in row.get("components", [])]


def post_of(bot: BotHarness, job: Job) -> dict[str, Any]:
    [post] = [m for m in bot.results_in(CHANNEL) if m["id"] == str(job.result_message_id)]
    return post


async def fetch(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def ledger(bot: BotHarness, user_id: int) -> list[tuple[Any, ...]]:
    return await bot.sql("SELECT job_id, kind FROM quota_ledger WHERE user_id = ? AND job_id IS NOT NULL "
                         "ORDER BY id", user_id)


async def press_continue(bot: BotHarness, discord_fake: FakeDiscord, first: Job, user_id: int,
                         prompt: str = "the fox leaps over a frozen stream") -> Any:
    click = await discord_fake.click_button(message=post_of(bot, first), custom_id=f"kb:continue:{first.id}",
                                            user_id=user_id)
    response = await click.wait_response()
    assert response["type"] == MODAL, response
    assert first.id in response["data"]["title"]
    return await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id,
                                           custom_id=f"kb:continued:{first.id}", fields={"prompt": prompt})


async def test_a_clip_continues_from_its_last_frame_as_a_reply_to_the_first_result(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    first = await delivered(bot, runblob)
    assert f"kb:continue:{first.id}" in buttons(post_of(bot, first))
    submits = runblob.submit_calls

    submitted = await press_continue(bot, discord_fake, first, BOB)
    second = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)

    # The provider got the frame as the start image, by a link that serves the clip's LAST frame (blue).
    assert runblob.submit_calls == submits + 1
    body = runblob.requests[-1].body
    assert body["prompt"] == "the fox leaps over a frozen stream"
    [image_url] = body["images_url"]
    status, image = await fetch(image_url)
    assert status == 200
    assert close_to(centre_pixel(image), BLUE), centre_pixel(image)
    # ... shown to the members on the new job's status message, which is where the link points.
    status_message = submitted.response_message
    assert status_message is not None
    assert [a["url"] for a in status_message["attachments"]] == [image_url]
    assert second.request.image_urls == (image_url,)
    assert (second.user_id, second.parent_job_id, second.request.duration) == (BOB, first.id,
                                                                                first.request.duration)

    runblob.set_state(second.provider_job_id or "", "completed")
    second = await bot.wait_status(second.id, JobStatus.DELIVERED)
    reply = post_of(bot, second)
    assert reply["message_reference"]["message_id"] == str(first.result_message_id)
    assert f"kb:continue:{second.id}" in buttons(reply)  # the chain goes on
    assert await ledger(bot, BOB) == [(second.id, "reserve")]  # charged once, to who continued
    assert submitted.errors == [] and discord_fake.internal_errors == []


async def test_a_continue_weeks_later_after_a_restart_still_works(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    first = await delivered(bot, runblob)
    await bot.restart()  # a new process, the same database and media folder
    submitted = await press_continue(bot, discord_fake, first, ALICE, "night falls")
    second = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)
    [image_url] = runblob.requests[-1].body["images_url"]
    assert close_to(centre_pixel((await fetch(image_url))[1]), BLUE)

    # Weeks later Discord's link to the frame has expired; a Re-roll of the continuation renews it.
    discord_fake.expire_attachments()
    assert (await fetch(image_url))[0] == 404
    runblob.set_state(second.provider_job_id or "", "completed")
    second = await bot.wait_status(second.id, JobStatus.DELIVERED)
    assert post_of(bot, second)["message_reference"]["message_id"] == str(first.result_message_id)
    click = await discord_fake.click_button(message=post_of(bot, second), custom_id=f"kb:reroll:{second.id}",
                                            user_id=ALICE)
    await bot.wait_status((await bot.job_for(click)).id, JobStatus.SUBMITTED)
    [renewed] = runblob.requests[-1].body["images_url"]
    status, image = await fetch(renewed)
    assert renewed != image_url and status == 200 and close_to(centre_pixel(image), BLUE)


async def test_a_corrupt_video_is_delivered_and_continue_refuses_with_nothing_charged(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    runblob.video = b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 6000  # an MP4's first bytes, then nothing decodable
    first = await delivered(bot, runblob)
    assert first.delivery_outcome is not None and first.delivery_outcome.value == "attached"
    rows, submits = await ledger(bot, BOB), runblob.submit_calls
    click = await discord_fake.click_button(message=post_of(bot, first), custom_id=f"kb:continue:{first.id}",
                                            user_id=BOB)
    assert await private_reply(click) == CANNOT_CONTINUE
    await settle(0.2)
    assert await ledger(bot, BOB) == rows and runblob.submit_calls == submits


async def test_a_frame_removed_by_retention_is_too_old_and_nothing_is_charged(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    first = await delivered(bot, runblob)
    frame = tmp_path / "media" / "frames" / f"{first.id}.png"
    assert frame.is_file()
    click = await discord_fake.click_button(message=post_of(bot, first), custom_id=f"kb:continue:{first.id}",
                                            user_id=BOB)
    assert (await click.wait_response())["type"] == MODAL  # the form opens; then retention removes the frame
    frame.unlink()
    submitted = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=BOB,
                                                custom_id=f"kb:continued:{first.id}", fields={"prompt": "later"})
    assert await private_reply(submitted) == TOO_OLD
    assert await ledger(bot, BOB) == []
    again = await discord_fake.click_button(message=post_of(bot, first), custom_id=f"kb:continue:{first.id}",
                                            user_id=BOB)
    assert await private_reply(again) == TOO_OLD


async def test_the_sandbox_offers_continue_too(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    """Every provider in the project takes a start image (tests/unit/test_frames.py checks that one without
    image input is offered no Continue); the default sandbox keeps its sample clip's last frame as well."""
    harness = BotHarness(discord_fake, tmp_path)
    await harness.start()
    try:
        job = await harness.wait_status((await harness.job_for(await harness.video("waves"))).id,
                                        JobStatus.DELIVERED)
        assert f"kb:continue:{job.id}" in buttons(post_of(harness, job))
        assert (tmp_path / "media" / "frames" / f"{job.id}.png").is_file()
    finally:
        await harness.stop()


async def test_a_continue_charged_but_stopped_before_its_frame_was_shown_is_refunded_at_the_next_start(
    bot: BotHarness, runblob: FakeRunblob
) -> None:
    first = await delivered(bot, runblob)
    # What a crash leaves between the charge and attaching the start frame: a queued continuation, charged, with
    # no start image yet (written through the bot's own store, as the engine writes it).
    app = bot.running
    now = app.clock.now()
    stranded = dataclasses.replace(first, id=new_job_id(), user_id=BOB, status=JobStatus.QUEUED,
                                   request=dataclasses.replace(first.request, prompt="night falls", image_urls=()),
                                   parent_job_id=first.id, created_at=now, updated_at=now, provider_job_id=None,
                                   submitted_at=None, completed_at=None, video_url=None, delivery_outcome=None,
                                   result_message_id=None)
    await app.store.insert(stranded, app.quotas.charge_for(stranded))
    submits = runblob.submit_calls

    await bot.restart()
    failed = await bot.wait_status(stranded.id, JobStatus.FAILED)
    assert failed.last_error == str(STOPPED_BEFORE_START_FRAME)
    assert await ledger(bot, BOB) == [(stranded.id, "reserve"), (stranded.id, "refund")]
    assert runblob.submit_calls == submits  # never sent without its start image


async def test_a_continue_whose_start_frame_discord_refuses_is_refunded_and_the_member_told_why(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    first = await delivered(bot, runblob)
    await bot.running.publisher.wait_for_edits()
    submits = runblob.submit_calls
    # The status message is posted; the edit that attaches the frame to it is refused.
    discord_fake.fail_next("PATCH", rf"/channels/{CHANNEL}/messages/\d+$", 403, code=50013,
                           message="Missing Permissions")

    submitted = await press_continue(bot, discord_fake, first, BOB)
    job = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.FAILED)
    assert job.last_error == START_FRAME_NOT_SHOWN_REASON
    await until(lambda: bool(submitted.followups), "the private word to the member")
    [told] = submitted.followups
    assert told["content"] == START_FRAME_NOT_SHOWN_TEXT and told["flags"] & EPHEMERAL
    status = await bot.status_reads(submitted, "Failed")
    assert "frame this video continues from could not be shown" in str(status["embeds"][0])
    assert await ledger(bot, BOB) == [(job.id, "reserve"), (job.id, "refund")]
    await settle(0.2)
    assert runblob.submit_calls == submits  # never sent without its start image
