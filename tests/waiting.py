"""Waiting in a test for something the bot does in the background: always bounded in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(check: Callable[[], bool], what: str = "the condition", timeout: float = 10) -> None:
    """Return once `check()` holds; fail the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never happened within {timeout} s: {what}")
        await asyncio.sleep(0.01)


async def until_true(check: Callable[[], Awaitable[bool]], what: str = "the condition", timeout: float = 10) -> None:
    """`until` for a check that must await (a database read): return once it holds, fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never happened within {timeout} s: {what}")
        await asyncio.sleep(0.05)
