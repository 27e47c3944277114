"""A job can be followed through the bot's real stdout: every line about it names its job, guild, user and
provider, from the submit through the provider calls, the tracker, the lifecycle and the delivery, without
one job's name reaching another's lines; with LOG_JSON every line is one JSON object."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import Job, JobStatus
from bot.logs import setup_logging
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, OTHER_CHANNEL, BotHarness, free_port
from tests.waiting import until

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# The loggers that write while a job is handled; in these tests each of their lines is about one job.
JOB_LOGGERS = ("bot.core.dispatcher", "bot.core.tracker", "bot.core.lifecycle", "bot.core.delivery",
               "bot.providers.", "bot.discord_adapter.publisher")
GENERATE = "POST /v1/kling/o3-video/generate answered HTTP"
STATUS = "GET /v1/kling/o3-video/generations/"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def refuse_update(job_id: str, status: str, message: str) -> str:
    """A trigger that makes the real database refuse one job's move to `status`."""
    return (f"CREATE TRIGGER refuse_{status} BEFORE UPDATE ON jobs WHEN OLD.id = '{job_id}' "
            f"AND NEW.status = '{status}' BEGIN SELECT RAISE(ABORT, '{message}'); END")


def json_lines(out: str) -> list[dict[str, Any]]:
    """Every line of the output as a JSON object (json.loads fails the test on any other line)."""
    records = [json.loads(line) for line in out.splitlines()]
    assert records and all(isinstance(record, dict) for record in records)
    return records


async def test_two_jobs_at_once_are_each_followed_through_their_json_lines(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    harness = runblob_harness(discord_fake, runblob, tmp_path, http_port=port,
                              public_base_url=f"http://127.0.0.1:{port}", log_json=True, log_level="DEBUG")
    harness.poll_schedule = lambda checks, **_: 0.05  # polls as well as callbacks: both paths in one life
    setup_logging(harness.settings())
    app = await harness.start()
    app.tracker.error_retry_seconds = 0.1
    try:
        # Alice's first submit is refused with a short Retry-After: the dispatcher says so, then retries.
        runblob.fail_next("submit", 429, {"detail": "slow down"}, headers={"Retry-After": "0.05"})
        a = await harness.job_for(await harness.video("a lighthouse at dusk", user_id=ALICE))
        a = await harness.wait_status(a.id, JobStatus.SUBMITTED)
        # A real database error while recording her job's progress: a traceback, quoting the API key.
        await harness.sql(refuse_update(a.id, "processing", f"the disk is failing under {runblob.api_key}"))
        # Bob's job, in the other channel, where Discord refuses one status edit and the result post.
        discord_fake.fail_next("PATCH", rf"/channels/{OTHER_CHANNEL}/messages/\d+$", 403)
        discord_fake.fail_next("POST", rf"/channels/{OTHER_CHANNEL}/messages$", 403)
        b = await harness.job_for(await harness.video("a paper boat on a river", user_id=BOB,
                                                      channel_id=OTHER_CHANNEL))
        b = await harness.wait_status(b.id, JobStatus.SUBMITTED)
        assert a.provider_job_id and b.provider_job_id

        reads = runblob.jobs[a.provider_job_id].status_reads
        runblob.set_state(a.provider_job_id, "processing")
        runblob.set_state(b.provider_job_id, "processing")
        await harness.wait_status(b.id, JobStatus.PROCESSING)
        # Two reads of Alice's job after the change: the first one's failure has been logged.
        await until(lambda: runblob.jobs[a.provider_job_id].status_reads >= reads + 2)  # type: ignore[index]
        await harness.sql("DROP TRIGGER refuse_processing")
        await harness.wait_status(a.id, JobStatus.PROCESSING)

        await asyncio.gather(runblob.finish(a.provider_job_id), runblob.finish(b.provider_job_id))
        await harness.wait_status(a.id, JobStatus.DELIVERED)
        await harness.wait_status(b.id, JobStatus.DELIVERED)
        await app.publisher.wait_for_edits()
    finally:
        await harness.stop()

    out = capsys.readouterr().out
    records = json_lines(out)
    assert all(ISO_UTC.fullmatch(r["time"]) and r["level"] and r["logger"] and "message" in r for r in records)
    assert any(r["logger"].startswith("discord.") for r in records)  # discord.py's own lines are JSON too
    assert runblob.api_key not in out

    users = {a.id: str(ALICE), b.id: str(BOB)}  # Discord ids as strings: exact in every JSON reader
    about_jobs = [r for r in records if r["logger"].startswith(JOB_LOGGERS)]
    for record in about_jobs:
        assert record.get("job_id") in users, record
        assert (record["guild_id"], record["user_id"], record["provider"]) == (
            str(GUILD), users[record["job_id"]], "runblob"), record

    def lines(job: Job, logger: str) -> list[dict[str, Any]]:
        return [r for r in about_jobs if r["job_id"] == job.id and r["logger"] == logger]

    for job, other in ((a, b), (b, a)):
        assert [r["status"] for r in lines(job, "bot.core.lifecycle")] == [
            "submitted", "processing", "completed", "delivered"]
        calls = [r["message"] for r in lines(job, "bot.providers.http")]
        assert calls.count(f"{GENERATE} 201") == 1  # each job's own submit, under its own name
        assert any(m.startswith(f"{STATUS}{job.provider_job_id} ") for m in calls)
        assert not any(str(other.provider_job_id) in m for m in calls)

    assert f"{GENERATE} 429" in [r["message"] for r in lines(a, "bot.providers.http")]
    assert [r["message"] for r in lines(a, "bot.core.dispatcher")] == [
        "submit refused (rate_limited: slow down), retrying in 0.1 s"]
    failures = [r for r in lines(a, "bot.core.tracker") if r["message"] == "status check failed unexpectedly"]
    assert failures
    for failure in failures:
        assert failure["exception"].startswith("Traceback (most recent call last)")
        assert "the disk is failing under [redacted]" in failure["exception"]
    [refused_post] = [r["message"] for r in lines(b, "bot.core.delivery")]  # then sent by direct message
    assert refused_post.startswith("posting the result failed (403")
    assert any("could not update the status message (403" in r["message"]
               for r in lines(b, "bot.discord_adapter.publisher"))


async def test_plain_lines_name_the_job_on_the_same_line(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, log_level="DEBUG")
    setup_logging(harness.settings())
    await harness.start()
    try:
        job = await harness.job_for(await harness.video("a kite over the dunes"))
        job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
        runblob.set_state(str(job.provider_job_id), "completed")
        await harness.wait_status(job.id, JobStatus.DELIVERED)
    finally:
        await harness.stop()

    out = capsys.readouterr().out.splitlines()
    fields = f" job={job.id} guild={GUILD} user={ALICE} provider=runblob"
    for expected in ("bot.core.lifecycle: now submitted", "bot.core.lifecycle: now delivered",
                     f"bot.providers.http: GET /v1/kling/o3-video/generations/{job.provider_job_id} answered HTTP 200"):
        assert any(line.endswith(expected + fields) for line in out), expected
    assert len(harness.results_in(CHANNEL)) == 1


async def test_a_job_resumed_after_a_restart_is_named_on_its_time_out_lines(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, log_json=True, job_timeout_seconds=1)
    harness.poll_schedule = lambda checks, **_: 30.0  # only the deadline comes due
    setup_logging(harness.settings())
    await harness.start()
    out = ""
    try:
        job = await harness.job_for(await harness.video("a clock melting slowly"))
        await harness.wait_status(job.id, JobStatus.SUBMITTED)
        app = await harness.restart()  # recovery resumes tracking it, with its deadline a second away
        app.tracker.error_retry_seconds = 0.1
        await harness.sql(refuse_update(job.id, "failed", "the disk is failing"))
        deadline = time.monotonic() + 5
        while "could not record the job's time-out" not in out and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            out += capsys.readouterr().out
        await harness.sql("DROP TRIGGER refuse_failed")
        await harness.wait_status(job.id, JobStatus.FAILED)
    finally:
        await harness.stop()

    records = json_lines(out + capsys.readouterr().out)
    mine = [r for r in records if r.get("job_id") == job.id]
    assert all((r["guild_id"], r["user_id"], r["provider"]) == (str(GUILD), str(ALICE), "runblob") for r in mine)
    refused = [r for r in mine if r["message"].startswith("could not record the job's time-out")]
    assert refused and all("the disk is failing" in r["exception"] for r in refused)
    assert [r["message"] for r in mine if r.get("status") == "failed"] == [
        "now failed: timed out; 5 credits refunded"]
    assert not [r for r in records if r["logger"] == "bot.core.tracker" and "job_id" not in r]


async def test_a_status_message_discord_refuses_is_logged_with_its_job(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, log_json=True)
    setup_logging(harness.settings())
    await harness.start()
    try:
        discord_fake.fail_next("POST", r"^/interactions/\d+/[^/]+/callback$", 400, code=50035,
                               message="Invalid Form Body")
        await harness.video("a red fox")
        [job] = await wait_for_jobs(harness)
        await harness.wait_status(job.id, JobStatus.FAILED)
    finally:
        await harness.stop()

    records = json_lines(capsys.readouterr().out)
    [refused] = [r for r in records if r["logger"] == "bot.core.engine"]
    assert refused["message"] == "the status message could not be shown; the job is not started"
    assert (refused["job_id"], refused["guild_id"], refused["user_id"], refused["provider"]) == (
        job.id, str(GUILD), str(ALICE), "runblob")
    assert "Invalid Form Body" in refused["exception"]


async def wait_for_jobs(harness: BotHarness, timeout: float = 5) -> list[Job]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = await harness.running.store.recent_for_user(GUILD, ALICE, 10)
        if jobs:
            return jobs
        await asyncio.sleep(0.02)
    raise TimeoutError("no job was recorded")
