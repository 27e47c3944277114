"""What jobs cost in money, and the pending confirmations, on PostgreSQL: `SpendRepository` and
`ConfirmationRepository` as storage/spend.py and storage/confirmations.py implement them on SQLite (money in
integer micro-units there and here)."""

from __future__ import annotations

from datetime import date, datetime

from bot.core.ports.confirmations import HeldStart
from bot.core.ports.repositories import MemberSpend, SpendTotals, StoredBalance
from storage.postgres.database import Connection, PostgresDatabase
from storage.spend import BALANCE_KEY, balance_from_json, balance_to_json, from_micros

_SPEND = "COALESCE(reported_cost, estimated_cost, 0)"
_COUNTED = "spend_day >= $1 AND spend_day < $2 AND status <> 'failed'"


class PostgresSpendStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def totals(self, first_day: str, end_day: str, guild_id: int | None) -> SpendTotals:
        where = _COUNTED + ("" if guild_id is None else " AND guild_id = $3")
        args: list[object] = [date.fromisoformat(first_day), date.fromisoformat(end_day)]
        if guild_id is not None:
            args.append(guild_id)
        row = await self._db.fetchrow(
            f"""SELECT COALESCE(SUM({_SPEND}), 0) AS amount, COALESCE(SUM(reported_cost), 0) AS reported,
                       COUNT(*) AS jobs, COUNT(*) FILTER (WHERE reported_cost IS NULL AND estimated_cost IS NULL)
                       AS unpriced, COALESCE(SUM(reported_units) FILTER (WHERE reported_cost IS NULL), 0) AS units
                FROM jobs WHERE {where}""", *args)
        assert row is not None
        return SpendTotals(amount=from_micros(row["amount"]), reported=from_micros(row["reported"]),
                           jobs=int(row["jobs"]), unpriced_jobs=int(row["unpriced"]), units=from_micros(row["units"]))

    async def top_members(self, first_day: str, end_day: str, guild_id: int, limit: int) -> list[MemberSpend]:
        rows = await self._db.fetch(
            f"""SELECT user_id, SUM({_SPEND}) AS amount, COUNT(*) AS jobs FROM jobs
                WHERE {_COUNTED} AND guild_id = $3
                GROUP BY user_id ORDER BY amount DESC, jobs DESC, user_id LIMIT $4""",
            date.fromisoformat(first_day), date.fromisoformat(end_day), guild_id, limit)
        return [MemberSpend(int(row["user_id"]), from_micros(row["amount"]), int(row["jobs"])) for row in rows]

    async def latest_balance(self) -> StoredBalance | None:
        row = await self._db.fetchrow("SELECT value FROM kv WHERE key = $1", BALANCE_KEY)
        return balance_from_json(row["value"]) if row is not None else None

    async def save_balance(self, balance: StoredBalance) -> None:
        await self._db.execute("INSERT INTO kv (key, value) VALUES ($1, $2) "
                               "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", BALANCE_KEY,
                               balance_to_json(balance))


class PostgresConfirmationStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def hold(self, held: HeldStart, *, forget_before: datetime) -> None:
        async def work(connection: Connection) -> None:
            await connection.execute("DELETE FROM pending_confirmations WHERE created_at < $1", forget_before)
            await connection.execute(
                "INSERT INTO pending_confirmations (token, guild_id, user_id, payload, created_at) "
                "VALUES ($1, $2, $3, $4::text::jsonb, $5)",
                held.token, held.guild_id, held.user_id, held.payload, held.created_at)

        await self._db.run(work)

    async def take(self, token: str) -> HeldStart | None:
        row = await self._db.fetchrow(
            "DELETE FROM pending_confirmations WHERE token = $1 "
            "RETURNING token, guild_id, user_id, payload::text AS payload, created_at", token)
        if row is None:
            return None
        return HeldStart(row["token"], int(row["guild_id"]), int(row["user_id"]), row["payload"], row["created_at"])
