"""PostgreSQL through an asyncpg pool: connecting, numbered migrations, and transactions that retry.

How the guarantees hold with many bot processes on one database: row locks, not SERIALIZABLE. Every ledger
write (a job's charge, a refund, a grant, a reset, a limit) first locks its period's total row, its server's
pool row and its member's row, always in that order (`quota_lock` in migrations/0001_schema.sql), then reads
what it decides on and writes. Two charges for the same member, server or period (from any process) queue
on those rows instead of both reading the same balance, so twenty `/video` at once with room for three give
three; a refund waits for the charge or refund before it and then finds the refund already written. Under
SERIALIZABLE the same twenty would all read, nineteen would fail at commit and retry, again and again: the
locks make the losers wait once. Job transitions are conditional updates on the job's own row (`FOR NO KEY
UPDATE`), which READ COMMITTED re-checks after waiting, so two paths racing to move a job cannot both win.

A transaction that still fails with a deadlock or a serialization failure (neither should happen with the
lock order above; a foreign key check or a future query could cause one) is retried a few times, whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
from asyncpg.connection import Connection

from storage.database import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[Connection], Awaitable[T]]

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# pg_advisory_lock's key for "migrating this database": any fixed number; the bot's name in ASCII.
MIGRATION_LOCK = 0x6B6C696E67626F74
RETRIES = 5
CONNECT_TIMEOUT_SECONDS = 10.0
# asyncpg's `Pool.close` waits for every borrowed connection to come back; one held by a task that never ends
# would hold up the bot's stop for ever. Past this the pool is terminated instead (its connections cut).
CLOSE_TIMEOUT_SECONDS = 10.0
RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration in `storage/postgres/migrations`, in order."""
    found = []
    for entry in resources.files("storage.postgres.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def describe_dsn(dsn: str) -> str:
    """`user@host:port/database` for messages: never the password."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = query.get("port", [str(parts.port) if parts.port else "5432"])[0]
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", [""])[0] or "(default database)"
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return f"{user}{host}:{port}/{database}"


def dsn_password(dsn: str) -> str | None:
    """The password in a DSN, as written and decoded (both are masked in logs)."""
    parts = urlsplit(dsn)
    password = parts.password or parse_qs(parts.query).get("password", [None])[0]
    return unquote(password) if password else None


def asyncpg_dsn(dsn: str) -> str:
    """`postgresql+asyncpg://` (SQLAlchemy's spelling) and `postgres://` become what asyncpg reads."""
    scheme, _, rest = dsn.partition("://")
    if scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise DatabaseUnavailable(f"DATABASE_URL must start with postgresql:// (it starts with {scheme}://)")
    return f"postgresql://{rest}"


async def _setup_connection(connection: Connection) -> None:
    # jsonb as Python values (job image lists), not JSON text.
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, migrated when opened."""

    def __init__(self, pool: asyncpg.Pool, target: str) -> None:
        self.pool = pool
        self.target = target  # user@host:port/database, for messages

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        """Connect and migrate. Raises DatabaseUnavailable naming the host and database (never the
        password) when either fails."""
        target = describe_dsn(dsn)
        password = dsn_password(dsn)

        def without_password(error: BaseException) -> str:
            text = str(error) or error.__class__.__name__
            return text.replace(password, "***") if password else text

        try:
            pool = await asyncpg.create_pool(asyncpg_dsn(dsn), min_size=min_size, max_size=max_size,
                                             init=_setup_connection, timeout=CONNECT_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {target} (DATABASE_URL): {without_password(exc)}"
            ) from None
        database = cls(pool, target)
        try:
            await database.migrate()
        except DatabaseUnavailable:
            await pool.close()
            raise
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await pool.close()
            raise DatabaseUnavailable(
                f"cannot migrate the PostgreSQL database at {target}: {without_password(exc)}"
            ) from None
        return database

    async def migrate(self) -> int:
        """Apply every migration newer than the newest in `schema_migrations`, each in a transaction of its
        own; returns the resulting version. Two processes starting together queue on an advisory lock, so
        only the first migrates. Refuses a database newer than the code (an older bot could damage it)."""
        shipped = migrations()
        newest = shipped[-1][0] if shipped else 0
        async with self.pool.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await connection.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())")
                current = int(await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
                if current > newest:
                    raise DatabaseUnavailable(
                        f"the PostgreSQL database at {self.target} is at schema version {current}, newer than this "
                        f"version of the bot knows ({newest}): run the newer version, or restore a backup")
                for version, name, sql in shipped:
                    if version <= current:
                        continue
                    log.info("applying PostgreSQL migration %s", name)
                    async with connection.transaction():
                        await connection.execute(sql)
                        await connection.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
                    current = version
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        return current

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))

    async def run(self, work: Work[T]) -> T:
        """`work(connection)` in one READ COMMITTED transaction, retried whole after a deadlock or a
        serialization failure. `work` must only read and write the database (it may run more than once)."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self.pool.acquire() as connection, connection.transaction():
                    return await work(connection)
            except RETRYABLE as exc:
                if attempt == RETRIES:
                    raise
                log.debug("retrying a transaction after %s (attempt %d)", exc.__class__.__name__, attempt)
                await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)  # apart, so they do not meet again
        raise AssertionError("unreachable")

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """One statement on its own (its own transaction)."""
        return list(await self.pool.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.pool.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        return str(await self.pool.execute(sql, *args))

    async def ping(self) -> bool:
        try:
            return await self.pool.fetchval("SELECT 1", timeout=5) == 1
        except Exception:  # any failure means "not answering"
            return False

    async def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.pool.close()
        except TimeoutError:
            log.warning("a database connection was still in use after %.0f s; closing them all at once", timeout)
            self.pool.terminate()
