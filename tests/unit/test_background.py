"""A background loop that ends is recorded as dead (health and exit status follow from it); a
deliberate stop is not a death."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.background import BackgroundTasks


async def forever() -> None:
    await asyncio.Event().wait()


async def crashes() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("a bug")


async def test_a_loop_that_raises_is_reported_with_its_name_and_error() -> None:
    tasks = BackgroundTasks()
    tasks.start("dispatcher", forever())
    tasks.start("poll-loop", crashes())
    why = await asyncio.wait_for(tasks.wait_for_death(), timeout=5)
    assert why == "poll-loop (RuntimeError: a bug)"
    assert tasks.dead == {"poll-loop": "RuntimeError: a bug"}
    await tasks.stop()
    assert tasks.dead == {"poll-loop": "RuntimeError: a bug"}  # the stop adds nothing


async def test_a_loop_that_returns_is_dead_too() -> None:
    tasks = BackgroundTasks()

    async def returns() -> None:
        return None

    tasks.start("dispatcher", returns())
    assert await asyncio.wait_for(tasks.wait_for_death(), timeout=5) == "dispatcher (returned)"
    await tasks.stop()


async def test_stopping_on_purpose_is_not_a_death() -> None:
    tasks = BackgroundTasks()
    tasks.start("dispatcher", forever())
    tasks.start("poll-loop", forever())
    await tasks.stop()
    assert tasks.dead == {}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(tasks.wait_for_death(), timeout=0.05)
