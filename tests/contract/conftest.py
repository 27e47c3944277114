"""The store contract suite runs every test on both backends: `stores` is SQLite (a file in tmp_path) or
PostgreSQL (a database of the test's own on the session's throwaway server, tests/postgres.py). `backend.open()`
opens another, independent connection to the same database (another asyncpg pool, another SQLite connection):
what a second bot process would have."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from storage.backends import Stores, open_stores
from tests import postgres


@dataclass
class Backend:
    name: str
    open: Callable[[], Awaitable[Stores]]
    opened: list[Stores] = field(default_factory=list)

    async def processes(self, count: int) -> list[Stores]:
        """`count` independent connections to the test's database, closed after the test."""
        more = [await self.open() for _ in range(count)]
        self.opened.extend(more)
        return more


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "postgres":
        url = postgres.database_url(tmp_path)

        async def opener() -> Stores:
            return await open_stores(database_path=tmp_path / "unused.sqlite3", database_url=url)
    else:
        async def opener() -> Stores:
            return await open_stores(database_path=tmp_path / "bot.sqlite3", database_url=None)

    chosen = Backend(request.param, opener)
    try:
        yield chosen
    finally:
        for stores in chosen.opened:
            await stores.close()


@pytest.fixture
async def stores(backend: Backend) -> Stores:
    [opened] = await backend.processes(1)
    return opened
