"""Every provider end to end: the real bot, the fake Discord, and each provider's fake speaking its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import Clock
from bot.core.models import DeliveryOutcome, JobStatus
from tests.clock import FastSleepClock
from tests.fakes.cometapi import FakeCometapi
from tests.fakes.discord import FakeDiscord
from tests.fakes.kling import FakeKling
from tests.fakes.provider_base import FakeProviderServer
from tests.fakes.runbase import FakeRunbase
from tests.fakes.runblob import FakeRunblob
from tests.fakes.segmind import FakeSegmind
from tests.harness import CHANNEL, BotHarness, free_port, settle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


@dataclass
class Provider:
    name: str
    fake_class: type[FakeProviderServer]
    pushes: bool

    def settings(self, fake: FakeProviderServer) -> dict[str, Any]:
        key = fake.api_key
        return {
            "runblob": {"runblob_api_key": key, "runblob_base_url": fake.base_url},
            "segmind": {"segmind_api_key": key, "segmind_base_url": fake.base_url},
            "cometapi": {"cometapi_key": key, "cometapi_base_url": fake.base_url},
            "runbase": {"runbase_api_key": key, "runbase_base_url": fake.base_url},
            "kling": {"kling_access_key": getattr(fake, "access_key", ""),
                      "kling_secret_key": getattr(fake, "secret_key", ""), "kling_base_url": fake.base_url},
        }[self.name]


PROVIDERS = [
    Provider("runblob", FakeRunblob, pushes=True),
    Provider("segmind", FakeSegmind, pushes=False),
    Provider("cometapi", FakeCometapi, pushes=True),
    Provider("runbase", FakeRunbase, pushes=False),
    Provider("kling", FakeKling, pushes=True),
]



async def start_bot(provider: Provider, fake: FakeProviderServer, discord_fake: FakeDiscord, tmp_path: Path,
                    clock: Clock | None = None, **extra: Any) -> BotHarness:
    port = free_port()
    settings: dict[str, Any] = {"kling_provider": provider.name, "http_port": port, **provider.settings(fake)}
    if provider.pushes:
        settings["public_base_url"] = f"http://127.0.0.1:{port}"
    settings.update(extra)
    harness = BotHarness(discord_fake, tmp_path, clock=clock, **settings)
    await harness.start()
    return harness


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
async def provider_bot(request: pytest.FixtureRequest, discord_fake: FakeDiscord,
                       tmp_path: Path) -> AsyncIterator[tuple[Provider, FakeProviderServer, BotHarness]]:
    provider: Provider = request.param
    fake = provider.fake_class()
    await fake.start()
    harness = await start_bot(provider, fake, discord_fake, tmp_path)
    try:
        yield provider, fake, harness
    finally:
        await harness.stop()
        await fake.close()


async def test_video_is_delivered_on_every_provider(
    provider_bot: tuple[Provider, FakeProviderServer, BotHarness]
) -> None:
    provider, fake, harness = provider_bot
    interaction = await harness.video("a koi pond in the rain")
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    [fake_job] = await fake.wait_for_jobs(1)
    assert "koi pond" in str(fake_job.payload)
    await fake.finish(fake_job.id)  # type: ignore[attr-defined]
    delivered = await harness.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
    await settle(0.2)
    [post] = harness.results_in(CHANNEL)
    assert post["attachments"][0]["filename"] == f"kling-{job.id}.mp4"
    assert provider.name in post["embeds"][0]["footer"]["text"]
    if provider.pushes:
        assert fake.status_calls == 0  # the callback arrived before the safety-net poll
    else:
        assert fake.status_calls >= 1


async def test_a_failed_generation_is_explained(
    provider_bot: tuple[Provider, FakeProviderServer, BotHarness]
) -> None:
    provider, fake, harness = provider_bot
    interaction = await harness.video("something the filter dislikes")
    job = await harness.job_for(interaction)
    await harness.wait_status(job.id, JobStatus.SUBMITTED)
    [fake_job] = await fake.wait_for_jobs(1)
    reason = "CONTENT_POLICY_VIOLATION" if provider.name == "runblob" else "content policy violation"
    await fake.finish(fake_job.id, failed=reason)  # type: ignore[attr-defined]
    failed = await harness.wait_status(job.id, JobStatus.FAILED)
    assert "content filter" in (failed.last_error or "")
    await harness.status_reads(interaction, "Failed")
    assert harness.results_in(CHANNEL) == []


@pytest.mark.parametrize("provider", [PROVIDERS[0], PROVIDERS[4]], ids=lambda p: p.name)
async def test_image_to_video_passes_the_attachment(
    provider: Provider, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    fake = provider.fake_class()
    await fake.start()
    harness = await start_bot(provider, fake, discord_fake, tmp_path)
    try:
        image = discord_fake.add_attachment(PNG, "cat.png", "image/png")
        interaction = await harness.video("make the cat wave", image=image)
        job = await harness.job_for(interaction)
        await harness.wait_status(job.id, JobStatus.SUBMITTED)
        [fake_job] = await fake.wait_for_jobs(1)
        if provider.name == "runblob":
            assert fake_job.payload["images_url"] == [image["url"]]
        else:
            assert fake_job.payload["image"] == image["url"]
            assert fake.requests[-1].path.endswith("/image2video")
        await fake.finish(fake_job.id)  # type: ignore[attr-defined]
        await harness.wait_status(job.id, JobStatus.DELIVERED)
    finally:
        await harness.stop()
        await fake.close()


@pytest.mark.parametrize(("filename", "content_type", "size", "expected"), [
    ("notes.txt", "text/plain", 100, "is not a supported image"),
    ("huge.png", "image/png", 11 * 1024 * 1024, "images can be at most 10 MB"),
])
async def test_a_wrong_image_is_refused_before_anything_is_sent(
    discord_fake: FakeDiscord, tmp_path: Path, filename: str, content_type: str, size: int, expected: str
) -> None:
    fake = FakeRunblob()
    await fake.start()
    harness = await start_bot(PROVIDERS[0], fake, discord_fake, tmp_path)
    try:
        attachment = discord_fake.add_attachment(b"x" * size, filename, content_type)
        interaction = await harness.video("animate this", image=attachment)
        response = await interaction.wait_response()
        assert response["data"]["flags"] & 64
        assert expected in response["data"]["content"]
        await settle(0.2)
        assert fake.submit_calls == 0
    finally:
        await harness.stop()
        await fake.close()


async def test_a_provider_refusal_at_submit_tells_the_member(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    fake = FakeRunbase()
    await fake.start()
    harness = await start_bot(PROVIDERS[3], fake, discord_fake, tmp_path)
    try:
        fake.fail_next("submit", 402, {"error": {"message": "Insufficient balance", "code": "insufficient_balance"}})
        interaction = await harness.video("a windmill")
        job = await harness.job_for(interaction)
        failed = await harness.wait_status(job.id, JobStatus.FAILED)
        assert "out of credits" in (failed.last_error or "")
        assert fake.submit_calls == 1
    finally:
        await harness.stop()
        await fake.close()


async def test_an_ambiguous_submit_is_never_repeated(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    fake = FakeRunblob()
    await fake.start()
    harness = await start_bot(PROVIDERS[0], fake, discord_fake, tmp_path, provider_timeout_seconds=0.3)
    try:
        fake.fail_next("submit", 201, {"generation_id": "too-late", "status": "pending"}, delay=1.0)
        interaction = await harness.video("a sent but unanswered request")
        job = await harness.job_for(interaction)
        failed = await harness.wait_status(job.id, JobStatus.FAILED)
        assert "not sent again" in (failed.last_error or "")
        await settle(0.5)
        assert fake.submit_calls == 1
        events = await harness.running.store.events(job.id)
        assert any("needs reconciliation" in (e.detail or "") for e in events)
    finally:
        await harness.stop()
        await fake.close()


async def test_a_busy_provider_is_retried_until_it_accepts(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    fake = FakeKling()
    await fake.start()
    clock = FastSleepClock()
    harness = await start_bot(PROVIDERS[4], fake, discord_fake, tmp_path, clock=clock)
    try:
        # 1303: the account's concurrency is full. Back off and retry; never a failure.
        busy = {"code": 1303, "message": "parallel task over resource pack limit", "request_id": "r"}
        fake.fail_next("submit", 429, busy, times=2)
        interaction = await harness.video("a patient request")
        job = await harness.job_for(interaction)
        submitted = await harness.wait_status(job.id, JobStatus.SUBMITTED, timeout=10)
        assert submitted.attempts == 3 and fake.submit_calls == 3
        assert clock.slept[:2] == [30.0, 30.0]  # the adapter's back-off for a full account
    finally:
        await harness.stop()
        await fake.close()
