"""WAL checkpoints run off the bot's database thread: the bot's own connection never checkpoints, the
checkpointer keeps the WAL small, and if it keeps failing SQLite's automatic checkpoints come back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.database import Database


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
        checkpointer._connection.close()  # every checkpoint now fails with a real sqlite3 error
        for _ in range(200):
            if await database.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000:
                break
            await asyncio.sleep(0.02)
        assert await database.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000
    finally:
        await database.close()
