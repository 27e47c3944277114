"""Job counts for /metrics, read from the database at most once every few seconds however often the
endpoint is scraped (the count is a full-table query)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.core.models import JobStatus

CountReader = Callable[[], Awaitable[dict[JobStatus, int]]]


class CachedJobCounts:
    def __init__(self, read: CountReader, ttl: Callable[[], float]) -> None:
        self._read = read
        self._ttl = ttl  # read on every call, so it can be changed while running
        self._counts: dict[JobStatus, int] | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()  # scrapes arriving together share one read

    async def get(self) -> dict[JobStatus, int]:
        async with self._lock:
            if self._counts is None or time.monotonic() - self._read_at >= self._ttl():
                self._counts = await self._read()
                self._read_at = time.monotonic()
            return dict(self._counts)
