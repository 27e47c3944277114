"""The key-value table on PostgreSQL, as storage/kv.py on SQLite (the callback secret, notes that outlive a
restart, the record of synced commands)."""

from __future__ import annotations

from storage.postgres.database import Connection, PostgresDatabase


class PostgresKeyValueStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def get_or_create(self, key: str, make: str) -> str:
        """The stored value for `key`, storing `make` first when there is none (two processes starting
        together get the same value: the second insert does nothing and reads the first's)."""

        async def work(connection: Connection) -> str:
            await connection.execute("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, make)
            return str(await connection.fetchval("SELECT value FROM kv WHERE key = $1", key))

        return await self._db.run(work)

    async def get(self, key: str) -> str | None:
        row = await self._db.fetchrow("SELECT value FROM kv WHERE key = $1", key)
        return None if row is None else str(row["value"])

    async def set(self, key: str, value: str) -> None:
        await self._db.execute("INSERT INTO kv (key, value) VALUES ($1, $2) "
                               "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", key, value)

    async def delete(self, key: str) -> None:
        await self._db.execute("DELETE FROM kv WHERE key = $1", key)

    async def take(self, key: str) -> str | None:
        """The value under `key`, removed in the same statement (None when there is none)."""
        row = await self._db.fetchrow("DELETE FROM kv WHERE key = $1 RETURNING value", key)
        return None if row is None else str(row["value"])
