"""Group commit: concurrent work shares transactions, yet each piece stays atomic on its own."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.database import Database


@pytest.fixture
async def database(tmp_path: Path):
    db = await Database.open(tmp_path / "db.sqlite3")
    await db.run(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    yield db
    await db.close()


def insert(key: str, value: int):
    def work(connection: sqlite3.Connection) -> int:
        connection.execute("INSERT INTO t (k, v) VALUES (?, ?)", (key, value))
        return value

    return work


def insert_then_fail(key: str):
    def work(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO t (k, v) VALUES (?, 0)", (key,))
        raise LookupError(f"refused {key}")

    return work


async def rows(database: Database) -> dict[str, int]:
    return await database.run(lambda c: {r["k"]: r["v"] for r in c.execute("SELECT * FROM t")})


async def test_a_failing_piece_rolls_back_only_itself(database: Database) -> None:
    results = await asyncio.gather(
        database.run(insert("a", 1)), database.run(insert_then_fail("b")), database.run(insert("c", 3)),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], LookupError) and str(results[1]) == "refused b"
    assert await rows(database) == {"a": 1, "c": 3}


async def test_constraint_errors_reach_the_caller(database: Database) -> None:
    await database.run(insert("a", 1))
    with pytest.raises(sqlite3.IntegrityError):
        await database.run(insert("a", 2))
    assert await rows(database) == {"a": 1}


async def test_concurrent_work_is_batched_into_few_transactions(database: Database) -> None:
    hops = 0
    original = database._on_thread

    async def counting(function, *args):  # type: ignore[no-untyped-def]
        nonlocal hops
        hops += 1
        return await original(function, *args)

    database._on_thread = counting  # type: ignore[method-assign]
    await asyncio.gather(*[database.run(insert(f"k{i}", i)) for i in range(300)])
    assert len(await rows(database)) == 300
    assert hops <= 3  # one batch while the first is on the thread, then the rest together


async def test_work_is_serialized_so_read_then_write_cannot_interleave(database: Database) -> None:
    await database.run(lambda c: c.execute("INSERT INTO t (k, v) VALUES ('counter', 0)"))

    def increment(connection: sqlite3.Connection) -> None:
        value = connection.execute("SELECT v FROM t WHERE k = 'counter'").fetchone()["v"]
        connection.execute("UPDATE t SET v = ? WHERE k = 'counter'", (value + 1,))

    await asyncio.gather(*[database.run(increment) for _ in range(200)])
    assert (await rows(database))["counter"] == 200


async def test_a_closed_database_fails_the_work_and_the_ping(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "closed.sqlite3")
    assert await database.ping()
    await database.close()
    assert not await database.ping()
    with pytest.raises(ValueError):
        await database.run(lambda c: c.execute("SELECT 1"))
