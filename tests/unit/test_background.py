"""A background loop that ends is recorded as dead (health and exit status follow from it); a
deliberate stop is not a death."""

from __future__ import annotations

import asyncio
import contextlib

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


async def stopped_within(tasks: BackgroundTasks, *, patience: float, seconds: float) -> bool:
    """Whether `tasks.stop` returned within `seconds`; a stop still running is left to end once its loops are
    released (cancelling it would wait for them too)."""
    stopping = asyncio.create_task(tasks.stop(patience=patience))
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    return stopping in done and stopping.exception() is None


async def loses_its_first_cancel(released: asyncio.Event) -> None:
    """A loop whose cancel was lost (as `asyncio.wait_for` on Python 3.11 may lose one when the awaited call
    finishes at the same moment), and that goes back to waiting."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await released.wait()


async def test_a_loop_that_loses_its_cancel_is_cancelled_again_and_named(caplog: pytest.LogCaptureFixture) -> None:
    released = asyncio.Event()  # ends the loop whatever happens, so that no test after this one waits for it
    tasks = BackgroundTasks()
    straggler = tasks.start("job-retention", loses_its_first_cancel(released))
    tasks.start("dispatcher", forever())
    await asyncio.sleep(0)
    try:
        assert await stopped_within(tasks, patience=0.4, seconds=5)  # without the second cancel: never
        assert straggler.cancelled()
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1
        assert ("background task job-retention did not end within 0.2 s of being cancelled; cancelling it again"
                in warnings[0])
        assert "in loses_its_first_cancel\n" in warnings[0]  # where it waits,
        assert ", in wait\n  awaiting " in warnings[0]  # down to what that awaits (the event's wait)
        assert tasks.dead == {}
    finally:
        released.set()


async def test_a_loop_that_will_not_end_is_left_behind_and_the_stop_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def refuses_to_end() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    tasks = BackgroundTasks()
    straggler = tasks.start("poll-loop", refuses_to_end())
    await asyncio.sleep(0)
    try:
        assert await stopped_within(tasks, patience=0.4, seconds=5)
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert [w.split(". It waits in")[0] for w in warnings] == [
            "stopping: background task poll-loop did not end within 0.2 s of being cancelled; cancelling it again",
            "stopping: background task poll-loop did not end within 0.2 s of being cancelled; the stop goes on "
            "without it",
        ]
        assert "in refuses_to_end" in warnings[1]
        assert not straggler.done()
    finally:
        release.set()
        await asyncio.wait_for(straggler, timeout=5)
