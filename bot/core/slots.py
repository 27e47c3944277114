"""Provider slots: at most MAX_CONCURRENT_JOBS jobs at the provider at once."""

from __future__ import annotations

import asyncio


class ProviderSlots:
    """Taken by the dispatcher when it submits a job, released by the tracker when the job ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: set[str] = set()
        self._freed = asyncio.Event()

    @property
    def in_use(self) -> int:
        return len(self._held)

    def take(self, job_id: str) -> None:
        """Claim a slot (also used at start-up for jobs already at the provider, even over the limit)."""
        self._held.add(job_id)

    def holds(self, job_id: str) -> bool:
        return job_id in self._held

    def release(self, job_id: str) -> None:
        if job_id in self._held:
            self._held.discard(job_id)
            self._freed.set()

    async def wait_for_free(self) -> None:
        while len(self._held) >= self.limit:
            self._freed.clear()
            await self._freed.wait()
