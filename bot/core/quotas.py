"""Credits: what a job costs, the period they count in, the charge taken when a job is accepted, refunds,
and what moderators change. Every change is a ledger row (storage/quotas.py); balances are sums over it.

Above what moderators set sit the operator's ceilings (GUILD_CREDIT_CEILING, TOTAL_CREDIT_CEILING): no
command changes them, and they are checked in the same transaction that takes the charge.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.core.clock import Clock
from bot.core.errors import InvalidRequest, QuotaExceeded
from bot.core.messages import Message, msg
from bot.core.metrics import CreditKind, Metrics
from bot.core.models import Job, VideoRequest
from bot.core.moderation import Actor, ModerationService
from bot.core.ports.repositories import LedgerEntry, LedgerKind, QuotaRepository, Usage

log = logging.getLogger(__name__)

class QuotaPeriod(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


MAX_CREDITS = 1_000_000  # the largest limit or grant a moderator can type
REFUND_SWEEP_DAYS = 30  # how far back the start-up sweep looks for failed jobs never refunded
HISTORY_PAGE_SIZE = 10
# Counting a whole server's ledger took 45 ms on the database thread at 1.8 million rows (bench history), and
# a deep OFFSET reads every row before it: pages reach back this many entries.
HISTORY_COUNT_LIMIT = 10_000
PERIOD_WORDS = {QuotaPeriod.DAY: "today", QuotaPeriod.WEEK: "this week", QuotaPeriod.MONTH: "this month"}
PERIOD_UNITS = {QuotaPeriod.DAY: "day", QuotaPeriod.WEEK: "week", QuotaPeriod.MONTH: "month"}
# The same words for members, in their language (bot/i18n/locales).
PERIOD_WORD_KEYS = {QuotaPeriod.DAY: "period.today", QuotaPeriod.WEEK: "period.this_week",
                    QuotaPeriod.MONTH: "period.this_month"}
PERIOD_UNIT_KEYS = {QuotaPeriod.DAY: "period.day", QuotaPeriod.WEEK: "period.week", QuotaPeriod.MONTH: "period.month"}


@dataclass(frozen=True, slots=True)
class Period:
    """One quota period in UTC: a day, a week starting Monday 00:00, or a calendar month."""

    kind: QuotaPeriod
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.start.date().isoformat()

    @property
    def word(self) -> str:
        """"today", "this week" or "this month"."""
        return PERIOD_WORDS[self.kind]

    @property
    def word_message(self) -> Message:
        """`word` for a member: "today", "this week" or "this month" in their language."""
        return Message(PERIOD_WORD_KEYS[self.kind])

    @property
    def unit_message(self) -> Message:
        return Message(PERIOD_UNIT_KEYS[self.kind])

    @property
    def unit(self) -> str:
        return PERIOD_UNITS[self.kind]


def period_at(now: datetime, kind: QuotaPeriod) -> Period:
    now = now.astimezone(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if kind is QuotaPeriod.DAY:
        return Period(kind, day, day + timedelta(days=1))
    if kind is QuotaPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return Period(kind, start, end)


def job_cost(request: VideoRequest, multipliers: Mapping[str, int], audio_multiplier: float = 1.0) -> int:
    """duration x mode multiplier (a mode missing from MODE_MULTIPLIERS counts as 1), x AUDIO_MULTIPLIER with
    sound, rounded up to whole credits."""
    credits = request.duration * multipliers.get(request.mode.lower(), 1)
    if not request.audio:
        return credits
    # In decimal: 10 x 1.1 must be 11 credits, not the 12 that binary floating point's 11.000000000000002 rounds to.
    return math.ceil(Decimal(credits) * Decimal(str(audio_multiplier)))


def mode_name(mode: str) -> str:
    return "4K" if mode.lower() == "4k" else mode


def wait_words(delta: timedelta) -> str:
    """A short, rounded-up duration: "3 h 12 min", "2 d 5 h", "1 min" (English)."""
    return str(wait_message(delta))


def wait_message(delta: timedelta) -> Message:
    """`wait_words` for a member, in their language."""
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return msg("time.days_hours", days=days, hours=hours) if hours else msg("time.days", days=days)
    if hours:
        return msg("time.hours_minutes", hours=hours, minutes=minutes) if minutes else msg("time.hours", hours=hours)
    return msg("time.minutes", minutes=minutes)


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """The operator's defaults (environment); servers override the pool and the default limit, but never
    the ceilings."""

    default_user_quota: int
    default_guild_pool: int
    period: QuotaPeriod
    multipliers: Mapping[str, int]
    max_active_jobs: int
    guild_ceiling: int = 0  # credits per server per period, whatever its pool says; 0: none
    total_ceiling: int = 0  # credits for every server together per period; 0: none
    audio_multiplier: float = 1.5  # AUDIO_MULTIPLIER: a video with sound costs this much more


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's credits in the current period, and their server's pool."""

    guild_id: int
    user_id: int
    period: Period
    limit: int
    limit_is_default: bool
    granted: int
    used: int
    pool_limit: int  # 0: no pool
    pool_used: int  # everything the server used this period: what its pool and its ceiling count
    active_jobs: int = 0
    guild_ceiling: int = 0  # the operator's; 0: none
    total_ceiling: int = 0  # the operator's; 0: none
    total_used: int = 0  # every server together this period

    @property
    def allowance(self) -> int:
        return self.limit + self.granted

    @property
    def remaining(self) -> int:
        """What the member's own limit and grants leave (the pool and the ceilings aside)."""
        return max(0, self.allowance - self.used)

    @property
    def pool_remaining(self) -> int | None:
        return max(0, self.pool_limit - self.pool_used) if self.pool_limit else None

    @property
    def guild_ceiling_remaining(self) -> int | None:
        return max(0, self.guild_ceiling - self.pool_used) if self.guild_ceiling else None

    @property
    def total_ceiling_remaining(self) -> int | None:
        return max(0, self.total_ceiling - self.total_used) if self.total_ceiling else None

    @property
    def ceiling_remaining(self) -> int | None:
        """What the operator's ceilings still leave this server this period (None: no ceiling)."""
        rooms = [r for r in (self.guild_ceiling_remaining, self.total_ceiling_remaining) if r is not None]
        return min(rooms) if rooms else None

    @property
    def available(self) -> int:
        """What the member can really spend now: the least of their own room, the pool's and the ceilings'."""
        rooms = [r for r in (self.remaining, self.pool_remaining, self.ceiling_remaining) if r is not None]
        return min(rooms)


@dataclass(frozen=True, slots=True)
class PoolBalance:
    guild_id: int
    period: Period
    limit: int  # 0: no pool
    used: int
    is_default: bool
    ceiling: int = 0  # the operator's GUILD_CREDIT_CEILING; 0: none

    @property
    def ceiling_remaining(self) -> int | None:
        return max(0, self.ceiling - self.used) if self.ceiling else None

    @property
    def remaining(self) -> int:
        """What is left of the pool, never more than the operator's ceiling leaves."""
        room = max(0, self.limit - self.used)
        ceiling_room = self.ceiling_remaining
        return room if ceiling_room is None else min(room, ceiling_room)

    @property
    def capped_by_ceiling(self) -> bool:
        """Whether the operator's ceiling is tighter than the pool (or stands in for a missing pool)."""
        return bool(self.ceiling) and (not self.limit or self.limit > self.ceiling)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[LedgerEntry]
    page: int
    pages: int
    total: int  # at most HISTORY_COUNT_LIMIT
    user_id: int | None

    @property
    def more(self) -> bool:
        """Whether there are more entries than were counted (the oldest pages are then out of reach)."""
        return self.total >= HISTORY_COUNT_LIMIT


@dataclass(frozen=True, slots=True)
class JobCharge:
    """`Charge` (bot/core/ports/repositories.py) for one job: decided against the usage read in the
    transaction that inserts the job."""

    service: QuotaService
    job: Job
    period: str

    def entry(self, usage: Usage) -> LedgerEntry:
        return self.service.charge_entry(self.job, usage)


class QuotaService:
    """Credits: the charge a job takes, balances, refunds at start-up, and what moderators change (each
    change checks the actor's authority here, whatever the Discord command in front of it checked)."""

    def __init__(self, *, store: QuotaRepository, moderation: ModerationService, policy: QuotaPolicy,
                 clock: Clock, metrics: Metrics | None = None) -> None:
        self.store = store
        self.moderation = moderation
        self.policy = policy
        self.clock = clock
        self.metrics = metrics or Metrics()

    def period(self) -> Period:
        return period_at(self.clock.now(), self.policy.period)

    def cost(self, request: VideoRequest) -> int:
        return job_cost(request, self.policy.multipliers, self.policy.audio_multiplier)

    # -- the charge ----------------------------------------------------------------------------------
    def charge_for(self, job: Job) -> JobCharge:
        """The charge to insert `job` with: `job.cost` to its member and server, in the current period."""
        return JobCharge(self, job, self.period().key)

    def charge_entry(self, job: Job, usage: Usage) -> LedgerEntry:
        """The reserve row for `job`, or QuotaExceeded saying why and when to try again."""
        period = self.period()
        balance = self._balance(job.guild_id, job.user_id, period, usage)
        refusal = self._refusal(balance, job)
        if refusal:
            raise QuotaExceeded(refusal)
        return LedgerEntry(LedgerKind.RESERVE, job.guild_id, period.key, self.clock.now(), user_id=job.user_id,
                           actor_id=job.user_id, amount=job.cost, job_id=job.id)

    def _refusal(self, balance: Balance, job: Job) -> Message | None:
        cost, period = job.cost, balance.period
        video = msg("quota.video_cost", duration=job.request.duration, mode=mode_name(job.request.mode), cost=cost)
        resets = msg("quota.resets", wait=wait_message(period.end - self.clock.now()))
        if balance.allowance == 0:
            return msg("quota.refusal.zero_allowance")
        if balance.used + cost > balance.allowance:
            left = msg("quota.left.member", remaining=balance.remaining, allowance=balance.allowance,
                       period=period.word_message, video=video)
            if cost > balance.allowance:
                return msg("quota.refusal.over_allowance", left=left)
            return msg("quota.refusal.wait", left=left, resets=resets)
        if balance.pool_limit and balance.pool_used + cost > balance.pool_limit:
            left = msg("quota.left.pool", remaining=balance.pool_remaining, limit=balance.pool_limit,
                       period=period.word_message, video=video)
            if cost > balance.pool_limit:
                return msg("quota.refusal.over_pool", left=left)
            return msg("quota.refusal.wait", left=left, resets=resets)
        ceiling_refusal = self._ceiling_refusal(balance, cost, video, resets)
        if ceiling_refusal:
            return ceiling_refusal
        limit = self.policy.max_active_jobs
        if balance.active_jobs >= limit:
            return msg("quota.refusal.active_one" if balance.active_jobs == 1 else "quota.refusal.active_many",
                       count=balance.active_jobs, limit=limit)
        return None

    @staticmethod
    def _ceiling_refusal(balance: Balance, cost: int, video: Message, resets: Message) -> Message | None:
        """The operator's ceilings: this server's, then every server's together (never naming another)."""
        period = balance.period
        if balance.guild_ceiling and balance.pool_used + cost > balance.guild_ceiling:
            left = msg("quota.left.guild_ceiling", remaining=balance.guild_ceiling_remaining,
                       ceiling=balance.guild_ceiling, period=period.word_message, video=video)
            if cost > balance.guild_ceiling:
                return msg("quota.refusal.over_guild_ceiling", left=left, unit=period.unit_message)
            return msg("quota.refusal.wait", left=left, resets=resets)
        if balance.total_ceiling and balance.total_used + cost > balance.total_ceiling:
            left = msg("quota.left.total_ceiling", remaining=balance.total_ceiling_remaining,
                       ceiling=balance.total_ceiling, period=period.word_message, video=video)
            if cost > balance.total_ceiling:
                return msg("quota.refusal.over_total_ceiling", left=left)
            return msg("quota.refusal.wait", left=left, resets=resets)
        return None

    async def refund(self, job: Job, reason: str) -> None:
        """Give a failed job's charge back (into the period it was charged in). Safe to call any number
        of times: only the first call for a job writes a refund."""
        refunded = await self.store.refund(job.id, self.clock.now(), reason[:300])
        if refunded is not None:
            self.metrics.credits(CreditKind.REFUND, refunded)
            log.info("job %s: refunded %d credits", job.id, refunded)

    async def refund_missed(self) -> int:
        """At start-up: refund failed jobs whose refund was never written. A failure and its refund are one
        transaction, so this is a safety net for jobs failed another way (an operator's edit, a database
        restored from an older bot); it looks back `REFUND_SWEEP_DAYS`, not through all history (at a
        million jobs that read cost a third of a second at every start)."""
        since = self.clock.now() - timedelta(days=REFUND_SWEEP_DAYS)
        job_ids = await self.store.failed_without_refund(since)
        for job_id in job_ids:
            refunded = await self.store.refund(job_id, self.clock.now(), "refunded at start-up")
            if refunded is not None:
                self.metrics.credits(CreditKind.REFUND, refunded)
        if job_ids:
            log.info("refunded %d failed job(s) that had not been refunded", len(job_ids))
        return len(job_ids)

    # -- balances --------------------------------------------------------------------------------------
    def _balance(self, guild_id: int, user_id: int, period: Period, usage: Usage) -> Balance:
        default = usage.default_quota if usage.default_quota is not None else self.policy.default_user_quota
        return Balance(
            guild_id=guild_id, user_id=user_id, period=period,
            limit=usage.member_limit if usage.member_limit is not None else default,
            limit_is_default=usage.member_limit is None, granted=usage.granted, used=usage.used,
            pool_limit=usage.pool_limit if usage.pool_limit is not None else self.policy.default_guild_pool,
            pool_used=usage.pool_used, active_jobs=usage.active_jobs, guild_ceiling=self.policy.guild_ceiling,
            total_ceiling=self.policy.total_ceiling, total_used=usage.total_used,
        )

    async def balance(self, guild_id: int, user_id: int) -> Balance:
        period = self.period()
        usage = await self.store.usage(guild_id, user_id, period.key)
        return self._balance(guild_id, user_id, period, usage)

    async def show(self, viewer: Actor, user_id: int | None = None) -> Balance:
        """`/quota show`: anyone sees their own; only moderators see another member's."""
        target = viewer.user_id if user_id is None else user_id
        if target != viewer.user_id:
            await self.moderation.require_moderator(viewer)
        return await self.balance(viewer.guild_id, target)

    async def pool(self, guild_id: int) -> PoolBalance:
        period = self.period()
        usage = await self.store.usage(guild_id, 0, period.key)
        return self._pool(guild_id, period, usage)

    def _pool(self, guild_id: int, period: Period, usage: Usage) -> PoolBalance:
        is_default = usage.pool_limit is None
        limit = self.policy.default_guild_pool if usage.pool_limit is None else usage.pool_limit
        return PoolBalance(guild_id, period, limit, usage.pool_used, is_default, ceiling=self.policy.guild_ceiling)

    # -- moderator changes -------------------------------------------------------------------------------
    async def set_limit(self, actor: Actor, user_id: int, credits: int) -> Balance:
        """A member's own per-period limit (0 stops them)."""
        await self.moderation.require_moderator(actor)
        _check_amount(credits, allow_zero=True)
        await self.store.set_member_limit(
            self._entry(LedgerKind.LIMIT, actor, user_id=user_id, amount=credits),
            lambda before: f"was {before}" if before is not None else "was the server default",
        )
        return await self.balance(actor.guild_id, user_id)

    async def grant(self, actor: Actor, user_id: int, credits: int) -> Balance:
        """Extra credits for a member in the current period."""
        await self.moderation.require_moderator(actor)
        _check_amount(credits, allow_zero=False)
        await self.store.append(self._entry(LedgerKind.GRANT, actor, user_id=user_id, amount=credits))
        self.metrics.credits(CreditKind.GRANT, credits)
        return await self.balance(actor.guild_id, user_id)

    async def reset(self, actor: Actor, user_id: int) -> tuple[int, Balance]:
        """Clear what a member has used this period (grants stay); returns the credits cleared."""
        await self.moderation.require_moderator(actor)
        used = await self.store.reset_member(self._entry(LedgerKind.RESET, actor, user_id=user_id, amount=0))
        return used, await self.balance(actor.guild_id, user_id)

    async def set_pool(self, actor: Actor, credits: int) -> PoolBalance:
        """The server's shared pool per period (0: no pool)."""
        await self.moderation.require_moderator(actor)
        _check_amount(credits, allow_zero=True)
        await self.store.set_pool_limit(self._entry(LedgerKind.POOL, actor, amount=credits))
        return await self.pool(actor.guild_id)

    async def set_default(self, actor: Actor, credits: int) -> int:
        """The per-period limit of every member without one of their own."""
        await self.moderation.require_moderator(actor)
        _check_amount(credits, allow_zero=True)
        await self.store.set_default_quota(self._entry(LedgerKind.DEFAULT, actor, amount=credits))
        return credits

    def _entry(self, kind: LedgerKind, actor: Actor, *, user_id: int | None = None, amount: int) -> LedgerEntry:
        return LedgerEntry(kind, actor.guild_id, self.period().key, self.clock.now(), user_id=user_id,
                           actor_id=actor.user_id, amount=amount)

    async def history(self, actor: Actor, user_id: int | None = None, page: int = 1) -> HistoryPage:
        """The ledger, newest first, `HISTORY_PAGE_SIZE` rows a page (the last page when `page` is past it)."""
        await self.moderation.require_moderator(actor)
        return await self._history(actor.guild_id, user_id, page)

    async def _history(self, guild_id: int, user_id: int | None, page: int) -> HistoryPage:
        page = max(1, page)
        page = min(page, HISTORY_COUNT_LIMIT // HISTORY_PAGE_SIZE)
        entries, total = await self.store.history(guild_id, user_id, offset=(page - 1) * HISTORY_PAGE_SIZE,
                                                  limit=HISTORY_PAGE_SIZE, count_up_to=HISTORY_COUNT_LIMIT)
        pages = max(1, math.ceil(total / HISTORY_PAGE_SIZE))
        if page > pages:
            return await self._history(guild_id, user_id, pages)
        return HistoryPage(entries, page, pages, total, user_id)


def _check_amount(credits: int, *, allow_zero: bool) -> None:
    lowest = 0 if allow_zero else 1
    if not lowest <= credits <= MAX_CREDITS:
        raise InvalidRequest("error.credits_range", lowest=lowest, highest=MAX_CREDITS)
