"""What only the PostgreSQL backend has: its migrations (in order, once, with processes starting together),
its refusal of a newer database, and connection errors that name the server but never the password."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.backends import open_stores
from storage.database import DatabaseUnavailable
from storage.postgres.database import PostgresDatabase, describe_dsn, migrations
from tests import postgres
from tests.harness import free_port


async def test_processes_starting_together_on_an_empty_database_migrate_it_once(tmp_path: Path) -> None:
    url = postgres.database_url(tmp_path, migrated=False)
    opened = await asyncio.gather(*[PostgresDatabase.open(url, max_size=2) for _ in range(4)])
    try:
        newest = migrations()[-1][0]
        assert [await database.schema_version() for database in opened] == [newest] * 4
        rows = await opened[0].fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(row["version"], row["name"]) for row in rows] == [(v, name) for v, name, _ in migrations()]
        assert await opened[1].migrate() == newest  # nothing left to apply
    finally:
        for database in opened:
            await database.close()


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    url = postgres.database_url(tmp_path)
    database = await PostgresDatabase.open(url)
    await database.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')")
    await database.close()
    with pytest.raises(DatabaseUnavailable, match="schema version 9999, newer than this version of the bot knows"):
        await PostgresDatabase.open(url)


async def test_no_server_or_no_database_names_the_server_never_the_password(tmp_path: Path) -> None:
    url = postgres.database_url(tmp_path)
    missing = f"postgresql://strict:s3cret-pw@127.0.0.1:{free_port()}/kling"
    with pytest.raises(DatabaseUnavailable) as refused:
        await open_stores(database_path=tmp_path / "unused", database_url=missing)
    message = str(refused.value)
    assert "cannot connect to PostgreSQL at strict@127.0.0.1:" in message and "/kling" in message
    assert "s3cret-pw" not in message
    no_database = url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(DatabaseUnavailable, match="no_such_database"):
        await PostgresDatabase.open(no_database)


def test_a_dsn_is_described_without_its_password() -> None:
    assert describe_dsn("postgresql://bot:p%40ss@db.internal:6543/kling") == "bot@db.internal:6543/kling"
    assert describe_dsn("postgresql://bot@localhost/kling?host=/run/postgresql") == "bot@/run/postgresql:5432/kling"
    assert "secret" not in describe_dsn("postgres://u:secret@h/d")


async def test_closing_does_not_wait_for_ever_on_a_connection_still_in_use(tmp_path: Path) -> None:
    database = await PostgresDatabase.open(postgres.database_url(tmp_path))
    borrowed = await database.pool.acquire()  # a task that never gives its connection back
    await asyncio.wait_for(database.close(timeout=0.5), timeout=10)  # asyncpg's own close would wait for ever
    assert borrowed is not None and database.pool.is_closing()
