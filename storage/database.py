"""The SQLite database: WAL mode, numbered migrations, and group commit.

Every piece of work is a plain function of a `sqlite3.Connection` handed to `Database.run`. Work that
arrives while the database thread is busy is collected and run together: one trip to the thread and one
transaction for the whole batch, each piece inside its own savepoint, so that one piece failing rolls
back only itself. Under load this turns hundreds of small transactions (each a dozen thread hand-offs
waiting on a busy event loop) into a few large ones; when idle, a piece of work costs one hand-off.

Work runs strictly one piece at a time on one thread, so a check and the write that depends on it (a
quota and its charge, a status and its transition) are never split by another writer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.backup import backup_connection, pre_migration_name
from storage.checkpoints import Checkpointer

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

class DatabaseUnavailable(Exception):
    """The database file cannot be opened or brought up to date; the message says which file and why."""


MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
MAX_BATCH = 512


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration shipped in `storage/migrations`, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _run_batch(connection: sqlite3.Connection, batch: list[Work]) -> list[tuple[bool, Any]]:
    """On the database thread: every piece of work in one transaction, each in its own savepoint."""
    outcomes: list[tuple[bool, Any]] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for work in batch:
            connection.execute("SAVEPOINT work")
            try:
                value = work(connection)
            except Exception as exc:  # handed back to the caller of `run`
                connection.execute("ROLLBACK TO work")
                connection.execute("RELEASE work")
                outcomes.append((False, exc))
            else:
                connection.execute("RELEASE work")
                outcomes.append((True, value))
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return outcomes


class Database:
    """One SQLite connection, living on aiosqlite's worker thread."""

    def __init__(self, connection: aiosqlite.Connection, path: Path | None = None) -> None:
        self.connection = connection
        self.path = path  # None: in memory (no backup before a migration)
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None
        self._checkpointer: Checkpointer | None = None

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating it if needed) and migrate. Raises DatabaseUnavailable, with the connection closed
        (its worker thread would otherwise keep the process alive), when either fails."""
        pending = aiosqlite.connect(str(path), isolation_level=None)
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = await pending
        except (OSError, sqlite3.Error) as exc:
            # aiosqlite only asks its worker thread to stop; wait until it has, or it reports to an event
            # loop that is already closed (a traceback on the way out).
            if pending._thread.ident is not None:  # started (a failed mkdir never starts it)
                await asyncio.to_thread(pending._thread.join, 5)
            raise DatabaseUnavailable(f"cannot open the database at {path}: {exc}") from exc
        try:
            connection.row_factory = aiosqlite.Row
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
                await connection.execute(f"PRAGMA {pragma}")
            database = cls(connection, None if str(path) == ":memory:" else Path(path))
            await database.migrate()
            await database._start_checkpoints()
        except DatabaseUnavailable:
            await connection.close()
            raise
        except (OSError, sqlite3.Error) as exc:
            await connection.close()
            raise DatabaseUnavailable(f"cannot open or migrate the database at {path}: {exc}") from exc
        return database

    async def _start_checkpoints(self) -> None:
        """Checkpoints move off the database thread (storage/checkpoints.py says why)."""
        if self.path is None:
            return
        await self.connection.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = Checkpointer(self.path, self._automatic_checkpoints)
        self._checkpointer.start()

    async def _automatic_checkpoints(self) -> None:
        await self.run(lambda connection: connection.execute("PRAGMA wal_autocheckpoint=1000"))

    async def close(self) -> None:
        if self._draining is not None:
            await asyncio.gather(self._draining, return_exceptions=True)
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self.connection.close()

    async def migrate(self) -> int:
        """Apply every migration newer than `PRAGMA user_version`; returns the resulting version.

        Refuses (DatabaseUnavailable) a database newer than the code, which an older bot could damage; and
        backs up a database that holds data before changing its schema."""
        async with self.connection.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        shipped = migrations()
        newest = shipped[-1][0] if shipped else 0
        if current > newest:
            raise DatabaseUnavailable(
                f"the database at {self.path or ':memory:'} is at schema version {current}, newer than this version "
                f"of the bot knows ({newest}): run the newer version, or restore a backup"
            )
        pending = [(version, name, sql) for version, name, sql in shipped if version > current]
        if pending and current > 0 and self.path is not None:
            await self._backup_before(current, newest)
        for version, name, sql in pending:
            log.info("applying database migration %s", name)
            # executescript commits on its own; the version bump is part of the same script.
            await self.connection.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
            current = version
        return current

    async def _backup_before(self, current: int, target: int) -> None:
        """A copy of the database as it is, beside it, before a migration changes it (through the backup API,
        so the copy is consistent even with another process writing)."""
        assert self.path is not None
        copy = pre_migration_name(self.path, target, datetime.now(UTC))
        try:
            await self._on_thread(backup_connection, copy)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(
                f"could not back up the database at {self.path} to {copy} before migrating it, so it was not "
                f"migrated: {exc}"
            ) from exc
        log.info("backed up the database (schema version %d) to %s before migrating it to version %d",
                 current, copy, target)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` atomically on the database thread and return what it returns (or raise
        what it raised, with its writes rolled back)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                outcomes = await self._on_thread(_run_batch, [work for work, _ in batch])
            except Exception as exc:  # the whole transaction failed (closed database, disk full, ...)
                outcomes = [(False, exc)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def _on_thread(self, function: Callable[..., T], *args: Any) -> T:
        # aiosqlite runs everything on its connection's worker thread but has no public way to run a
        # function there with the raw connection; this is the one place that reaches inside it
        # (pinned in pyproject.toml, covered by tests/unit/test_database.py).
        connection: sqlite3.Connection = self.connection._conn
        return await self.connection._execute(function, connection, *args)

    async def ping(self) -> bool:
        try:
            return await self.run(lambda c: c.execute("SELECT 1").fetchone() is not None)
        except Exception:  # any failure means "not answering"
            return False
