"""EVENT_LOOP: validated like every setting, and the loop it names is the loop the code then runs on."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import uvloop

from bot.config import ConfigError, load_settings
from bot.event_loop import default_event_loop, run_on
from tests.loop_choice import chosen_test_loop
from tests.unit.test_config import ROOT, run_bot


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_uvloop_runs_on_uvloop() -> None:
    assert isinstance(run_on("uvloop", running_loop()), uvloop.Loop)


def test_asyncio_runs_on_asyncios_own_loop() -> None:
    loop = run_on("asyncio", running_loop())
    assert not isinstance(loop, uvloop.Loop)
    assert isinstance(loop, asyncio.BaseEventLoop)


def test_an_unknown_loop_name_is_refused_before_anything_runs() -> None:
    coroutine = running_loop()
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        run_on("trio", coroutine)
    coroutine.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the default is uvloop on Linux only")
def test_the_default_on_linux_is_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENT_LOOP", raising=False)
    assert default_event_loop() == "uvloop"
    assert load_settings(discord_token="x").event_loop == "uvloop"


@pytest.mark.parametrize(("given", "read"), [("asyncio", "asyncio"), (" UVLOOP ", "uvloop")])
def test_event_loop_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, given: str, read: str) -> None:
    monkeypatch.setenv("EVENT_LOOP", given)
    assert load_settings(discord_token="x").event_loop == read


def test_an_unknown_event_loop_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_LOOP", "trio")
    with pytest.raises(ConfigError, match="EVENT_LOOP"):
        load_settings(discord_token="x")


def test_the_bot_refuses_an_unknown_event_loop_with_exit_2(tmp_path: Path) -> None:
    result = run_bot({"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x", "EVENT_LOOP": "trio"}, tmp_path)
    assert result.returncode == 2
    assert "EVENT_LOOP" in result.stderr and "Traceback" not in result.stderr


async def test_the_suite_runs_on_the_loop_it_was_asked_for() -> None:
    """TEST_EVENT_LOOP (tests/loop_choice.py) reaches pytest-asyncio through tests/conftest.py."""
    on_uvloop = isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert on_uvloop == (chosen_test_loop() == "uvloop")
