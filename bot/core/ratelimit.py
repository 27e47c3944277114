"""A sliding-window limit: never more than `calls` in any `per_seconds` window, however many jobs
want a slot. A token bucket would allow twice the limit across a window boundary; this does not.

A call is stamped when it takes its slot, but the provider counts it when it arrives; a call that is
slow to arrive (a busy connection pool, a slow network) could otherwise let the next window's first
call land inside the provider's window. The window is therefore held `margin` seconds longer."""

from __future__ import annotations

import asyncio
from collections import deque

from bot.core.clock import Clock


class SlidingWindowLimiter:
    def __init__(self, calls: int, per_seconds: float, clock: Clock, *, margin: float = 1.0) -> None:
        if calls <= 0 or per_seconds <= 0 or margin < 0:
            raise ValueError("a rate limit needs positive calls and period")
        self.calls = calls
        self.per_seconds = per_seconds
        self.window = per_seconds + margin
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()  # callers queue in order, so nobody starves

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()

    def wait_time(self) -> float:
        """Seconds until a call could go out now (0 when one can)."""
        now = self._clock.monotonic()
        self._expire(now)
        if len(self._sent) < self.calls:
            return 0.0
        return self._sent[0] + self.window - now

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.wait_time()) > 0:
                await self._clock.sleep(wait)
            self._sent.append(self._clock.monotonic())

    def penalize(self, seconds: float) -> None:
        """The provider said slow down: fill the window so nothing goes out for `seconds`."""
        now = self._clock.monotonic()
        stamp = now + seconds - self.window
        self._sent.clear()
        self._sent.extend([stamp] * self.calls)


class RateLimiters:
    """One limiter per API key (rate limits are per key, not per job)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._limiters: dict[str, SlidingWindowLimiter] = {}

    def for_key(self, key: str, calls: int, per_seconds: float) -> SlidingWindowLimiter:
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = SlidingWindowLimiter(calls, per_seconds, self._clock)
        return limiter
