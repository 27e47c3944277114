"""Discord sharding (SHARD_COUNT, SHARD_IDS): pacing the IDENTIFYs of the shards one process runs.

Discord accepts one IDENTIFY per rate-limit bucket every 5 seconds; a shard's bucket is
`shard_id % max_concurrency`, with `max_concurrency` from `GET /gateway/bot` (1 for most bots, 16 or more for
large ones). discord.py's own hook simply waits 5 s before every IDENTIFY but the first, so a process with
many shards and a larger `max_concurrency` would start far slower than Discord allows; this pacer waits only
where Discord's rule needs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

IDENTIFY_INTERVAL = 5.0  # seconds between two IDENTIFYs of one bucket (Discord's gateway rate limit)


class IdentifyPacer:
    """Waits before a shard's IDENTIFY until its bucket's last one is `interval` seconds old."""

    def __init__(self, max_concurrency: int = 1, *, interval: float = IDENTIFY_INTERVAL,
                 now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.interval = interval
        self._now = now
        self._sleep = sleep
        self._last: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    async def wait(self, shard_id: int) -> None:
        bucket = self.bucket(shard_id)
        # Two shards of one bucket re-identifying at once must still go one after the other.
        async with self._locks.setdefault(bucket, asyncio.Lock()):
            last = self._last.get(bucket)
            if last is not None:
                delay = last + self.interval - self._now()
                if delay > 0:
                    await self._sleep(delay)
            self._last[bucket] = self._now()


def describe_shards(shard_ids: tuple[int, ...], shard_count: int) -> str:
    """`shards 0, 1 of 2` for the logs."""
    listed = ", ".join(str(shard_id) for shard_id in shard_ids)
    return f"shard{'s' if len(shard_ids) != 1 else ''} {listed} of {shard_count}"
