"""When a test runs long, print what every task of its event loop is waiting on.

pytest-timeout (its thread method, pyproject.toml) prints every thread's stack when a test times out, and ends
the run. A test stuck in asyncio shows there only as its loop waiting in select, with nothing to say which await
never finished. A little before that timeout, this prints each task of the test's loop with the chain of awaits
it sits in, so the stuck one can be read from the run's output. Loops are the ones `tracked` made: conftest.py
wraps pytest-asyncio's loop factories with it.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import weakref
from collections.abc import Callable, Generator
from typing import Any

import pytest

from bot.core.background import awaits_of

LEAD = 10.0  # seconds before pytest-timeout's own timeout
ANSWER_WAIT = 5.0  # how long a loop may take to run the dump before it is said to be blocked

_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def tracked(factory: Callable[[], asyncio.AbstractEventLoop]) -> Callable[[], asyncio.AbstractEventLoop]:
    def make() -> asyncio.AbstractEventLoop:
        loop = factory()
        _loops.add(loop)
        return loop

    return make


def describe_tasks(loop: asyncio.AbstractEventLoop) -> str:
    """Every unfinished task of `loop` and the awaits it sits in; call it on the loop's own thread."""
    out = io.StringIO()
    current = asyncio.current_task(loop) if loop.is_running() else None  # the caller's own, if any: not stuck
    tasks = [task for task in asyncio.all_tasks(loop) if task is not current]  # all_tasks: the unfinished ones
    out.write(f"{len(tasks)} unfinished tasks\n")
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"\n--- {task.get_name()}: {task.get_coro()!r}\n{awaits_of(task)}\n")
    return out.getvalue()


def _timeout_of(item: pytest.Item) -> float | None:
    marker = item.get_closest_marker("timeout")
    value: Any = marker.args[0] if marker is not None and marker.args else None
    if value is None:
        value = item.config.getoption("timeout", None) or item.config.getini("timeout")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def _report(item: pytest.Item) -> None:
    parts = [f"\n{'=' * 30} {item.nodeid} is still running: its event loops' tasks {'=' * 30}\n"]
    for loop in list(_loops):
        if loop.is_closed() or not loop.is_running():
            continue
        answered = threading.Event()
        found: list[str] = []

        def dump(loop: asyncio.AbstractEventLoop = loop, found: list[str] = found,
                 answered: threading.Event = answered) -> None:
            found.append(describe_tasks(loop))
            answered.set()

        loop.call_soon_threadsafe(dump)
        parts.append(found[0] if answered.wait(ANSWER_WAIT) else
                     f"the loop did not run a callback within {ANSWER_WAIT:.0f} s: it is blocked, not waiting "
                     "(the threads' stacks follow at the timeout)\n")
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)  # as pytest-timeout does, so that the dump reaches the terminal
    try:
        sys.stderr.write("".join(parts))
        sys.stderr.flush()
    finally:
        if capture is not None:
            capture.resume_global_capture()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    timeout = _timeout_of(item)
    timer = None
    if timeout is not None and timeout > LEAD:
        timer = threading.Timer(timeout - LEAD, _report, args=(item,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
