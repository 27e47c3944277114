"""What members see around a job: late edits after the interaction token expires, /jobs, Re-roll and
Remix (also after a restart), archived links, metrics, and secrets kept out of logs."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import DeliveryOutcome, JobStatus
from tests.conftest import runblob_harness
from tests.e2e.scrape import scrape
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import fake_video
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness, free_port, settle


@pytest.fixture
async def bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path):
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def finished_job(harness: BotHarness, runblob: FakeRunblob, prompt: str = "a glass city", user_id: int = ALICE):
    interaction = await harness.video(prompt, user_id=user_id)
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id, "completed")
    return interaction, await harness.wait_status(job.id, JobStatus.DELIVERED)


async def test_late_updates_use_the_bot_token_after_the_interaction_token_expired(
    bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    discord_fake.token_ttl = 0.3
    interaction = await bot.video("a slow sunrise")
    job = await bot.job_for(interaction)
    job = await bot.wait_status(job.id, JobStatus.SUBMITTED)
    await settle(0.5)  # the interaction token is now dead
    runblob.set_state(job.provider_job_id, "completed")
    await bot.wait_status(job.id, JobStatus.DELIVERED)
    await bot.status_reads(interaction, "Done")
    assert len(bot.results_in(CHANNEL)) == 1
    assert not any("/webhooks/" in path for _, path in discord_fake.requests)
    assert interaction.errors == []


async def test_jobs_lists_the_members_recent_jobs_privately(bot: BotHarness, runblob: FakeRunblob,
                                                            discord_fake: FakeDiscord) -> None:
    _, job = await finished_job(bot, runblob, "an origami crane")
    listing = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="jobs")
    response = await listing.wait_response()
    assert response["data"]["flags"] & 64
    content = response["data"]["content"]
    assert job.id in content and "origami crane" in content and str(job.result_message_id) in content
    empty = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=BOB, name="jobs")
    assert "no video jobs yet" in (await empty.wait_response())["data"]["content"]


async def test_reroll_works_after_a_restart_and_is_the_clickers_job(
    bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    _, original = await finished_job(bot, runblob, "a neon koi")
    [post] = bot.results_in(CHANNEL)
    await bot.restart()
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    response = await click.wait_response()
    assert response["type"] == 4 and "neon koi" in response["data"]["embeds"][0]["description"]
    rerolled = await bot.job_for(click)
    assert rerolled.user_id == BOB and rerolled.id != original.id
    assert rerolled.request == original.request


async def test_remix_opens_a_prefilled_modal_and_starts_a_new_job(
    bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    _, original = await finished_job(bot, runblob, "a paper tiger")
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:remix:{original.id}", user_id=ALICE)
    response = await click.wait_response()
    assert response["type"] == 9
    assert "a paper tiger" in str(click.modal)
    submitted = await discord_fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE,
                                                custom_id=f"kb:remixed:{original.id}",
                                                fields={"prompt": "a paper dragon"})
    remix = await bot.job_for(submitted)
    assert remix.request.prompt == "a paper dragon" and remix.request.duration == original.request.duration


async def test_a_reroll_of_an_unknown_job_is_explained(bot: BotHarness, discord_fake: FakeDiscord,
                                                      runblob: FakeRunblob) -> None:
    _, original = await finished_job(bot, runblob)
    [post] = bot.results_in(CHANNEL)
    await bot.sql("DELETE FROM job_events WHERE job_id = ?", original.id)
    await bot.sql("DELETE FROM jobs WHERE id = ?", original.id)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=ALICE)
    response = await click.wait_response()
    assert response["data"]["flags"] & 64 and "no longer known" in response["data"]["content"]


async def test_metrics_count_jobs_calls_and_deliveries(bot: BotHarness, runblob: FakeRunblob) -> None:
    await finished_job(bot, runblob)
    metrics = await scrape(bot)
    assert metrics.value("kling_jobs", status="delivered") == 1
    assert metrics.value("kling_provider_calls_total", provider="runblob", call="submit", outcome="ok") == 1
    assert metrics.value("kling_deliveries_total", outcome="attached") == 1
    assert metrics.value("kling_queue_depth") == 0



async def test_too_large_videos_are_archived_and_linked_when_public(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    port = free_port()
    harness = runblob_harness(discord_fake, runblob, tmp_path, http_port=port,
                              public_base_url=f"http://127.0.0.1:{port}")
    await harness.start()
    try:
        discord_fake.guilds[GUILD].filesize_limit = 64 * 1024
        runblob.video = fake_video(256 * 1024)
        _, job = await finished_job(harness, runblob)
        assert job.delivery_outcome is DeliveryOutcome.LINKED
        [post] = harness.results_in(CHANNEL)
        link = f"http://127.0.0.1:{port}/media/{job.id}.mp4"
        assert link in post["content"] and "expire" not in post["content"]
        async with aiohttp.ClientSession() as session:
            async with session.get(link) as response:
                assert response.status == 200 and await response.read() == runblob.video
            async with session.get(f"http://127.0.0.1:{port}/media/..%2Fbot.sqlite3") as response:
                assert response.status == 404
    finally:
        await harness.stop()


async def test_provider_keys_and_the_token_never_reach_the_logs(
    bot: BotHarness, runblob: FakeRunblob, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runblob.fail_next("submit", 401, {"detail": f"Invalid key {runblob.api_key}"})
    interaction = await bot.video()
    job = await bot.job_for(interaction)
    failed = await bot.wait_status(job.id, JobStatus.FAILED)
    assert "misconfigured" in (failed.last_error or "")
    assert runblob.api_key not in caplog.text
    assert "fake-bot-token" not in caplog.text
    assert runblob.api_key not in (failed.last_error or "")


async def test_reroll_of_an_image_job_sends_the_same_image_again(
    bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    image = discord_fake.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\x00" * 512, "cat.png", "image/png")
    interaction = await bot.video("make the cat wave", image=image)
    original = await bot.wait_status((await bot.job_for(interaction)).id, JobStatus.SUBMITTED)
    runblob.set_state(original.provider_job_id, "completed")
    await bot.wait_status(original.id, JobStatus.DELIVERED)
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    rerolled = await bot.wait_status((await bot.job_for(click)).id, JobStatus.SUBMITTED)
    [sent] = runblob.requests[-1].body["images_url"]
    assert sent.partition("?")[0] == image["url"].partition("?")[0]  # the same file (its link renewed first)
    assert rerolled.request.image_urls == (sent,) and original.request.image_urls == (image["url"],)
