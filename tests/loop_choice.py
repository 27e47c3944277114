"""Which event loop the tests run on: TEST_EVENT_LOOP=uvloop or asyncio (the default). Both the
pytest-asyncio loop (tests/conftest.py) and the bots started in child processes (tests/bot_process.py)
follow it, so that `.ci/run` can run the whole suite on each loop. (Not KLING_...: tests/e2e/test_kill.py
keeps KLING_* variables of the runner away from its child bot.)"""

from __future__ import annotations

import os

from bot.event_loop import EVENT_LOOPS

VARIABLE = "TEST_EVENT_LOOP"


def chosen_test_loop() -> str:
    name = os.environ.get(VARIABLE, "").strip().lower() or "asyncio"
    if name not in EVENT_LOOPS:
        raise RuntimeError(f"{VARIABLE}={name!r}: use one of {', '.join(EVENT_LOOPS)}")
    return name
