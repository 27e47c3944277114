"""What jobs cost in money: `SpendStore` implements `SpendRepository` (bot/core/ports/repositories.py).

Money columns (migration 0009) hold integer micro-units of the account's currency, so SQL sums stay exact; the
core sees `Decimal`. A job's spend is its reported cost when the provider said one, else its estimate; failed
jobs (always refunded) never count.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from bot.core.ports.repositories import MemberSpend, SpendCharge, SpendTotals, StoredBalance
from storage.database import Database

MICROS = Decimal(1_000_000)
BALANCE_KEY = "provider_balance"  # the kv row holding the last balance a provider reported

_SPEND = "COALESCE(reported_cost, estimated_cost, 0)"
_COUNTED = "spend_day >= :first AND spend_day < :end AND status != 'failed'"


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value(rounding=ROUND_HALF_UP))


def from_micros(value: int | None) -> Decimal:
    return Decimal(value or 0) / MICROS


def check_spend_in(connection: sqlite3.Connection, job_id: str, spend: SpendCharge) -> None:
    """Inside the transaction that inserts (and charges) a job, after its row went in with its estimate and day:
    `spend.check` decides on what the day's other jobs spent, and raises to refuse (the insert and its charge
    roll back with it). Without a limit there is nothing to decide, and the day's sum is not read."""
    if not spend.limited:
        return
    spent = connection.execute(
        f"SELECT COALESCE(SUM({_SPEND}), 0) FROM jobs WHERE spend_day = ? AND status != 'failed' AND id != ?",
        (spend.day, job_id),
    ).fetchone()[0]
    spend.check(from_micros(spent))


class SpendStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def totals(self, first_day: str, end_day: str, guild_id: int | None) -> SpendTotals:
        where = _COUNTED + ("" if guild_id is None else " AND guild_id = :guild")
        sql = f"""SELECT COALESCE(SUM({_SPEND}), 0) AS amount, COALESCE(SUM(reported_cost), 0) AS reported,
                         COUNT(*) AS jobs,
                         COALESCE(SUM(reported_cost IS NULL AND estimated_cost IS NULL), 0) AS unpriced,
                         COALESCE(SUM(CASE WHEN reported_cost IS NULL THEN reported_units END), 0) AS units
                  FROM jobs WHERE {where}"""
        args = {"first": first_day, "end": end_day, "guild": guild_id}
        row = await self._db.run(lambda connection: connection.execute(sql, args).fetchone())
        return SpendTotals(amount=from_micros(row["amount"]), reported=from_micros(row["reported"]),
                           jobs=int(row["jobs"]), unpriced_jobs=int(row["unpriced"]), units=from_micros(row["units"]))

    async def top_members(self, first_day: str, end_day: str, guild_id: int, limit: int) -> list[MemberSpend]:
        sql = f"""SELECT user_id, SUM({_SPEND}) AS amount, COUNT(*) AS jobs FROM jobs
                  WHERE {_COUNTED} AND guild_id = :guild
                  GROUP BY user_id ORDER BY amount DESC, jobs DESC, user_id LIMIT :limit"""
        args = {"first": first_day, "end": end_day, "guild": guild_id, "limit": limit}
        rows = await self._db.run(lambda connection: connection.execute(sql, args).fetchall())
        return [MemberSpend(int(row["user_id"]), from_micros(row["amount"]), int(row["jobs"])) for row in rows]

    async def latest_balance(self) -> StoredBalance | None:
        row = await self._db.run(lambda connection: connection.execute(
            "SELECT value FROM kv WHERE key = ?", (BALANCE_KEY,)).fetchone())
        return balance_from_json(row["value"]) if row is not None else None

    async def save_balance(self, balance: StoredBalance) -> None:
        await self._db.run(lambda connection: connection.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (BALANCE_KEY, balance_to_json(balance))))


def balance_to_json(balance: StoredBalance) -> str:
    """The last balance reading as kept in the kv table (both backends)."""
    return json.dumps({"provider": balance.provider, "amount": str(balance.amount), "units": balance.units,
                       "at": balance.at.isoformat()})


def balance_from_json(value: str) -> StoredBalance | None:
    try:
        stored = json.loads(value)
        return StoredBalance(str(stored["provider"]), Decimal(str(stored["amount"])), bool(stored["units"]),
                             datetime.fromisoformat(stored["at"]))
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None  # unreadable: as if never read (the next reading replaces it)
