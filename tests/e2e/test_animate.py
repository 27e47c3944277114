""""Animate with Kling" through the fake Discord: the message context menu opens a form whose choices come
from the provider, and the submitted form starts a job with the message's picture, like /video with it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import JobStatus
from bot.providers.runblob import RunblobProvider
from cogs.animate import MENU_NAME, NO_IMAGE, NO_IMAGE_INPUT
from tests.conftest import runblob_harness
from tests.e2e.commands import private_reply
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024


@pytest.fixture
async def bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def animate(fake: FakeDiscord, message: dict[str, Any], user_id: int = ALICE) -> FakeInteraction:
    return await fake.send_message_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, name=MENU_NAME,
                                           target_message=message)


def selects(modal: dict[str, Any]) -> dict[str, list[str]]:
    """The option values of each select of a modal, by custom id."""
    return {label["component"]["custom_id"]: [o["value"] for o in label["component"]["options"]]
            for label in modal["components"] if label["component"]["type"] == 3}


async def charged(bot: BotHarness) -> int:
    [(rows,)] = await bot.sql("SELECT COUNT(*) FROM quota_ledger WHERE kind = 'reserve'")
    return int(rows)


async def test_a_picture_attached_to_any_message_is_animated(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    message = discord_fake.post_member_message(CHANNEL, BOB, "my cat", files=[(PNG, "cat.png", "image/png")])
    menu = await animate(discord_fake, message)
    assert (await menu.wait_response())["type"] == 9
    assert menu.modal is not None and menu.modal["custom_id"] == f"kb:animate:{CHANNEL}:{message['id']}"
    assert selects(menu.modal) == {"duration": ["5", "10", "15"], "aspect": ["16:9", "9:16", "1:1"],
                                   "mode": ["std", "pro"]}

    submitted = await discord_fake.submit_modal(
        guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, custom_id=menu.modal["custom_id"],
        fields={"prompt": "the cat waves at the camera", "duration": "10", "aspect": "9:16"})
    job = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)
    assert job.user_id == ALICE and job.channel_id == CHANNEL
    assert (job.request.prompt, job.request.duration, job.request.aspect, job.request.mode) == (
        "the cat waves at the camera", 10, "9:16", "std")
    assert runblob.requests[-1].body["images_url"] == [message["attachments"][0]["url"]]
    assert "the cat waves" in submitted.response_message["embeds"][0]["description"]  # type: ignore[index]


async def test_a_picture_in_an_embed_is_animated(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    picture = "https://images.example.org/photos/sunset.jpg"
    message = discord_fake.post_member_message(CHANNEL, BOB, f"look {picture}", embeds=[{"image": {"url": picture}}])
    menu = await animate(discord_fake, message)
    await menu.wait_response()
    assert menu.modal is not None
    submitted = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE,
                                                custom_id=menu.modal["custom_id"], fields={"prompt": "the sun sets"})
    job = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)
    assert job.request.duration == 5 and job.request.aspect == "16:9"  # the choices shown first
    assert runblob.requests[-1].body["images_url"] == [picture]


async def test_a_message_without_a_picture_is_explained_and_nothing_is_charged(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    message = discord_fake.post_member_message(CHANNEL, BOB, "just words",
                                               files=[(b"%PDF-1.7", "notes.pdf", "application/pdf")])
    menu = await animate(discord_fake, message)
    assert await private_reply(menu) == NO_IMAGE
    assert menu.modal is None
    assert await charged(bot) == 0 and runblob.submit_calls == 0


async def test_a_provider_without_image_input_explains_that_pictures_cannot_be_animated(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No provider of the catalog is text-only today; runblob's capabilities without images stand in for one.
    monkeypatch.setattr(RunblobProvider, "capabilities",
                        dataclasses.replace(RunblobProvider.capabilities, max_images=0))
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    try:
        message = discord_fake.post_member_message(CHANNEL, BOB, files=[(PNG, "cat.png", "image/png")])
        menu = await animate(discord_fake, message)
        assert await private_reply(menu) == NO_IMAGE_INPUT
        assert menu.modal is None and await charged(harness) == 0
    finally:
        await harness.stop()


async def test_the_animate_form_works_after_a_restart(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    message = discord_fake.post_member_message(CHANNEL, BOB, files=[(PNG, "dog.png", "image/png")])
    menu = await animate(discord_fake, message)
    await menu.wait_response()
    assert menu.modal is not None
    await bot.restart()
    submitted = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE,
                                                custom_id=menu.modal["custom_id"], fields={"prompt": "the dog runs"})
    job = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)
    assert job.request.image_urls == (message["attachments"][0]["url"],)
    assert runblob.requests[-1].body["images_url"] == [message["attachments"][0]["url"]]
    assert discord_fake.internal_errors == []
