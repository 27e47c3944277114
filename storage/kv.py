"""A tiny key-value table for values the bot generates once and keeps (the callback secret)."""

from __future__ import annotations

import sqlite3

from storage.database import Database


class KeyValueStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get_or_create(self, key: str, make: str) -> str:
        """The stored value for `key`, storing `make` first when there is none."""

        def work(connection: sqlite3.Connection) -> str:
            connection.execute("INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", (key, make))
            return str(connection.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()["value"])

        return await self._db.run(work)
