"""A provider's video link cannot be turned against the bot: it is downloaded only from public https
hosts (or DOWNLOAD_ALLOW_NETWORKS), redirects are checked hop by hop, and only a video is posted. A
refused link fails the job in plain words and refunds it; nothing from it, and not the link, is posted."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.models import DeliveryOutcome, Job, JobStatus
from bot.logs import JobFieldsFilter
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.media_host import SECRET, FakeMediaHost
from tests.fakes.runblob import FakeRunblob
from tests.harness import CHANNEL, BotHarness, settle


@pytest.fixture
async def polled(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    """The bot on runblob, polling; DOWNLOAD_ALLOW_NETWORKS is the harness's 127.0.0.1/32."""
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()




async def finished_with(harness: BotHarness, runblob: FakeRunblob, video_url: str,
                        final: JobStatus) -> tuple[FakeInteraction, Job]:
    """A job the provider completes with `video_url` as its result, followed until `final`."""
    runblob.result_url = video_url
    interaction = await harness.video("a lighthouse at dusk")
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    assert job.provider_job_id is not None
    runblob.set_state(job.provider_job_id, "completed")
    done = await harness.wait_status(job.id, final)
    await harness.running.publisher.wait_for_edits()
    return interaction, done


async def assert_refused_and_refunded(harness: BotHarness, discord_fake: FakeDiscord, interaction: FakeInteraction,
                                      job: Job, link: str, words: str) -> None:
    assert job.status is JobStatus.FAILED
    assert words in (job.last_error or "") and "refunded" in (job.last_error or "")
    status = await harness.status_reads(interaction, "Failed")
    assert words in str(status["embeds"][0])
    await settle(0.2)
    assert harness.results_in(CHANNEL) == []  # no video post at all
    everything = str(discord_fake.messages) + str(discord_fake.dm_messages) + str(status)
    assert link not in everything  # the bad link is never shown
    assert all(SECRET not in data for data in discord_fake.attachment_data.values())
    ledger = await harness.sql("SELECT kind FROM quota_ledger WHERE job_id = ? ORDER BY id", job.id)
    assert ledger == [("reserve",), ("refund",)]


async def test_a_link_to_an_internal_address_is_never_fetched_and_the_job_is_refunded(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, internal: FakeMediaHost,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    caplog.handler.addFilter(JobFieldsFilter())  # each record names its job, as on the bot's own handler
    link = internal.url("/secret")
    interaction, job = await finished_with(polled, runblob, link, JobStatus.FAILED)
    await assert_refused_and_refunded(polled, discord_fake, interaction, job, link, "does not download from")
    assert internal.hits == []  # refused before any connection was made
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and getattr(r, "job_id", None) == job.id]
    assert any("refused" in w and "127.0.0.2" in w for w in warnings), warnings
    assert not any("/secret" in w for w in warnings)  # the host is logged, not the link


async def test_a_redirect_from_an_allowed_host_to_an_internal_one_is_refused(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, cdn: FakeMediaHost,
    internal: FakeMediaHost,
) -> None:
    link = cdn.url(f"/redirect?to={internal.url('/secret')}")
    interaction, job = await finished_with(polled, runblob, link, JobStatus.FAILED)
    await assert_refused_and_refunded(polled, discord_fake, interaction, job, link, "does not download from")
    assert cdn.hits and all(hit.startswith("/redirect") for hit in cdn.hits)
    assert internal.hits == []


@pytest.mark.parametrize("link", [
    "file:///etc/passwd",
    "data:video/mp4;base64,AAAAGGZ0eXBtcDQy",
    "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
    "http://[::ffff:127.0.0.2]/secret",  # IPv4-mapped IPv6
    "http://2130706433/secret",  # 127.0.0.1 as a bare number
])
async def test_links_of_other_schemes_and_internal_addresses_are_refused(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, link: str,
) -> None:
    interaction, job = await finished_with(polled, runblob, link, JobStatus.FAILED)
    await assert_refused_and_refunded(polled, discord_fake, interaction, job, link, "does not download from")


async def test_a_page_that_is_not_a_video_is_not_posted(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, cdn: FakeMediaHost,
) -> None:
    link = cdn.url("/page")
    interaction, job = await finished_with(polled, runblob, link, JobStatus.FAILED)
    await assert_refused_and_refunded(polled, discord_fake, interaction, job, link, "did not lead to a video")
    assert all(b"<html" not in data for data in discord_fake.attachment_data.values())


async def test_a_json_body_from_an_allowed_host_is_not_posted(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, cdn: FakeMediaHost,
) -> None:
    link = cdn.url("/secret")
    interaction, job = await finished_with(polled, runblob, link, JobStatus.FAILED)
    await assert_refused_and_refunded(polled, discord_fake, interaction, job, link, "did not lead to a video")
    assert cdn.hits == ["/secret"]


async def test_three_redirects_are_followed_and_the_video_attached(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, cdn: FakeMediaHost,
) -> None:
    _, job = await finished_with(polled, runblob, cdn.url("/hop/3"), JobStatus.DELIVERED)
    assert job.delivery_outcome is DeliveryOutcome.ATTACHED
    [post] = polled.results_in(CHANNEL)
    [attachment] = post["attachments"]
    assert discord_fake.attachment_data[int(attachment["id"])] == cdn.video
    assert cdn.hits == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]


async def test_a_fourth_redirect_is_refused(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, cdn: FakeMediaHost,
) -> None:
    link = cdn.url("/hop/4")
    interaction, job = await finished_with(polled, runblob, link, JobStatus.FAILED)
    await assert_refused_and_refunded(polled, discord_fake, interaction, job, link, "does not download from")
    assert cdn.hits == ["/hop/4", "/hop/3", "/hop/2", "/hop/1"]  # the fourth hop is never requested


async def test_the_ordinary_video_still_attaches(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord,
) -> None:
    _, job = await finished_with(polled, runblob, "", JobStatus.DELIVERED)  # "": the fake's own link
    assert job.delivery_outcome is DeliveryOutcome.ATTACHED
    [post] = polled.results_in(CHANNEL)
    assert discord_fake.attachment_data[int(post["attachments"][0]["id"])] == runblob.video
    assert runblob.video_fetches == 1


async def test_without_an_allow_list_plain_http_on_loopback_is_refused(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path,
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, download_allow_networks="")
    await harness.start()
    try:
        interaction, job = await finished_with(harness, runblob, "", JobStatus.FAILED)
        await assert_refused_and_refunded(harness, discord_fake, interaction, job,
                                          runblob.video_url(job.provider_job_id or ""), "does not download from")
        assert runblob.video_fetches == 0
    finally:
        await harness.stop()


async def test_the_sandbox_clip_needs_no_allow_list(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    """The sandbox's listener is on loopback, where downloads may not go: its clip is read from the package."""
    harness = BotHarness(discord_fake, tmp_path, download_allow_networks="")
    await harness.start()
    try:
        job = await harness.job_for(await harness.video())
        delivered = await harness.wait_status(job.id, JobStatus.DELIVERED)
        assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
        [post] = harness.results_in(CHANNEL)
        data = discord_fake.attachment_data[int(post["attachments"][0]["id"])]
        assert data[4:8] == b"ftyp" and len(data) > 1000
    finally:
        await harness.stop()
