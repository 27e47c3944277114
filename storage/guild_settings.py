"""Per-server settings: pool limit, default quota, moderator role, prompt blocklist, video channels."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiosqlite

from storage.database import Database


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """What a server's moderators chose. None: the operator's default from the environment."""

    guild_id: int
    pool_limit: int | None = None
    default_quota: int | None = None
    mod_role_id: int | None = None
    blocked_words: tuple[str, ...] = ()
    video_channels: tuple[int, ...] = ()  # empty: /video works in every channel


_SETTINGS = """
SELECT s.pool_limit, s.default_quota, s.mod_role_id,
       (SELECT json_group_array(word) FROM (SELECT word FROM guild_blocked_words WHERE guild_id = :guild
                                            ORDER BY word)) AS words,
       (SELECT json_group_array(channel_id) FROM (SELECT channel_id FROM guild_video_channels WHERE guild_id = :guild
                                                  ORDER BY channel_id)) AS channels
FROM (SELECT :guild AS guild_id) AS g LEFT JOIN guild_settings AS s ON s.guild_id = g.guild_id
"""


class GuildSettingsStore:
    """Reads take an optional connection, so a caller's transaction sees a consistent picture; the
    pool and default setters take one, because they are written together with a ledger row."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, guild_id: int, connection: aiosqlite.Connection | None = None) -> GuildSettings:
        """One statement, since it runs for every /video."""
        if connection is None:
            async with self._db.reading() as own:
                rows = await own.execute_fetchall(_SETTINGS, {"guild": guild_id})
        else:
            rows = await connection.execute_fetchall(_SETTINGS, {"guild": guild_id})
        row = next(iter(rows))
        return GuildSettings(
            guild_id=guild_id, pool_limit=row["pool_limit"], default_quota=row["default_quota"],
            mod_role_id=row["mod_role_id"], blocked_words=tuple(json.loads(row["words"])),
            video_channels=tuple(int(c) for c in json.loads(row["channels"])),
        )

    async def set_pool_limit(self, connection: aiosqlite.Connection, guild_id: int, limit: int) -> None:
        await self._set(connection, guild_id, "pool_limit", limit)

    async def set_default_quota(self, connection: aiosqlite.Connection, guild_id: int, limit: int) -> None:
        await self._set(connection, guild_id, "default_quota", limit)

    async def set_mod_role(self, guild_id: int, role_id: int | None) -> None:
        async with self._db.transaction() as connection:
            await self._set(connection, guild_id, "mod_role_id", role_id)

    @staticmethod
    async def _set(connection: aiosqlite.Connection, guild_id: int, column: str, value: int | None) -> None:
        assert column in ("pool_limit", "default_quota", "mod_role_id")
        await connection.execute(
            f"INSERT INTO guild_settings (guild_id, {column}) VALUES (?, ?) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column}",
            (guild_id, value),
        )

    async def add_blocked_word(self, guild_id: int, word: str) -> bool:
        """False when the word was already on the list."""
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "INSERT OR IGNORE INTO guild_blocked_words (guild_id, word) VALUES (?, ?)", (guild_id, word)
            )
            return cursor.rowcount > 0

    async def remove_blocked_word(self, guild_id: int, word: str) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "DELETE FROM guild_blocked_words WHERE guild_id = ? AND word = ?", (guild_id, word)
            )
            return cursor.rowcount > 0

    async def add_video_channel(self, guild_id: int, channel_id: int) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "INSERT OR IGNORE INTO guild_video_channels (guild_id, channel_id) VALUES (?, ?)",
                (guild_id, channel_id),
            )
            return cursor.rowcount > 0

    async def remove_video_channel(self, guild_id: int, channel_id: int) -> bool:
        async with self._db.transaction() as connection:
            cursor = await connection.execute(
                "DELETE FROM guild_video_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
            )
            return cursor.rowcount > 0
