"""Per-server settings and members' own defaults on PostgreSQL: implement `GuildSettingsRepository` and
`MemberSettingsRepository` (bot/core/ports/repositories.py) as storage/guild_settings.py and
storage/member_settings.py do on SQLite."""

from __future__ import annotations

from datetime import datetime

from bot.core.ports.repositories import GuildSettings, MemberSettings
from storage.postgres.database import PostgresDatabase
from storage.postgres.quotas import set_guild_value_in

# One statement, since it runs for every /video. COLLATE "C": words in byte order, as SQLite sorts them.
_SETTINGS = """
SELECT s.pool_limit, s.default_quota, s.mod_role_id,
       ARRAY(SELECT word FROM guild_blocked_words WHERE guild_id = $1 ORDER BY word COLLATE "C") AS words,
       ARRAY(SELECT channel_id FROM guild_video_channels WHERE guild_id = $1 ORDER BY channel_id) AS channels,
       ARRAY(SELECT channel_id FROM guild_spoiler_channels WHERE guild_id = $1) AS spoiler_channels
FROM (SELECT $1::bigint AS guild_id) AS g LEFT JOIN guild_settings AS s ON s.guild_id = g.guild_id
"""


class PostgresGuildSettingsStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._db.fetchrow(_SETTINGS, guild_id)
        assert row is not None
        return GuildSettings(
            guild_id=guild_id, pool_limit=row["pool_limit"], default_quota=row["default_quota"],
            mod_role_id=row["mod_role_id"], blocked_words=tuple(row["words"]), video_channels=tuple(row["channels"]),
            spoiler_channels=frozenset(row["spoiler_channels"]),
        )

    async def set_mod_role(self, guild_id: int, role_id: int | None) -> None:
        await self._db.run(lambda connection: set_guild_value_in(connection, guild_id, "mod_role_id", role_id))

    async def add_blocked_word(self, guild_id: int, word: str) -> bool:
        return await self._changed("INSERT INTO guild_blocked_words (guild_id, word) VALUES ($1, $2) "
                                   "ON CONFLICT DO NOTHING", guild_id, word)

    async def remove_blocked_word(self, guild_id: int, word: str) -> bool:
        return await self._changed("DELETE FROM guild_blocked_words WHERE guild_id = $1 AND word = $2", guild_id, word)

    async def add_video_channel(self, guild_id: int, channel_id: int) -> bool:
        return await self._changed("INSERT INTO guild_video_channels (guild_id, channel_id) VALUES ($1, $2) "
                                   "ON CONFLICT DO NOTHING", guild_id, channel_id)

    async def remove_video_channel(self, guild_id: int, channel_id: int) -> bool:
        return await self._changed("DELETE FROM guild_video_channels WHERE guild_id = $1 AND channel_id = $2",
                                   guild_id, channel_id)

    async def set_spoiler_channel(self, guild_id: int, channel_id: int, spoiler: bool) -> bool:
        if spoiler:
            return await self._changed("INSERT INTO guild_spoiler_channels (guild_id, channel_id) VALUES ($1, $2) "
                                       "ON CONFLICT DO NOTHING", guild_id, channel_id)
        return await self._changed("DELETE FROM guild_spoiler_channels WHERE guild_id = $1 AND channel_id = $2",
                                   guild_id, channel_id)

    async def _changed(self, sql: str, *args: object) -> bool:
        status = await self._db.execute(sql, *args)
        return not status.endswith(" 0")


class PostgresMemberSettingsStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def get(self, guild_id: int, user_id: int) -> MemberSettings:
        row = await self._db.fetchrow(
            "SELECT duration, aspect, mode, audio, deliver_by_dm FROM member_settings "
            "WHERE guild_id = $1 AND user_id = $2", guild_id, user_id)
        if row is None:
            return MemberSettings(guild_id, user_id)
        return MemberSettings(guild_id, user_id, duration=row["duration"], aspect=row["aspect"], mode=row["mode"],
                              audio=row["audio"], deliver_by_dm=row["deliver_by_dm"])

    async def save(self, settings: MemberSettings, at: datetime) -> None:
        await self._db.execute(
            """INSERT INTO member_settings (guild_id, user_id, duration, aspect, mode, audio, deliver_by_dm, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET
                   duration = EXCLUDED.duration, aspect = EXCLUDED.aspect, mode = EXCLUDED.mode,
                   audio = EXCLUDED.audio, deliver_by_dm = EXCLUDED.deliver_by_dm, updated_at = EXCLUDED.updated_at""",
            settings.guild_id, settings.user_id, settings.duration, settings.aspect, settings.mode, settings.audio,
            settings.deliver_by_dm, at)

    async def reset(self, guild_id: int, user_id: int) -> None:
        await self._db.execute("DELETE FROM member_settings WHERE guild_id = $1 AND user_id = $2", guild_id, user_id)
