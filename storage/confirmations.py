"""Starts waiting for the member's Confirm (migration 0009): `ConfirmationStore` implements
`ConfirmationRepository` (bot/core/ports/confirmations.py)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.core.ports.confirmations import HeldStart
from storage.database import Database


class ConfirmationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def hold(self, held: HeldStart, *, forget_before: datetime) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM pending_confirmations WHERE created_at < ?", (_iso(forget_before),))
            connection.execute(
                "INSERT INTO pending_confirmations (token, guild_id, user_id, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (held.token, held.guild_id, held.user_id, held.payload, _iso(held.created_at)))

        await self._db.run(work)

    async def take(self, token: str) -> HeldStart | None:
        def work(connection: sqlite3.Connection) -> HeldStart | None:
            row = connection.execute("DELETE FROM pending_confirmations WHERE token = ? RETURNING *",
                                     (token,)).fetchone()
            if row is None:
                return None
            return HeldStart(row["token"], int(row["guild_id"]), int(row["user_id"]), row["payload"],
                             datetime.fromisoformat(row["created_at"]))

        return await self._db.run(work)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")
