"""Secrets never reach the log: not in messages, not in tracebacks, not the values generated at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.core.log_context import JobFields, bind_job, unbound_context
from bot.logs import secret_mask, setup_logging, utc_timestamp
from tests.e2e.raw_http import RawConnection
from tests.fakes.discord import FakeDiscord
from tests.harness import BotHarness

TOKEN = "discord-token-that-must-not-leak"
KEY = "runblob-key-that-must-not-leak"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@contextlib.asynccontextmanager
async def logging_bot(discord_fake: FakeDiscord, tmp_path: Path, **settings: object) -> AsyncIterator[BotHarness]:
    """The real bot, logging to stdout the way `python -m bot` sets it up."""
    harness = BotHarness(discord_fake, tmp_path, **settings)
    setup_logging(harness.settings())
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


def configured(**settings: object) -> None:
    setup_logging(load_settings(discord_token=TOKEN, kling_provider="runblob", runblob_api_key=KEY, **settings))


def provider_answer_failure() -> None:
    try:
        raise ValueError(f"the provider said: invalid key {KEY}")
    except ValueError:
        logging.getLogger("bot.test").exception("submit crashed for token %s", TOKEN)


@pytest.mark.usefixtures("restore_logging")
def test_a_secret_inside_a_traceback_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configured()
    provider_answer_failure()
    out = capsys.readouterr().out
    assert "Traceback" in out and "ValueError: the provider said: invalid key [redacted]" in out
    assert KEY not in out and TOKEN not in out


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_mask_secrets_in_the_exception_field(capsys: pytest.CaptureFixture[str]) -> None:
    configured(log_json=True)
    provider_answer_failure()
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["message"] == "submit crashed for token [redacted]"
    assert "invalid key [redacted]" in record["exception"]
    assert KEY not in line


@pytest.mark.usefixtures("restore_logging")
async def test_the_generated_callback_secret_is_masked(
    discord_fake: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with logging_bot(discord_fake, tmp_path, callback_secret=None) as harness:
        [(generated,)] = await harness.sql("SELECT value FROM kv WHERE key = 'callback_secret'")
        logging.getLogger("bot.test").warning("a stray line quoting %s", generated)
    out = capsys.readouterr().out
    assert "a stray line quoting [redacted]" in out
    assert generated not in out


def test_short_values_are_not_treated_as_secrets() -> None:
    secret_mask.add("abc")  # masking three letters would mangle ordinary words
    assert secret_mask.apply("abc abcdef") == "abc abcdef"


@pytest.mark.usefixtures("restore_logging")
async def test_the_sandbox_key_is_masked(
    discord_fake: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with logging_bot(discord_fake, tmp_path) as harness:
        app = harness.running
        logging.getLogger("bot.test").warning("the sandbox said Bearer %s", app.sandbox_key)
    out = capsys.readouterr().out
    assert "the sandbox said Bearer [redacted]" in out and app.sandbox_key not in out


@pytest.mark.usefixtures("restore_logging")
async def test_junk_on_the_public_port_is_one_line_without_a_traceback(
    discord_fake: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with logging_bot(discord_fake, tmp_path) as harness:
        connection = await RawConnection.open(harness.running.listener_url)
        # Raw UTF-8 in the request line: aiohttp's parser refuses it and logs the refusal at ERROR.
        await connection.send(b"POST /callbacks/sandbox/\xc3\xa9 HTTP/1.1\r\nHost: bot\r\n\r\n")
        answer = await connection.answer()
        assert answer.status == 400
        await connection.close()
        await asyncio.sleep(0.1)
    out = capsys.readouterr().out
    assert "refused a malformed HTTP request" in out
    assert "Traceback" not in out


# -- following a job: the bound job on every line, and JSON that stays one object a line -------------------

JOB = JobFields("0a1b2c3d4e5f6a7b", guild_id=810000000000000001, user_id=810000000000000010, provider="runblob")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.mark.usefixtures("restore_logging")
def test_a_json_line_has_utc_time_the_bound_job_and_the_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configured(log_json=True)
    with bind_job(JOB):
        logging.getLogger("bot.test").info("now %s", "submitted", extra={"status": "submitted", "attempt": 2})
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert ISO_UTC.fullmatch(record.pop("time"))
    assert record == {"level": "INFO", "logger": "bot.test", "message": "now submitted", "job_id": JOB.job_id,
                      "guild_id": "810000000000000001", "user_id": "810000000000000010", "provider": "runblob",
                      "status": "submitted", "attempt": 2}


def test_the_time_is_iso_8601_in_utc_to_the_millisecond() -> None:
    assert utc_timestamp(1796142827.855) == "2026-12-01T16:33:47.855Z"


@pytest.mark.usefixtures("restore_logging")
def test_a_traceback_stays_inside_its_json_line_with_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    configured(log_json=True)
    with bind_job(JOB):
        provider_answer_failure()
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["job_id"] == JOB.job_id and record["exception"].startswith("Traceback (most recent call last)")
    assert record["exception"].endswith("ValueError: the provider said: invalid key [redacted]")


@pytest.mark.usefixtures("restore_logging")
def test_secrets_are_masked_in_extra_fields_and_where_json_escapes_them(capsys: pytest.CaptureFixture[str]) -> None:
    quoted = 'a "quoted" secret \\ with a backslash'
    secret_mask.add(quoted)
    configured(log_json=True)
    with bind_job(JOB):
        logging.getLogger("bot.test").warning("answer: %s", quoted, extra={"body": f"token={TOKEN}"})
    out = capsys.readouterr().out
    record = json.loads(out)
    assert record["message"] == "answer: [redacted]" and record["body"] == "token=[redacted]"
    assert TOKEN not in out and json.dumps(quoted)[1:-1] not in out


@pytest.mark.usefixtures("restore_logging")
def test_plain_lines_end_with_the_job_and_keep_the_traceback_below(capsys: pytest.CaptureFixture[str]) -> None:
    configured()
    with bind_job(JOB):
        provider_answer_failure()
    logging.getLogger("bot.test").info("no job here")
    first, *rest = capsys.readouterr().out.splitlines()
    assert first.endswith(f"bot.test: submit crashed for token [redacted] job={JOB.job_id} "
                          f"guild={JOB.guild_id} user={JOB.user_id} provider=runblob")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1].endswith("bot.test: no job here")


@pytest.mark.usefixtures("restore_logging")
def test_a_field_the_call_passes_itself_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configured(log_json=True)
    with bind_job(JOB):
        logging.getLogger("bot.test").info("about another job", extra={"job_id": "ffffffffffffffff"})
    record = json.loads(capsys.readouterr().out)
    assert record["job_id"] == "ffffffffffffffff" and record["user_id"] == str(JOB.user_id)


@pytest.mark.usefixtures("restore_logging")
async def test_tasks_inherit_their_job_and_a_loop_leaks_none_into_the_next(
    capsys: pytest.CaptureFixture[str]
) -> None:
    configured(log_json=True)
    log = logging.getLogger("bot.test")
    jobs = [JobFields(f"{n:016x}", 1, n, "runblob") for n in (1, 2)]

    async def deep_inside() -> None:
        await asyncio.sleep(0)
        log.info("from a task started while the job was bound")

    async def many_jobs() -> None:
        log.info("started unbound")

    tasks = []
    for job in jobs:  # one job's turn at a time, as the poll loop times jobs out
        with bind_job(job):
            tasks.append(asyncio.create_task(deep_inside()))
            tasks.append(asyncio.create_task(many_jobs(), context=unbound_context()))
    log.info("after the loop")
    await asyncio.gather(*tasks)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("job_id") for r in records if r["message"].startswith("from a task")] == [
        jobs[0].job_id, jobs[1].job_id]
    assert [r.get("user_id") for r in records if r["message"].startswith("from a task")] == ["1", "2"]
    assert all("job_id" not in r for r in records if r["message"] in ("after the loop", "started unbound"))


@pytest.mark.usefixtures("restore_logging")
async def test_aiohttp_lines_are_json_lines_too(
    discord_fake: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = BotHarness(discord_fake, tmp_path, log_json=True)
    setup_logging(harness.settings())
    app = await harness.start()
    try:
        connection = await RawConnection.open(app.listener_url)
        await connection.send(b"POST /callbacks/sandbox/\xc3\xa9 HTTP/1.1\r\nHost: bot\r\n\r\n")
        assert (await connection.answer()).status == 400
        await connection.close()
        await asyncio.sleep(0.1)
    finally:
        await harness.stop()
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [refusal] = [r for r in records if r["logger"] == "aiohttp.server"]
    assert refusal["message"].startswith("refused a malformed HTTP request") and "exception" not in refusal
    assert any(r["logger"].startswith("discord.") for r in records)
