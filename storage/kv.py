"""A tiny key-value table for values the bot generates once and keeps (the callback secret), and for short
notes that must outlive a restart (`Notes` in bot/core/ports/alerts.py: a loop's death, told at the next start,
and the operator alerts still open)."""

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

    async def get(self, key: str) -> str | None:
        def work(connection: sqlite3.Connection) -> str | None:
            row = connection.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row["value"])

        return await self._db.run(work)

    async def set(self, key: str, value: str) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

        await self._db.run(work)

    async def delete(self, key: str) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM kv WHERE key = ?", (key,))

        await self._db.run(work)

    async def take(self, key: str) -> str | None:
        """The value under `key`, removed in the same transaction (None when there is none)."""

        def work(connection: sqlite3.Connection) -> str | None:
            row = connection.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            connection.execute("DELETE FROM kv WHERE key = ?", (key,))
            return str(row["value"])

        return await self._db.run(work)
