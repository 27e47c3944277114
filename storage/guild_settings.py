"""Per-server settings: pool limit, default quota, moderator role, prompt blocklist, video channels, spoiler
channels.
Implements `GuildSettingsRepository` (bot/core/ports/repositories.py)."""

from __future__ import annotations

import json
import sqlite3

from bot.core.ports.repositories import GuildSettings
from storage.database import Database

_SETTINGS = """
SELECT s.pool_limit, s.default_quota, s.mod_role_id,
       (SELECT json_group_array(word) FROM (SELECT word FROM guild_blocked_words WHERE guild_id = :guild
                                            ORDER BY word)) AS words,
       (SELECT json_group_array(channel_id) FROM (SELECT channel_id FROM guild_video_channels WHERE guild_id = :guild
                                                  ORDER BY channel_id)) AS channels,
       (SELECT json_group_array(channel_id) FROM (SELECT channel_id FROM guild_spoiler_channels
                                                  WHERE guild_id = :guild ORDER BY channel_id)) AS spoiler_channels
FROM (SELECT :guild AS guild_id) AS g LEFT JOIN guild_settings AS s ON s.guild_id = g.guild_id
"""


class GuildSettingsStore:
    """The `*_in` functions run inside a caller's piece of database work (the pool and default setters
    are written together with a ledger row); the methods run as work of their own."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._db.run(lambda connection: settings_in(connection, guild_id))

    async def set_mod_role(self, guild_id: int, role_id: int | None) -> None:
        await self._db.run(lambda connection: _set(connection, guild_id, "mod_role_id", role_id))

    async def add_blocked_word(self, guild_id: int, word: str) -> bool:
        """False when the word was already on the list."""
        return await self._changed("INSERT OR IGNORE INTO guild_blocked_words (guild_id, word) VALUES (?, ?)",
                                   (guild_id, word))

    async def remove_blocked_word(self, guild_id: int, word: str) -> bool:
        return await self._changed("DELETE FROM guild_blocked_words WHERE guild_id = ? AND word = ?", (guild_id, word))

    async def add_video_channel(self, guild_id: int, channel_id: int) -> bool:
        return await self._changed(
            "INSERT OR IGNORE INTO guild_video_channels (guild_id, channel_id) VALUES (?, ?)", (guild_id, channel_id)
        )

    async def remove_video_channel(self, guild_id: int, channel_id: int) -> bool:
        return await self._changed(
            "DELETE FROM guild_video_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
        )

    async def set_spoiler_channel(self, guild_id: int, channel_id: int, spoiler: bool) -> bool:
        """False when the channel already was (or was not) a spoiler channel."""
        if spoiler:
            return await self._changed("INSERT OR IGNORE INTO guild_spoiler_channels (guild_id, channel_id) "
                                       "VALUES (?, ?)", (guild_id, channel_id))
        return await self._changed("DELETE FROM guild_spoiler_channels WHERE guild_id = ? AND channel_id = ?",
                                   (guild_id, channel_id))

    async def _changed(self, sql: str, args: tuple[object, ...]) -> bool:
        return await self._db.run(lambda connection: connection.execute(sql, args).rowcount > 0)


def settings_in(connection: sqlite3.Connection, guild_id: int) -> GuildSettings:
    """One statement, since it runs for every /video."""
    row = connection.execute(_SETTINGS, {"guild": guild_id}).fetchone()
    return GuildSettings(
        guild_id=guild_id, pool_limit=row["pool_limit"], default_quota=row["default_quota"],
        mod_role_id=row["mod_role_id"], blocked_words=tuple(json.loads(row["words"])),
        video_channels=tuple(int(c) for c in json.loads(row["channels"])),
        spoiler_channels=frozenset(int(c) for c in json.loads(row["spoiler_channels"])),
    )


def set_pool_limit_in(connection: sqlite3.Connection, guild_id: int, limit: int) -> None:
    _set(connection, guild_id, "pool_limit", limit)


def set_default_quota_in(connection: sqlite3.Connection, guild_id: int, limit: int) -> None:
    _set(connection, guild_id, "default_quota", limit)


def _set(connection: sqlite3.Connection, guild_id: int, column: str, value: int | None) -> None:
    assert column in ("pool_limit", "default_quota", "mod_role_id")
    connection.execute(
        f"INSERT INTO guild_settings (guild_id, {column}) VALUES (?, ?) "
        f"ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column}",
        (guild_id, value),
    )
