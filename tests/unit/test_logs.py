"""Secrets never reach the log: not in messages, not in tracebacks, not the values generated at start-up."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.logs import secret_mask, setup_logging
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
    harness = BotHarness(discord_fake, tmp_path, callback_secret=None)
    setup_logging(harness.settings())
    await harness.start()
    try:
        [(generated,)] = await harness.sql("SELECT value FROM kv WHERE key = 'callback_secret'")
        logging.getLogger("bot.test").warning("a stray line quoting %s", generated)
    finally:
        await harness.stop()
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
    harness = BotHarness(discord_fake, tmp_path)
    setup_logging(harness.settings())
    app = await harness.start()
    try:
        logging.getLogger("bot.test").warning("the sandbox said Bearer %s", app.sandbox_key)
    finally:
        await harness.stop()
    out = capsys.readouterr().out
    assert "the sandbox said Bearer [redacted]" in out and app.sandbox_key not in out


@pytest.mark.usefixtures("restore_logging")
async def test_junk_on_the_public_port_is_one_line_without_a_traceback(
    discord_fake: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = BotHarness(discord_fake, tmp_path)
    setup_logging(harness.settings())
    app = await harness.start()
    try:
        connection = await RawConnection.open(app.listener_url)
        # Raw UTF-8 in the request line: aiohttp's parser refuses it and logs the refusal at ERROR.
        await connection.send(b"POST /callbacks/sandbox/\xc3\xa9 HTTP/1.1\r\nHost: bot\r\n\r\n")
        answer = await connection.answer()
        assert answer.status == 400
        await connection.close()
        await asyncio.sleep(0.1)
    finally:
        await harness.stop()
    out = capsys.readouterr().out
    assert "refused a malformed HTTP request" in out
    assert "Traceback" not in out
