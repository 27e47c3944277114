"""Members' own defaults for `/video` (`/settings`), one row per member per server (migration 0006).
Implements `MemberSettingsRepository` (bot/core/ports/repositories.py)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.core.ports.repositories import MemberSettings
from storage.database import Database


class MemberSettingsStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, guild_id: int, user_id: int) -> MemberSettings:
        return await self._db.run(lambda connection: _get(connection, guild_id, user_id))

    async def save(self, settings: MemberSettings, at: datetime) -> None:
        await self._db.run(lambda connection: connection.execute(
            """INSERT INTO member_settings (guild_id, user_id, duration, aspect, mode, audio, deliver_by_dm, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET
                   duration = excluded.duration, aspect = excluded.aspect, mode = excluded.mode,
                   audio = excluded.audio, deliver_by_dm = excluded.deliver_by_dm, updated_at = excluded.updated_at""",
            (settings.guild_id, settings.user_id, settings.duration, settings.aspect, settings.mode,
             None if settings.audio is None else int(settings.audio), int(settings.deliver_by_dm),
             at.isoformat(timespec="microseconds")),
        ))

    async def reset(self, guild_id: int, user_id: int) -> None:
        await self._db.run(lambda connection: connection.execute(
            "DELETE FROM member_settings WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)))


def _get(connection: sqlite3.Connection, guild_id: int, user_id: int) -> MemberSettings:
    row = connection.execute(
        "SELECT duration, aspect, mode, audio, deliver_by_dm FROM member_settings WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ).fetchone()
    if row is None:
        return MemberSettings(guild_id, user_id)
    return MemberSettings(
        guild_id, user_id, duration=row["duration"], aspect=row["aspect"], mode=row["mode"],
        audio=None if row["audio"] is None else bool(row["audio"]), deliver_by_dm=bool(row["deliver_by_dm"]),
    )
