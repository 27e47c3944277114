"""The event loop the bot runs on (EVENT_LOOP): uvloop where it is installed, else asyncio's own.

uvloop is a drop-in asyncio loop built on libuv; the bot, its HTTP listener and discord.py all run on
whichever loop is chosen here, so nothing else in the code depends on the choice."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar, get_args

EventLoopName = Literal["uvloop", "asyncio"]
EVENT_LOOPS: tuple[str, ...] = get_args(EventLoopName)
T = TypeVar("T")


def uvloop_installed() -> bool:
    """uvloop can be imported here (it is never built for Windows)."""
    return sys.platform != "win32" and importlib.util.find_spec("uvloop") is not None


def default_event_loop() -> EventLoopName:
    """uvloop on Linux when it is installed; asyncio's own loop anywhere else."""
    return "uvloop" if sys.platform.startswith("linux") and uvloop_installed() else "asyncio"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What asyncio.Runner needs to make the named loop (None: asyncio's default)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return None
    raise ValueError(f"unknown event loop {name!r}: use one of {', '.join(EVENT_LOOPS)}")


def run_on(name: str, main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the named loop."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
