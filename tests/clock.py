"""A clock tests move by hand: sleeping advances it instead of waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        self._monotonic = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class FastSleepClock:
    """The real clock, except that sleeping (back-off, retry delays) is 100 times shorter. Waits that
    re-check the time, like the rate limiter's, stay correct: they just check more often."""

    def __init__(self, factor: float = 0.01) -> None:
        from bot.core.clock import SystemClock

        self._system = SystemClock()
        self.factor = factor
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._system.now()

    def monotonic(self) -> float:
        return self._system.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(max(0.0, seconds) * self.factor)
