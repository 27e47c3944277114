"""What the core needs from a database, and the records it reads and writes. `storage/` implements these
protocols (SQLite today); the core never sees a connection, a cursor or SQL.

Every method is one unit of work: it runs in one transaction, all or nothing. Where a decision of the
core must be taken inside a transaction (whether a job's charge fits, given what the same transaction
reads), the core hands the repository a pure function to call there: `Charge.entry` decides, the
repository reads and writes around it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from bot.core.models import Job, JobStatus


# -- records -------------------------------------------------------------------------------------------
class LedgerKind(enum.StrEnum):
    RESERVE = "reserve"
    REFUND = "refund"
    GRANT = "grant"
    RESET = "reset"
    LIMIT = "limit"
    POOL = "pool"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One credit change. Balances are sums over these; nothing else counts credits."""

    kind: LedgerKind
    guild_id: int
    period: str  # the start of the quota period, as an ISO date
    at: datetime
    user_id: int | None = None
    actor_id: int | None = None  # None: the bot itself
    amount: int | None = None
    job_id: str | None = None
    detail: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """A member's and their server's standing in one period, as stored."""

    used: int
    granted: int
    pool_used: int
    member_limit: int | None  # None: the server default applies
    pool_limit: int | None  # None: the operator's default
    default_quota: int | None  # None: the operator's default
    active_jobs: int
    total_used: int = 0  # every server together, for the operator's total ceiling


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """What a server's moderators chose. None: the operator's default from the environment."""

    guild_id: int
    pool_limit: int | None = None
    default_quota: int | None = None
    mod_role_id: int | None = None
    blocked_words: tuple[str, ...] = ()
    video_channels: tuple[int, ...] = ()  # empty: /video works in every channel
    spoiler_channels: frozenset[int] = frozenset()  # results posted there are spoilers


@dataclass(frozen=True, slots=True)
class MemberSettings:
    """A member's own defaults for `/video` in one server. None: no default of their own (the provider's
    first choice applies)."""

    guild_id: int
    user_id: int
    duration: int | None = None
    aspect: str | None = None
    mode: str | None = None
    audio: bool | None = None
    deliver_by_dm: bool = False


@dataclass(frozen=True, slots=True)
class JobEvent:
    job_id: str
    at: datetime
    kind: str
    from_status: JobStatus | None
    to_status: JobStatus | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one prune of finished jobs removed."""

    jobs: int
    events: int


class Charge(Protocol):
    """A job's charge, decided inside the transaction that inserts the job."""

    @property
    def period(self) -> str:
        """The quota period whose usage the decision needs."""
        ...

    def entry(self, usage: Usage) -> LedgerEntry:
        """The ledger row that charges the job, given the usage read in the same transaction (the job
        itself not yet counted). Raises a UserFacingError to refuse: the insert is then rolled back."""
        ...


class SpendCharge(Protocol):
    """A job's estimated money cost, recorded and checked against SPEND_LIMIT_PER_DAY inside the transaction
    that inserts the job (bot/core/spend.py)."""

    @property
    def estimate(self) -> Decimal | None:
        """The job's estimated cost from PROVIDER_PRICES (None: no price for its mode)."""
        ...

    @property
    def day(self) -> str:
        """The UTC day (ISO date) the job's spend counts in."""
        ...

    @property
    def limited(self) -> bool:
        """False when there is no daily limit: `check` accepts anything, so the day's spend need not be summed
        (a sum over every job of the day, on each insert)."""
        ...

    def check(self, spent: Decimal) -> None:
        """Given what the day's other jobs spent (reported costs where known, else estimates; failed jobs not
        counted), raise a UserFacingError when this job does not fit in the daily limit: the insert then rolls
        back, nothing charged."""
        ...


@dataclass(frozen=True, slots=True)
class MemberSpend:
    user_id: int
    amount: Decimal
    jobs: int


@dataclass(frozen=True, slots=True)
class SpendTotals:
    """Money spent by the jobs of some days (failed jobs not counted): reported by the provider where it said,
    else estimated from PROVIDER_PRICES."""

    amount: Decimal = Decimal(0)
    reported: Decimal = Decimal(0)  # the part the provider reported
    jobs: int = 0
    unpriced_jobs: int = 0  # jobs with neither a reported cost in money nor an estimate
    units: Decimal = Decimal(0)  # units reported by a provider that counts in units, not converted to money


@dataclass(frozen=True, slots=True)
class StoredBalance:
    """The last balance a provider reported."""

    provider: str
    amount: Decimal
    units: bool
    at: datetime


# -- repositories ----------------------------------------------------------------------------------------
class SpendRepository(Protocol):
    """What jobs cost in money (storage/spend.py), and the provider's last reported balance."""

    async def totals(self, first_day: str, end_day: str, guild_id: int | None) -> SpendTotals:
        """Spend of the days from `first_day` up to (not including) `end_day`; one server's, or all (None)."""
        ...

    async def top_members(self, first_day: str, end_day: str, guild_id: int, limit: int) -> list[MemberSpend]:
        ...

    async def latest_balance(self) -> StoredBalance | None: ...

    async def save_balance(self, balance: StoredBalance) -> None: ...


class JobRepository(Protocol):
    """Jobs and their event log. Status changes are conditional on the expected current status, so two
    paths racing to move one job (a callback and a poll, say) cannot both win."""

    async def insert(self, job: Job, charge: Charge | None = None, spend: SpendCharge | None = None) -> None:
        """Insert a job and its first event, with its charge and its spend when given (all or nothing)."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def transition(self, job_id: str, expected: JobStatus | Sequence[JobStatus], new: JobStatus,
                         at: datetime, *, detail: str | None = None, **fields: Any) -> Job | None:
        """Move a job from one of `expected` to `new` with `fields`; None when it was not in `expected`."""
        ...

    async def fail(self, job_id: str, expected: JobStatus | Sequence[JobStatus], at: datetime, *, reason: str,
                   detail: str, **fields: Any) -> tuple[Job, int | None] | None:
        """Move a job to FAILED and refund its charge in the same transaction (once per job, ever).
        Returns the job and the credits refunded (None: nothing to refund), or None when the job was not
        in `expected`."""
        ...

    async def update(self, job_id: str, at: datetime, **fields: Any) -> None:
        """Set fields that are not the status (message ids, attempts, errors)."""
        ...

    async def claim_submit(self, job_id: str, at: datetime, *, attempts: int) -> bool:
        """Mark a queued job as being submitted (`submitting_since` = `at`, with `attempts`), only while it is
        queued and claimed by nobody; False when it is not (cancelled, sent, or claimed by another path)."""
        ...

    async def record_event(self, job_id: str, at: datetime, kind: str, detail: str | None = None) -> None: ...

    async def with_status(self, statuses: Iterable[JobStatus]) -> list[Job]: ...

    async def recent_for_user(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]: ...

    async def count_by_status(self) -> dict[JobStatus, int]: ...

    async def generation_seconds(self, provider: str, limit: int) -> list[float]:
        """Seconds from submitted to completed of the provider's last `limit` finished jobs, newest first."""
        ...

    async def events(self, job_id: str) -> list[JobEvent]: ...

    async def prune_finished(self, updated_before: datetime, limit: int) -> Pruned:
        """Remove up to `limit` finished jobs last updated before then, with their events (not the ledger)."""
        ...


class QuotaRepository(Protocol):
    """The credit ledger, per-member limits and the server-wide settings that go with a ledger row."""

    async def usage(self, guild_id: int, user_id: int, period: str) -> Usage: ...

    async def append(self, entry: LedgerEntry) -> bool:
        """Add a ledger row; False when the job already has a row of this kind."""
        ...

    async def set_member_limit(self, entry: LedgerEntry, describe_previous: Callable[[int | None], str]) -> None:
        """Set `entry.user_id`'s own limit to `entry.amount` and write `entry`, its detail from the previous
        limit (None: the server default applied)."""
        ...

    async def reset_member(self, entry: LedgerEntry) -> int:
        """Clear what `entry.user_id` used in `entry.period`; writes `entry` with the amount cleared and
        returns it."""
        ...

    async def set_pool_limit(self, entry: LedgerEntry) -> None:
        """Set the server's pool to `entry.amount` and write `entry`."""
        ...

    async def set_default_quota(self, entry: LedgerEntry) -> None:
        """Set the server's default member limit to `entry.amount` and write `entry`."""
        ...

    async def refund(self, job_id: str, at: datetime, detail: str | None) -> int | None:
        """Give a job's charge back, into the period it was charged in, once; None: nothing to refund."""
        ...

    async def failed_without_refund(self, updated_since: datetime) -> list[str]:
        """Jobs failed since then that were charged but never refunded (the bot stopped in between)."""
        ...

    async def history(self, guild_id: int, user_id: int | None, *, offset: int, limit: int, count_up_to: int
                      ) -> tuple[list[LedgerEntry], int]:
        """A page of the ledger, newest first, and the number of rows in all, counted no further than
        `count_up_to` (a long-lived server's ledger holds millions)."""
        ...


class GuildSettingsRepository(Protocol):
    async def get(self, guild_id: int) -> GuildSettings: ...

    async def set_mod_role(self, guild_id: int, role_id: int | None) -> None: ...

    async def add_blocked_word(self, guild_id: int, word: str) -> bool:
        """False when the word was already on the list."""
        ...

    async def remove_blocked_word(self, guild_id: int, word: str) -> bool: ...

    async def add_video_channel(self, guild_id: int, channel_id: int) -> bool: ...

    async def remove_video_channel(self, guild_id: int, channel_id: int) -> bool: ...

    async def set_spoiler_channel(self, guild_id: int, channel_id: int, spoiler: bool) -> bool:
        """False when nothing changed (it already was, or was not, a spoiler channel)."""
        ...


class MemberSettingsRepository(Protocol):
    """Members' own defaults (`/settings`), one row per member per server."""

    async def get(self, guild_id: int, user_id: int) -> MemberSettings:
        """The member's settings; all defaults (None, no DM) when they never set any."""
        ...

    async def save(self, settings: MemberSettings, at: datetime) -> None:
        """Replace the member's settings with these."""
        ...

    async def reset(self, guild_id: int, user_id: int) -> None:
        """Forget the member's settings."""
        ...
