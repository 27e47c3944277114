"""A tiny key-value table for values the bot generates once and keeps (the callback secret)."""

from __future__ import annotations

from storage.database import Database


class KeyValueStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get_or_create(self, key: str, make: str) -> str:
        """The stored value for `key`, storing `make` first when there is none."""
        async with self._db.transaction() as connection:
            await connection.execute("INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", (key, make))
            async with connection.execute("SELECT value FROM kv WHERE key = ?", (key,)) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return str(row["value"])
