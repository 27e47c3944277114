"""WAL checkpoints run off the bot's database thread: the bot's own connection never checkpoints, the
checkpointer keeps the WAL small, and if it keeps failing SQLite's automatic checkpoints come back."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from pathlib import Path

from storage.checkpoints import Checkpointer
from storage.database import Database
from tests.waiting import until


async def test_the_bots_connection_does_not_checkpoint_and_the_checkpointer_does(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert await database.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
        checkpointer = database._checkpointer
        assert checkpointer is not None
        checkpointer.every = 0.05
        await database.run(lambda c: c.execute("CREATE TABLE filler (x BLOB)"))
        for _ in range(50):  # well past the 1,000 pages after which SQLite would checkpoint by itself
            await database.run(lambda c: c.executemany("INSERT INTO filler VALUES (randomblob(4000))",
                                                       [()] * 50))
        for _ in range(100):
            if checkpointer.checkpoints:
                break
            await asyncio.sleep(0.05)
        assert checkpointer.checkpoints > 0
    finally:
        await database.close()
    # A clean close leaves the WAL checkpointed: reopening finds nothing left to copy back.
    reopened = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert await reopened.run(lambda c: c.execute("SELECT COUNT(*) FROM filler").fetchone()[0]) == 2500
    finally:
        await reopened.close()


async def test_failing_checkpoints_turn_the_automatic_ones_back_on(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        checkpointer = database._checkpointer
        assert checkpointer is not None and checkpointer._connection is not None
        checkpointer.every = 0.01
        with checkpointer._lock:  # nothing else uses the connection meanwhile
            checkpointer._connection.close()  # every checkpoint now fails with a real sqlite3 error
        for _ in range(200):
            if await database.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000:
                break
            await asyncio.sleep(0.02)
        assert await database.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000
    finally:
        await database.close()


class RecordingConnection:
    """The checkpointer's connection, recording each use (what, which thread, from when to when); the first
    checkpoint takes `slow` seconds, as one on a large database may."""

    def __init__(self, connection: sqlite3.Connection, slow: float) -> None:
        self.connection = connection
        self.slow = slow
        self.uses: list[tuple[str, int, float, float]] = []
        self.checkpointing = threading.Event()  # a checkpoint has begun

    def execute(self, sql: str) -> sqlite3.Cursor:
        self.checkpointing.set()
        started = time.monotonic()
        try:
            if self.slow and not self.uses:
                time.sleep(self.slow)
            return self.connection.execute(sql)
        finally:
            self.uses.append(("execute", threading.get_ident(), started, time.monotonic()))

    def close(self) -> None:
        started = time.monotonic()
        self.connection.close()
        self.uses.append(("close", threading.get_ident(), started, time.monotonic()))


async def test_a_stop_during_a_checkpoint_waits_for_it_before_touching_the_connection(tmp_path: Path) -> None:
    """Closing the connection (or checkpointing on it) beside a checkpoint still running on its thread crashed
    the process once; the stop now waits for it, and the connection is used by one thread at a time."""
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x)")

    async def fall_back() -> None: ...

    checkpointer = Checkpointer(path, fall_back, every=0.01)
    checkpointer.start()
    assert checkpointer._connection is not None
    recording = RecordingConnection(checkpointer._connection, slow=0.3)
    checkpointer._connection = recording  # type: ignore[assignment]
    await until(recording.checkpointing.is_set, "a checkpoint under way", timeout=5)
    await checkpointer.close()  # while the slow first checkpoint runs on the checkpointer's thread

    kinds = [use[0] for use in recording.uses]
    assert kinds[-1] == "close" and kinds.count("close") == 1
    for earlier, later in itertools.pairwise(recording.uses):
        assert earlier[3] <= later[2], recording.uses  # one after the other, never side by side
    await checkpointer.close()  # a second close does nothing
    assert [use[0] for use in recording.uses] == kinds
