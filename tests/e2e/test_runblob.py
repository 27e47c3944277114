"""`/video` end to end on runblob: callbacks, polling, duplicates, restarts, forged callbacks, limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import DeliveryOutcome, JobStatus
from tests import postgres
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import fake_video
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness, free_port, settle


@pytest.fixture
async def polled(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path):
    """The bot on runblob without a public URL: polling only."""
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def submitted_job(harness: BotHarness, runblob: FakeRunblob, prompt: str = "a lighthouse at dusk"):
    interaction = await harness.video(prompt)
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    return interaction, job


async def test_completion_by_callback_posts_once_without_polling(pushed: BotHarness, runblob: FakeRunblob) -> None:
    _, job = await submitted_job(pushed, runblob)
    request = runblob.requests[-1].body
    assert request["model"] == "kling_o3" and request["duration"] == "5" and request["aspect_ratio"] == "16:9"
    assert request["callback_url"].startswith(f"{pushed.running.listener_url}/callbacks/runblob/{job.id}/")

    await runblob.finish(job.provider_job_id)
    delivered = await pushed.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
    assert len(pushed.results_in(CHANNEL)) == 1
    assert runblob.callbacks_sent[-1][2] == 200
    assert runblob.status_calls == 0  # the safety-net poll had not come due


async def test_poll_only_follows_the_job_to_completion(polled: BotHarness, runblob: FakeRunblob) -> None:
    _, job = await submitted_job(polled, runblob)
    assert "callback_url" not in runblob.requests[-1].body
    runblob.set_state(job.provider_job_id, "processing")
    await polled.wait_status(job.id, JobStatus.PROCESSING)
    runblob.set_state(job.provider_job_id, "completed")
    await polled.wait_status(job.id, JobStatus.DELIVERED)
    await settle(0.3)
    assert len(polled.results_in(CHANNEL)) == 1
    calls = runblob.status_calls
    await settle(0.3)
    assert runblob.status_calls == calls  # no polling once it finished


async def test_five_duplicate_callbacks_and_polling_give_one_post(pushed: BotHarness, runblob: FakeRunblob) -> None:
    pushed.running.tracker.schedule = lambda n, **_: 0.02  # type: ignore[assignment]
    _, job = await submitted_job(pushed, runblob)
    runblob.set_state(job.provider_job_id, "completed")
    fake_job = runblob.jobs[job.provider_job_id]
    await asyncio.gather(*[runblob.deliver_webhook(fake_job) for _ in range(5)])
    await pushed.wait_status(job.id, JobStatus.DELIVERED)
    await settle(0.5)
    assert len(pushed.results_in(CHANNEL)) == 1
    assert all(status == 200 for _, _, status in runblob.callbacks_sent)
    completions = [e for e in await pushed.running.store.events(job.id) if e.to_status is JobStatus.COMPLETED]
    assert len(completions) == 1


async def test_restart_after_submit_resumes_polling(polled: BotHarness, runblob: FakeRunblob) -> None:
    polled.poll_schedule = lambda n, **_: 30.0  # the first run would not poll again in time
    await polled.restart()
    _, job = await submitted_job(polled, runblob)
    await polled.stop()
    runblob.set_state(job.provider_job_id, "completed")  # finishes while the bot is down
    polled.poll_schedule = lambda n, **_: 0.05
    await polled.start()
    await polled.wait_status(job.id, JobStatus.DELIVERED)
    await settle(0.3)
    assert len(polled.results_in(CHANNEL)) == 1
    assert runblob.submit_calls == 1


async def test_restart_after_completion_delivers_once(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    # Discord refuses the post for a while, so the bot goes down holding a completed, undelivered job.
    discord_fake.fail_next("POST", rf"/channels/{CHANNEL}/messages$", 500, times=100)
    _, job = await submitted_job(polled, runblob)
    runblob.set_state(job.provider_job_id, "completed")
    await polled.wait_status(job.id, JobStatus.COMPLETED)
    await polled.stop()
    assert polled.results_in(CHANNEL) == []
    discord_fake._faults.clear()
    await polled.start()
    await polled.wait_status(job.id, JobStatus.DELIVERED)
    await settle(0.3)
    assert len(polled.results_in(CHANNEL)) == 1
    assert runblob.submit_calls == 1


async def test_crash_between_posting_and_recording_posts_once(polled: BotHarness, runblob: FakeRunblob) -> None:
    _, job = await submitted_job(polled, runblob)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await polled.wait_status(job.id, JobStatus.DELIVERED)
    first_post = polled.results_in(CHANNEL)[0]
    again = await polled.redeliver_after_a_crash(job.id)
    assert len(polled.results_in(CHANNEL)) == 1  # the nonce made Discord return the first message
    assert again.result_message_id == delivered.result_message_id == int(first_post["id"])


async def test_restart_during_submit_is_not_resubmitted(polled: BotHarness, runblob: FakeRunblob) -> None:
    runblob.fail_next("submit", 201, {"generation_id": "late"}, delay=30)  # the answer never comes in time
    interaction = await polled.video("an uncertain submit")
    job = await polled.job_for(interaction)
    await runblob_request_seen(runblob)
    await polled.stop()
    await polled.start()
    failed = await polled.wait_status(job.id, JobStatus.FAILED)
    assert "not sent again" in (failed.last_error or "")
    assert runblob.submit_calls == 1


async def runblob_request_seen(runblob: FakeRunblob, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while runblob.submit_calls == 0:
            await asyncio.sleep(0.01)


async def test_forged_malformed_and_oversized_callbacks_change_nothing(
    pushed: BotHarness, runblob: FakeRunblob
) -> None:
    _, job = await submitted_job(pushed, runblob)
    app = pushed.running
    good_path = app.signer.path("runblob", job.id)
    body = {"generation_id": job.provider_job_id, "status": "completed", "video_url": runblob.video_url("x")}
    base = app.listener_url
    async with aiohttp.ClientSession() as session:
        cases = [
            (f"{base}/callbacks/runblob/{job.id}/{'0' * 40}", body, 403),  # wrong token
            (f"{base}/callbacks/runblob/{job.id}/short", body, 403),
            (f"{base}{app.signer.path('runblob', 'ffffffffffffffff')}", body, 404),  # unknown job
            (f"{base}{app.signer.path('segmind', job.id)}", body, 404),  # another provider's route
            (f"{base}{good_path}", {"status": "completed"}, 400),  # malformed
            (f"{base}{good_path}", {**body, "status": "exploded"}, 400),
            (f"{base}{good_path}", {**body, "generation_id": "someone-else"}, 400),  # not this job's
            (f"{base}{good_path}", {**body, "padding": "x" * 70_000}, 413),  # over 64 KiB
        ]
        for url, payload, expected in cases:
            async with session.post(url, json=payload) as response:
                assert response.status == expected, (url, payload.get("status"), await response.text())
        async with session.post(f"{base}{good_path}", data=b"not json",
                                headers={"Content-Type": "application/json"}) as response:
            assert response.status == 400
    unchanged = await app.store.get(job.id)
    assert unchanged is not None and unchanged.status is JobStatus.SUBMITTED and unchanged.video_url is None
    assert [e.to_status for e in await app.store.events(job.id)] == [JobStatus.QUEUED, JobStatus.SUBMITTED]


async def test_overlong_prompt_is_refused_and_nothing_submitted(polled: BotHarness, runblob: FakeRunblob) -> None:
    interaction = await polled.video("x" * 2501)
    response = await interaction.wait_response()
    assert response["data"]["flags"] & 64  # ephemeral
    assert "2,501 characters" in response["data"]["content"] and "2,500" in response["data"]["content"]
    await settle(0.2)
    assert runblob.submit_calls == 0
    assert await polled.running.store.recent_for_user(GUILD, ALICE) == []


async def test_video_over_the_upload_limit_becomes_a_link(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    discord_fake.guilds[GUILD].filesize_limit = 64 * 1024
    runblob.video = fake_video(200 * 1024)
    _, job = await submitted_job(polled, runblob)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await polled.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.LINKED
    [post] = polled.results_in(CHANNEL)
    assert post["attachments"] == []
    assert runblob.video_url(job.provider_job_id) in post["content"] and "expire" in post["content"]


async def test_insufficient_credits_fails_the_job_in_plain_words(polled: BotHarness, runblob: FakeRunblob) -> None:
    runblob.fail_next("submit", 402, {"detail": "INSUFFICIENT_CREDITS"})
    interaction = await polled.video()
    job = await polled.job_for(interaction)
    failed = await polled.wait_status(job.id, JobStatus.FAILED)
    assert "out of credits" in (failed.last_error or "")
    status = await polled.status_reads(interaction, "Failed")
    assert runblob.api_key not in str(status)


async def test_a_job_that_never_finishes_times_out(discord_fake: FakeDiscord, runblob: FakeRunblob,
                                                   tmp_path: Path) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, job_timeout_seconds=1)
    await harness.start()
    try:
        _, job = await submitted_job(harness, runblob)
        failed = await harness.wait_status(job.id, JobStatus.FAILED, timeout=5)
        assert "in time" in (failed.last_error or "")
    finally:
        await harness.stop()


async def test_refused_channel_falls_back_to_a_direct_message(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    _, job = await submitted_job(polled, runblob)
    discord_fake.set_channel_forbidden(CHANNEL)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await polled.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE
    dm = await discord_fake.wait_for_dm(ALICE)
    assert "your video is ready" in dm["content"] and dm["attachments"]
    # A crash between that direct message and its record: the delivery runs again and sends it once.
    again = await polled.redeliver_after_a_crash(job.id)
    assert len(discord_fake.dm_messages[ALICE]) == 1
    assert again.result_message_id == delivered.result_message_id == int(dm["id"])


async def test_health_reports_database_and_gateway(polled: BotHarness, discord_fake: FakeDiscord) -> None:
    url = f"{polled.running.listener_url}/healthz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
            # On PostgreSQL several processes may share the database, and /healthz says which one leads.
            role = {"role": "leader"} if postgres.e2e_on_postgres() else {}
            assert await response.json() == {"status": "ok", "database": True, "gateway": True, "dead_tasks": {},
                                             **role}
        await polled.running.database.close()
        async with session.get(url) as response:
            assert response.status == 503
            assert (await response.json())["database"] is False


async def test_switching_providers_cancels_jobs_in_flight_and_still_delivers_finished_ones(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    sandbox = BotHarness(discord_fake, tmp_path, sandbox_pending_seconds=0.1, sandbox_processing_seconds=0.1)
    await sandbox.start()
    discord_fake.fail_next("POST", rf"/channels/{CHANNEL}/messages$", 500, times=100)
    finished = await sandbox.job_for(await sandbox.video("finished under the sandbox"))
    await sandbox.wait_status(finished.id, JobStatus.COMPLETED)
    sandbox.running.dispatcher.slots.limit = 0  # hold the next job in the queue
    queued = await sandbox.job_for(await sandbox.video("still queued", user_id=BOB))
    await sandbox.stop()
    discord_fake._faults.clear()

    switched = runblob_harness(discord_fake, runblob, tmp_path)
    await switched.start()
    try:
        await switched.wait_status(finished.id, JobStatus.DELIVERED)
        cancelled = await switched.wait_status(queued.id, JobStatus.FAILED)
        assert "switched video providers from sandbox to runblob" in (cancelled.last_error or "")
        assert runblob.submit_calls == 0
        assert len(switched.results_in(CHANNEL)) == 1
    finally:
        await switched.stop()


async def test_a_delivery_resumed_at_start_up_uses_the_servers_boosted_upload_limit(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    discord_fake.set_premium_tier(GUILD, 3)  # 100 MiB uploads
    runblob.video = fake_video(12 * 1024 * 1024)  # over the unboosted 10 MiB
    discord_fake.fail_next("POST", rf"/channels/{CHANNEL}/messages$", 500, times=100)
    _, job = await submitted_job(polled, runblob)
    runblob.set_state(job.provider_job_id, "completed")
    await polled.wait_status(job.id, JobStatus.COMPLETED)
    await polled.stop()
    discord_fake._faults.clear()
    await polled.start()
    delivered = await polled.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
    [post] = polled.results_in(CHANNEL)
    assert post["attachments"][0]["size"] == 12 * 1024 * 1024


async def test_discord_refusing_the_upload_falls_back_to_a_link(
    polled: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    # The size fits the limit the bot knows, but Discord answers 413 anyway (a limit changed meanwhile).
    discord_fake.fail_next("POST", rf"/channels/{CHANNEL}/messages$", 413, code=40005,
                           message="Request entity too large")
    _, job = await submitted_job(polled, runblob)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await polled.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.LINKED
    [post] = polled.results_in(CHANNEL)
    assert post["attachments"] == [] and runblob.video_url(job.provider_job_id) in post["content"]
    events = [e.detail or "" for e in await polled.running.store.events(job.id) if e.kind == "delivery_error"]
    assert len(events) == 1 and "413" in events[0]


async def test_status_errors_are_retried_until_the_job_is_seen_finished(
    polled: BotHarness, runblob: FakeRunblob
) -> None:
    _, job = await submitted_job(polled, runblob)
    runblob.fail_next("status", 503, {"detail": "Service Unavailable"}, times=2)
    runblob.fail_next("status", 429, {"detail": "Too many requests"}, headers={"Retry-After": "0.2"})
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await polled.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
    assert runblob.status_calls >= 4  # three refused, then the one that saw it finished


async def test_a_job_the_provider_no_longer_knows_fails_and_is_refunded(
    polled: BotHarness, runblob: FakeRunblob
) -> None:
    _, job = await submitted_job(polled, runblob)
    del runblob.jobs[job.provider_job_id]  # the status route now answers 404
    failed = await polled.wait_status(job.id, JobStatus.FAILED)
    assert "lost track" in (failed.last_error or "")
    ledger = await polled.sql("SELECT kind FROM quota_ledger WHERE job_id = ? ORDER BY id", job.id)
    assert ledger == [("reserve",), ("refund",)]


async def test_a_video_that_cannot_be_downloaded_is_posted_as_its_link(
    pushed: BotHarness, runblob: FakeRunblob
) -> None:
    _, job = await submitted_job(pushed, runblob)
    unreachable = f"{free_port_url()}/gone.mp4"
    app = pushed.running
    body = {"generation_id": job.provider_job_id, "status": "completed", "video_url": unreachable}
    async with aiohttp.ClientSession() as session, session.post(
        f"{app.listener_url}{app.signer.path('runblob', job.id)}", json=body
    ) as response:
        assert response.status == 200
    delivered = await pushed.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.LINKED
    [post] = pushed.results_in(CHANNEL)
    assert unreachable in post["content"] and "expire" in post["content"]


def free_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
