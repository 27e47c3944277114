"""Images that last: Discord's attachment links expire (the fake's CDN answers 404 after a day), so a Re-roll
or Remix of an image job renews them through Discord first; a link Discord will not renew is refused
privately with nothing charged. And forms answered by their custom id: a Remix form opened before a restart
is submitted after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.models import Job, JobStatus
from bot.core.ports.image_links import IMAGE_GONE
from tests.conftest import runblob_harness
from tests.e2e.commands import private_reply
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024


@pytest.fixture
async def bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def delivered(bot: BotHarness, runblob: FakeRunblob, **options: Any) -> Job:
    job = await bot.wait_status((await bot.job_for(await bot.video("make it move", **options))).id,
                                JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id or "", "completed")
    return await bot.wait_status(job.id, JobStatus.DELIVERED)


async def cdn_status(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def ledger_rows(bot: BotHarness) -> int:
    [(rows,)] = await bot.sql("SELECT COUNT(*) FROM quota_ledger")
    return int(rows)


async def test_a_reroll_after_the_image_link_expired_sends_a_renewed_link(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    image = discord_fake.add_attachment(PNG, "cat.png", "image/png")
    original = await delivered(bot, runblob, image=image)
    assert await cdn_status(image["url"]) == (200, PNG)
    discord_fake.expire_attachments()  # a day later
    assert (await cdn_status(image["url"]))[0] == 404

    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    rerolled = await bot.wait_status((await bot.job_for(click)).id, JobStatus.SUBMITTED)
    [sent] = runblob.requests[-1].body["images_url"]
    assert discord_fake.refreshed_urls == [image["url"]]
    assert sent != image["url"] and rerolled.request.image_urls == (sent,)
    assert await cdn_status(sent) == (200, PNG)  # what the provider fetches works


async def test_a_remix_renews_the_image_link_too(bot: BotHarness, discord_fake: FakeDiscord,
                                                 runblob: FakeRunblob) -> None:
    image = discord_fake.add_attachment(PNG, "cat.png", "image/png")
    original = await delivered(bot, runblob, image=image)
    discord_fake.expire_attachments()
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:remix:{original.id}", user_id=ALICE)
    await click.wait_response()
    submitted = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE,
                                                custom_id=f"kb:remixed:{original.id}", fields={"prompt": "it jumps"})
    await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)
    [sent] = runblob.requests[-1].body["images_url"]
    assert runblob.requests[-1].body["prompt"] == "it jumps"
    assert await cdn_status(sent) == (200, PNG)


async def test_an_image_discord_will_not_renew_is_refused_privately_and_nothing_is_charged(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    image = discord_fake.add_attachment(PNG, "cat.png", "image/png")
    original = await delivered(bot, runblob, image=image)
    discord_fake.expire_attachments()
    rows, submits = await ledger_rows(bot), runblob.submit_calls
    discord_fake.fail_next("POST", r"^/attachments/refresh-urls$", 400, code=50035, message="Invalid Form Body")
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    assert await private_reply(click) == IMAGE_GONE
    assert await ledger_rows(bot) == rows and runblob.submit_calls == submits


async def test_a_deleted_image_is_refused_the_same_way(bot: BotHarness, discord_fake: FakeDiscord,
                                                       runblob: FakeRunblob) -> None:
    image = discord_fake.add_attachment(PNG, "cat.png", "image/png")
    original = await delivered(bot, runblob, image=image)
    del discord_fake.attachment_data[int(image["id"])]  # the member deleted their upload
    rows = await ledger_rows(bot)
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=ALICE)
    assert await private_reply(click) == IMAGE_GONE
    assert await ledger_rows(bot) == rows


async def test_a_reroll_of_a_text_job_asks_discord_nothing(bot: BotHarness, discord_fake: FakeDiscord,
                                                           runblob: FakeRunblob) -> None:
    original = await delivered(bot, runblob)
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    await bot.wait_status((await bot.job_for(click)).id, JobStatus.SUBMITTED)
    assert discord_fake.refreshed_urls == []
    assert ("POST", "/attachments/refresh-urls") not in discord_fake.requests


async def test_a_remix_form_opened_before_a_restart_is_submitted_after_it(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    original = await delivered(bot, runblob)
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:remix:{original.id}", user_id=BOB)
    assert (await click.wait_response())["type"] == 9
    await bot.restart()
    submitted = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=BOB,
                                                custom_id=f"kb:remixed:{original.id}",
                                                fields={"prompt": "a paper dragon"})
    remix = await bot.wait_status((await bot.job_for(submitted)).id, JobStatus.SUBMITTED)
    assert remix.user_id == BOB and remix.request.prompt == "a paper dragon"
    assert remix.request.duration == original.request.duration
    assert runblob.requests[-1].body["prompt"] == "a paper dragon"
    assert submitted.errors == [] and discord_fake.internal_errors == []
