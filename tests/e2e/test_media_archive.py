"""The media archive under PUBLIC_BASE_URL and the bot's disks: only complete videos are served, old
ones are removed (and then answer 410), a full disk or an unusable folder falls back to the provider's
link, and what a crash left in the scratch folder is swept at start-up."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import DeliveryOutcome, Job, JobStatus
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.media_host import FakeMediaHost
from tests.fakes.provider_base import fake_video
from tests.fakes.runblob import FakeRunblob
from tests.harness import BOB, CHANNEL, GUILD, BotHarness, free_port

UPLOAD_LIMIT = 64 * 1024  # the guild's, so a 256 KiB video is archived instead of attached
VIDEO = fake_video(256 * 1024)
DAY = 86400



def public_harness(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, **settings: object) -> BotHarness:
    port = free_port()
    discord_fake.guilds[GUILD].filesize_limit = UPLOAD_LIMIT
    runblob.video = VIDEO
    return runblob_harness(discord_fake, runblob, tmp_path, http_port=port,
                           public_base_url=f"http://127.0.0.1:{port}", **settings)


@pytest.fixture
async def public(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = public_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def finished(harness: BotHarness, runblob: FakeRunblob, final: JobStatus = JobStatus.DELIVERED,
                   *, user_id: int | None = None) -> Job:
    interaction = await (harness.video(user_id=user_id) if user_id else harness.video())
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    assert job.provider_job_id is not None
    runblob.set_state(job.provider_job_id, "completed")
    return await harness.wait_status(job.id, final)


async def get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


def media_url(harness: BotHarness, name: str) -> str:
    return f"{harness.running.listener_url}/media/{name}"


def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"  # beside the database (MEDIA_DIR unset)


async def test_a_too_large_video_is_archived_whole_and_served(public: BotHarness, runblob: FakeRunblob,
                                                              tmp_path: Path) -> None:
    job = await finished(public, runblob)
    assert job.delivery_outcome is DeliveryOutcome.LINKED
    [post] = public.results_in(CHANNEL)
    assert media_url(public, f"{job.id}.mp4") in post["content"] and "expire" not in post["content"]
    assert await get(media_url(public, f"{job.id}.mp4")) == (200, VIDEO)
    # no partial left over (the `frames` folder holds Continue's last frames: tests/e2e/test_continue.py)
    assert sorted(p.name for p in media_dir(tmp_path).iterdir() if p.is_file()) == [f"{job.id}.mp4"]
    status, _ = await get(media_url(public, "not-a-video-name.mp4"))
    assert status == 404


async def test_a_half_written_video_is_never_served(public: BotHarness, runblob: FakeRunblob, tmp_path: Path) -> None:
    slow = FakeMediaHost("127.0.0.1", video=VIDEO)
    await slow.start()
    try:
        runblob.result_url = slow.url("/slow.mp4")
        interaction = await public.video()
        job = await public.job_for(interaction)
        job = await public.wait_status(job.id, JobStatus.SUBMITTED)
        assert job.provider_job_id is not None
        runblob.set_state(job.provider_job_id, "completed")
        partial = await partial_file(media_dir(tmp_path), job.id)  # the archive download, half-way

        status, _ = await get(media_url(public, f"{job.id}.mp4"))
        assert status == 404
        status, _ = await get(media_url(public, partial.name))
        assert status == 404
        assert (await public.running.store.get(job.id)).status is JobStatus.COMPLETED  # type: ignore[union-attr]

        slow.release.set()
        delivered = await public.wait_status(job.id, JobStatus.DELIVERED)
        assert delivered.delivery_outcome is DeliveryOutcome.LINKED
        assert await get(media_url(public, f"{job.id}.mp4")) == (200, VIDEO)
        assert not partial.exists()
    finally:
        await slow.close()


async def partial_file(folder: Path, job_id: str, timeout: float = 10) -> Path:
    """The archive's partial file for this job, once it holds some bytes."""
    def started() -> list[Path]:
        return [p for p in folder.glob(f".{job_id}.mp4.partial-*") if p.stat().st_size > 0] if folder.exists() else []

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(started)
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise TimeoutError("no partial archive file appeared")


async def test_videos_past_the_retention_are_removed_at_start_and_answer_410(
    public: BotHarness, runblob: FakeRunblob, tmp_path: Path,
) -> None:
    old = await finished(public, runblob)
    kept = await finished(public, runblob, user_id=BOB)
    forty_days_ago = time.time() - 40 * DAY
    os.utime(media_dir(tmp_path) / f"{old.id}.mp4", (forty_days_ago, forty_days_ago))
    (media_dir(tmp_path) / "notes.txt").write_text("not the bot's")  # a foreign file is never touched
    os.utime(media_dir(tmp_path) / "notes.txt", (forty_days_ago, forty_days_ago))

    await public.restart()
    status, body = await get(media_url(public, f"{old.id}.mp4"))
    assert status == 410
    assert "no longer kept" in body.decode() and "30 days" in body.decode()
    assert not (media_dir(tmp_path) / f"{old.id}.mp4").exists()
    assert await get(media_url(public, f"{kept.id}.mp4")) == (200, VIDEO)
    assert (media_dir(tmp_path) / "notes.txt").exists()
    status, _ = await get(media_url(public, "ffffffffffffffff.mp4"))  # never a job here: still 404
    assert status == 404


async def test_the_size_bound_removes_the_oldest_after_each_archive_write(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path,
) -> None:
    harness = public_harness(discord_fake, runblob, tmp_path, media_max_bytes=len(VIDEO) * 3 // 2)
    await harness.start()
    try:
        first = await finished(harness, runblob)
        os.utime(media_dir(tmp_path) / f"{first.id}.mp4", (time.time() - 60, time.time() - 60))
        second = await finished(harness, runblob, user_id=BOB)
        assert second.delivery_outcome is DeliveryOutcome.LINKED
        status, body = await get(media_url(harness, f"{first.id}.mp4"))
        assert status == 410 and "no longer kept" in body.decode()
        assert await get(media_url(harness, f"{second.id}.mp4")) == (200, VIDEO)
    finally:
        await harness.stop()


async def test_a_full_disk_posts_the_provider_link_and_the_job_is_delivered(
    public: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord, tmp_path: Path,
) -> None:
    runblob.video = fake_video(4096)  # would fit as an attachment
    public.running.delivery.free_space_margin = 1 << 62  # no disk has this much free
    job = await finished(public, runblob)
    assert job.delivery_outcome is DeliveryOutcome.LINKED
    [post] = public.results_in(CHANNEL)
    assert post["attachments"] == []
    assert runblob.video_url(job.provider_job_id or "") in post["content"] and "expire" in post["content"]
    assert not media_dir(tmp_path).exists() or list(media_dir(tmp_path).iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_media_folder_that_cannot_be_written_posts_the_provider_link(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path,
) -> None:
    blocked = tmp_path / "media-is-a-file"
    blocked.write_text("a file where the media folder should be")
    harness = public_harness(discord_fake, runblob, tmp_path, media_dir=blocked)
    await harness.start()
    try:
        job = await finished(harness, runblob)
        assert job.delivery_outcome is DeliveryOutcome.LINKED
        [post] = harness.results_in(CHANNEL)
        assert runblob.video_url(job.provider_job_id or "") in post["content"] and "expire" in post["content"]
    finally:
        await harness.stop()


async def test_leftovers_of_a_crash_are_swept_at_start(discord_fake: FakeDiscord, runblob: FakeRunblob,
                                                       tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    leftover = scratch / "job-0123456789abcdef-x1y2z3"
    leftover.mkdir(parents=True)
    (leftover / "kling-0123456789abcdef.mp4").write_bytes(VIDEO)
    unrelated = scratch / "keep-me"
    unrelated.mkdir()
    media_dir(tmp_path).mkdir()
    partial = media_dir(tmp_path) / ".0123456789abcdef.mp4.partial-1a2b3c4d"
    partial.write_bytes(VIDEO[:1000])
    an_hour_ago = time.time() - 3600
    os.utime(partial, (an_hour_ago, an_hour_ago))
    # Another process sharing MEDIA_DIR (several processes on PostgreSQL) is writing this one right now.
    being_written = media_dir(tmp_path) / ".fedcba9876543210.mp4.partial-5e6f7a8b"
    being_written.write_bytes(VIDEO[:1000])

    harness = public_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    try:
        assert not leftover.exists()
        assert not partial.exists()
        assert unrelated.exists() and being_written.exists()
    finally:
        await harness.stop()
