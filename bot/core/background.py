"""The bot's long-running loops (dispatcher, poll loop), watched.

Each loop catches and logs the errors of single jobs itself and carries on. A loop that still ends,
with an exception or by returning, is a bug the process cannot recover from by itself: it is
recorded, `/healthz` reports which loop died, and the application stops with a non-zero status so
that whatever supervises the process (Docker's restart policy, systemd) starts it again. Every job
is in the database, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

STOP_PATIENCE_SECONDS = 10.0


class BackgroundTaskDied(Exception):
    """A loop that should run for as long as the bot does has ended."""


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._dead: dict[str, str] = {}  # name -> why
        self._died = asyncio.Event()
        self._stopping = False

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._ended(name, done))
        return task

    def _ended(self, name: str, task: asyncio.Task[Any]) -> None:
        if self._stopping:
            return
        if task.cancelled():
            why = "cancelled"
        elif (error := task.exception()) is not None:
            why = f"{error.__class__.__name__}: {error}"
            log.critical("background task %s died; the bot will stop so it can be restarted", name,
                         exc_info=error)
        else:
            why = "returned"
            log.critical("background task %s ended; the bot will stop so it can be restarted", name)
        self._dead[name] = why
        self._died.set()

    @property
    def dead(self) -> dict[str, str]:
        """The loops that ended, and why (empty while all is well)."""
        return dict(self._dead)

    async def wait_for_death(self) -> str:
        """Wait until some loop ends; returns a line saying which and why."""
        await self._died.wait()
        return "; ".join(f"{name} ({why})" for name, why in self._dead.items())

    def stopping(self) -> None:
        """From now on loops end on purpose (a graceful stop), not by dying."""
        self._stopping = True

    async def stop(self, patience: float = STOP_PATIENCE_SECONDS) -> None:
        """Cancel every loop (a deliberate stop, not a death), and wait at most `patience` for them to end.

        A cancel can be lost: on Python 3.11 `asyncio.wait_for` returns the awaited result instead of raising
        when the cancel and the result arrive together (the bot's own code waits with `asyncio.timeout` for that
        reason, tests/unit/test_no_wait_for.py; a library's may not), and a loop that then goes back to sleep
        would keep the stop (and the process) waiting for ever. So a loop still running half-way through is
        cancelled again, and one still running after that is left behind, each with a warning saying where it
        waits.
        """
        self._stopping = True
        pending = {task for task in self._tasks.values() if not task.done()}
        for task in pending:
            task.cancel()
        for then in ("cancelling it again", "the stop goes on without it"):
            if not pending:
                break
            _, pending = await asyncio.wait(pending, timeout=patience / 2)
            for task in pending:
                log.warning("stopping: background task %s did not end within %g s of being cancelled; %s. "
                            "It waits in:\n%s", task.get_name(), patience / 2, then, awaits_of(task))
                task.cancel()
        for task in self._tasks.values():  # what the loops raised is known already (`_ended`), or is the stop's
            if task.done() and not task.cancelled():
                task.exception()


def awaits_of(task: asyncio.Task[Any]) -> str:
    """Where a task waits: its coroutine's frame and each one it awaits in turn, innermost last, down to what the
    innermost awaits. (`Task.print_stack` shows only the task's own coroutine, not what it awaits.)"""
    lines = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            lines.append(f"  awaiting {awaited!r}")
            break
        lines.append(f'  File "{frame.f_code.co_filename}", line {frame.f_lineno}, in {frame.f_code.co_name}')
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return "\n".join(lines)
