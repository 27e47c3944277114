"""tests/stuck_tasks.py: a test that runs long gets its event loop's tasks printed, with the await each sits in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFTEST = """
import asyncio
from tests.stuck_tasks import pytest_runtest_protocol, tracked

def pytest_asyncio_loop_factories(config, item):
    return {"asyncio": tracked(asyncio.new_event_loop)}
"""

TESTS = """
import asyncio
import time

async def a_reply_that_never_comes():
    await asyncio.Event().wait()

async def test_quick():
    await asyncio.sleep(0)

async def test_blocks_its_loop():
    time.sleep(7.5)  # no await: the loop cannot run the dump (asked for at 2 s, given up at 7 s)

async def test_waits_long():
    helper = asyncio.create_task(asyncio.sleep(30), name="a helper task")
    try:
        await asyncio.wait_for(a_reply_that_never_comes(), 4)
    finally:
        helper.cancel()
"""


def test_a_long_running_test_has_its_tasks_printed_before_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_sample.py").write_text(TESTS)
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
         "-o", "asyncio_default_fixture_loop_scope=function",
         "-o", "timeout_method=thread", "--timeout=12", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    output = run.stdout + run.stderr
    assert "test_sample.py::test_waits_long is still running" in output, output
    assert "a_reply_that_never_comes" in output  # the await it sits in, not only the test's own frame
    assert "a helper task" in output  # and the loop's other tasks
    assert "test_quick is still running" not in output  # a test that ends in time prints nothing
    assert "test_sample.py::test_blocks_its_loop is still running" in output
    assert "the loop did not run a callback within 5 s: it is blocked, not waiting" in output
    assert "1 failed, 2 passed" in output  # the tests still ended by themselves, as they would have without the dump
