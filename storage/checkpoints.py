"""WAL checkpoints off the bot's database thread.

SQLite's automatic checkpoint runs inside whichever commit crosses the WAL's size threshold, on the one
thread that does all of the bot's database work. On a large database a burst of commands dirties pages
all over the indexes, and nearly every batch commit then pays for copying the WAL back into the database
(with an fsync): measured with `python -m bench history`, about 20 ms per batch of 100 `/video` at a
million jobs against 0.5 ms on an empty database. So the bot's connection has automatic checkpoints off
and this checkpointer runs a PASSIVE checkpoint (it never waits for, or blocks, the writer) every second
from a connection of its own, off the bot's database thread. If checkpoints keep failing, the automatic ones are
turned back on, so the WAL can never grow without bound.

The checkpointer's connection is never used by two threads at once (`_lock`): a stop that cancels a
checkpoint under way does not stop the thread running it, and checkpointing on the connection or closing it
from another thread meanwhile crashed the process (a segmentation fault in `sqlite3`, seen once in a full
test run). So the last checkpoint and the close wait for the one under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)

EVERY_SECONDS = 1.0
FAILURES_BEFORE_FALLBACK = 10


class Checkpointer:
    def __init__(self, path: Path, fall_back: Callable[[], Awaitable[None]], *, every: float = EVERY_SECONDS) -> None:
        self.path = path
        self.fall_back = fall_back  # turns the connection's automatic checkpoints back on
        self.every = every
        self.checkpoints = 0
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # held while a thread uses the connection
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA busy_timeout=0")  # PASSIVE never waits; neither should the connection
        self._task = asyncio.create_task(self._run(), name="wal-checkpoints")

    async def _run(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.every)
            try:
                await asyncio.to_thread(self._checkpoint)
                failures = 0
            except sqlite3.Error as exc:
                failures += 1
                log.warning("WAL checkpoint failed (%s), %d in a row", exc, failures)
                if failures >= FAILURES_BEFORE_FALLBACK:
                    log.error("WAL checkpoints keep failing; SQLite's automatic checkpoints are back on")
                    await self.fall_back()
                    return

    def _checkpoint(self) -> None:
        with self._lock:
            if self._connection is None:
                return  # closed meanwhile
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1

    def _last_checkpoint_and_close(self) -> None:
        """A last checkpoint, so a clean stop leaves a small WAL behind; then the connection is closed. Waits
        for a checkpoint under way (the lock)."""
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is None:
                return
            try:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                connection.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._last_checkpoint_and_close)
