"""What the core needs so that several bot processes can share one database: a leader lease and job signals.

Every process answers commands and accepts provider callbacks; only the process holding the leader lease runs
the job engine's background work (the dispatcher, the poll loop, delivery): bot/core/leadership.py says why.
The lease is a row in the database, judged by the database's clock (never a process's), so two processes
whose clocks disagree still agree on who leads. Job signals tell the leader, fast, what another process did to
a job (queued it, recorded its completion, cancelled it); they may be lost (a leader change, a dropped
connection), so the leader also sweeps the database and the signals only make it quicker.

PostgreSQL implements both in storage/postgres/leadership.py (a `leader` table, LISTEN/NOTIFY). With SQLite
there is one process, which leads for as long as it runs (bot/core/leadership.py's `SoleLease`) and never
needs a signal.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Protocol


class JobSignal(enum.StrEnum):
    """What a process that does not lead did to a job, for the leader to act on."""

    QUEUED = "queued"  # accepted and shown: the leader queues it for the provider
    COMPLETED = "completed"  # a callback recorded the finished video: the leader frees its slot and delivers it
    FAILED = "failed"  # a callback recorded the provider's failure: the leader frees its slot
    CANCELLED = "cancelled"  # cancelled while queued: the leader takes it out of its queue


# Called by `JobSignals.listen` for each signal, one at a time, in the order they arrived.
SignalHandler = Callable[[JobSignal, str], Awaitable[None]]


class LeaderLease(Protocol):
    """One row naming the process that leads, until when. Every answer is the database's, by its own clock."""

    async def acquire(self, owner: str, seconds: float) -> bool:
        """Become the leader for `seconds`: True when nobody held the lease, it had run out, or `owner` held it
        already. Atomic: of two processes asking at once, one wins."""
        ...

    async def renew(self, owner: str, seconds: float) -> bool:
        """Extend `owner`'s lease to `seconds` from now; False when `owner` no longer holds it (it ran out, or
        another process took it over)."""
        ...

    async def release(self, owner: str) -> None:
        """Give the lease up (only if `owner` holds it), so that another process takes over at once."""
        ...


class JobSignals(Protocol):
    """A best-effort broadcast of job signals between the processes on one database."""

    async def announce(self, signal: JobSignal, job_id: str) -> None:
        """Tell every listening process. Raises when the database cannot be reached (nothing is lost: the
        leader's sweep finds the job)."""
        ...

    async def listen(self, handler: SignalHandler) -> None:
        """Hand every signal announced from now on to `handler`, until cancelled. Reconnects by itself when
        its connection is lost (signals announced meanwhile are missed); never returns otherwise."""
        ...
