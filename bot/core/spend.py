"""Money: what a job is estimated to cost (PROVIDER_PRICES), what the provider reports it cost, the operator's
daily spend limit (SPEND_LIMIT_PER_DAY), the `/quota spend` report, and the provider balance watch.

Money is `Decimal` everywhere here, never float. One currency for the account (SPEND_CURRENCY, a label only).
A job's spend is what its provider reported, in money (runblob's `price`) or in units converted with
PROVIDER_UNIT_PRICE (Kling's `final_unit_deduction`), else the estimate taken when it was accepted. Failed jobs
are refunded (bot/core/lifecycle.py) and never count.

The limit is checked in the transaction that inserts and charges a job (`SpendCharge`, storage/jobs.py), so
twenty `/video` at once cannot overshoot it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.core.alerts import Alerts
from bot.core.clock import Clock
from bot.core.errors import QuotaExceeded
from bot.core.messages import Message, msg
from bot.core.metrics import Metrics
from bot.core.models import Job, VideoRequest
from bot.core.moderation import Actor, ModerationService
from bot.core.ports.provider import BalanceReader, ReportedCost
from bot.core.ports.repositories import MemberSpend, SpendRepository, SpendTotals, StoredBalance
from bot.core.quotas import Period, QuotaPeriod, period_at, wait_message

log = logging.getLogger(__name__)

AUDIO_PRICE_KEY = "audio"  # PROVIDER_PRICES' optional extra per second when a video has sound
BALANCE_INTERVAL_SECONDS = 3600.0  # a provider's balance is read at most once an hour
TOP_MEMBERS = 10
LIMIT_ALERT = "spend-limit:"  # + the UTC day: one alert per day the limit is reached
LOW_BALANCE_ALERT = "low-balance"


class SpendPeriod(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def format_money(amount: Decimal, label: str) -> str:
    """`0.84 USD`, `0.084 USD`, `12.50 USD`: two decimals, up to four when a per-second price needs them."""
    rounded = amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.4f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')} {label}"


def format_units(amount: Decimal) -> str:
    text = f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}".rstrip("0").rstrip(".")
    return f"{text} unit{'' if amount == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class SpendPolicy:
    """The operator's money settings."""

    currency: str = "USD"  # SPEND_CURRENCY: only a label
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # PROVIDER_PRICES: per second, by mode
    unit_price: Decimal | None = None  # PROVIDER_UNIT_PRICE: money per provider unit
    limit_per_day: Decimal | None = None  # SPEND_LIMIT_PER_DAY; None: no limit
    low_balance: Decimal | None = None  # LOW_BALANCE_ALERT, in the unit the provider reports its balance in
    audio_multiplier: Decimal = Decimal(1)  # a video with sound, when PROVIDER_PRICES has no "audio" price

    def estimate(self, request: VideoRequest) -> Decimal | None:
        """duration x the mode's price per second, for a video with sound plus the "audio" price per second (or
        times `audio_multiplier` without one); None when PROVIDER_PRICES has no price for the mode."""
        rate = self.prices.get(request.mode.lower())
        if rate is None:
            return None
        if request.audio:
            extra = self.prices.get(AUDIO_PRICE_KEY)
            rate = rate + extra if extra is not None else rate * self.audio_multiplier
        return rate * request.duration

    def stored_fields(self, reported: ReportedCost | None) -> dict[str, Decimal]:
        """The job fields a provider's reported cost sets: `reported_cost` in money (units converted with
        PROVIDER_UNIT_PRICE when it is set), and `reported_units` as the provider said them."""
        if reported is None:
            return {}
        if not reported.units:
            return {"reported_cost": reported.amount}
        fields = {"reported_units": reported.amount}
        if self.unit_price is not None:
            fields["reported_cost"] = reported.amount * self.unit_price
        return fields

    def amount_text(self, amount: Decimal) -> str:
        return format_money(amount, self.currency)


class SpendLimitReached(QuotaExceeded):
    """SPEND_LIMIT_PER_DAY would be passed: nothing charged."""

    def __init__(self, message: Message, day: str) -> None:
        super().__init__(message)
        self.day = day


@dataclass(frozen=True, slots=True)
class DailySpendCharge:
    """`SpendCharge` (bot/core/ports/repositories.py) for one job: decided inside the insert's transaction."""

    estimate: Decimal | None
    day: str
    limit: Decimal | None
    resets_in: timedelta

    @property
    def limited(self) -> bool:
        return self.limit is not None

    def check(self, spent: Decimal) -> None:
        if self.limit is None:
            return
        if spent + (self.estimate or Decimal(0)) <= self.limit:
            return
        hint = msg("spend.limit_hint") if spent < self.limit else ""
        raise SpendLimitReached(msg("spend.limit_reached", hint=hint, wait=wait_message(self.resets_in)), self.day)


@dataclass(frozen=True, slots=True)
class SpendReport:
    """`/quota spend`: one server's spend in a period, the whole account's, and the daily limit."""

    period: Period
    currency: str
    server: SpendTotals
    account: SpendTotals  # every server together
    members: list[MemberSpend]
    today: SpendTotals  # every server, today (UTC): what the daily limit counts
    limit_per_day: Decimal | None
    balance: StoredBalance | None
    unit_price: Decimal | None


class SpendService:
    """Estimates and the daily limit at intake, the report for moderators, and the limit's alert."""

    def __init__(self, *, policy: SpendPolicy, store: SpendRepository, moderation: ModerationService, clock: Clock,
                 alerts: Alerts | None = None) -> None:
        self.policy = policy
        self.store = store
        self.moderation = moderation
        self.clock = clock
        self.alerts = alerts

    def charge_for(self, job: Job) -> DailySpendCharge:
        today = period_at(self.clock.now(), QuotaPeriod.DAY)
        return DailySpendCharge(self.policy.estimate(job.request), today.key, self.policy.limit_per_day,
                                today.end - self.clock.now())

    def refused(self, refusal: SpendLimitReached) -> None:
        """The limit turned a job away: the operator hears of it once that day (kept across restarts by the
        alerts' own notes)."""
        if self.alerts is None or self.policy.limit_per_day is None:
            return
        self.alerts.raise_incident(LIMIT_ALERT + refusal.day, (
            f"Alert: SPEND_LIMIT_PER_DAY ({self.policy.amount_text(self.policy.limit_per_day)}) is reached for "
            f"{refusal.day} (UTC): new videos are refused, nothing charged, until the day ends. Raise the limit "
            "and restart the bot if that is too low; `/quota spend` shows who spent what."))

    def accepted(self, job: Job) -> None:
        """A job fitted: a limit alert of an earlier day is over."""
        if self.alerts is None:
            return
        today = period_at(self.clock.now(), QuotaPeriod.DAY).key
        for key in self.alerts.open_incidents:
            if key.startswith(LIMIT_ALERT) and key != LIMIT_ALERT + today:
                self.alerts.clear(key, f"Cleared: a new day began (UTC), so videos fit in SPEND_LIMIT_PER_DAY "
                                       f"again (it was reached on {key.removeprefix(LIMIT_ALERT)}).")

    async def report(self, actor: Actor, period: SpendPeriod = SpendPeriod.DAY) -> SpendReport:
        """`/quota spend`: moderators only, whatever Discord's command permissions say."""
        await self.moderation.require_moderator(actor)
        now = self.clock.now()
        chosen = period_at(now, QuotaPeriod(period.value))
        first, end = chosen.key, chosen.end.date().isoformat()
        today = period_at(now, QuotaPeriod.DAY)
        return SpendReport(
            period=chosen, currency=self.policy.currency,
            server=await self.store.totals(first, end, actor.guild_id),
            account=await self.store.totals(first, end, None),
            members=await self.store.top_members(first, end, actor.guild_id, TOP_MEMBERS),
            today=await self.store.totals(today.key, today.end.date().isoformat(), None),
            limit_per_day=self.policy.limit_per_day, balance=await self.store.latest_balance(),
            unit_price=self.policy.unit_price,
        )


def balance_reader(provider: Any) -> BalanceReader | None:
    """The provider itself when its adapter can read the account's balance (it has a `balance` method)."""
    return provider if callable(getattr(provider, "balance", None)) else None


class BalanceWatch:
    """Reads the provider's balance at most once an hour (also across restarts: the last reading's time is
    stored), keeps it for `/quota spend` and the metrics, and raises LOW_BALANCE_ALERT once per crossing: the
    alert opens when the balance falls below the threshold and clears when it is back above."""

    def __init__(self, *, reader: BalanceReader, provider_name: str, store: SpendRepository, alerts: Alerts,
                 clock: Clock, policy: SpendPolicy, metrics: Metrics | None = None,
                 interval: float = BALANCE_INTERVAL_SECONDS,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.reader = reader
        self.provider = provider_name
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.policy = policy
        self.metrics = metrics or Metrics()
        self.interval = interval
        # Wall-clock waits, like the bot's other upkeep loops (bot/core/retention.py): a test's clock that jumps
        # ahead on every sleep must not be moved by an hourly loop it knows nothing of.
        self.sleep = sleep

    async def run(self) -> None:
        """The background loop (bot/core/background.py watches it). Never ends on its own."""
        await self.sleep(await self._first_wait())
        while True:
            await self.check_once()
            await self.sleep(self.interval)

    async def _first_wait(self) -> float:
        try:
            latest = await self.store.latest_balance()
        except Exception:
            log.warning("could not read the last provider balance; reading it now", exc_info=True)
            return 0.0
        if latest is None or latest.provider != self.provider:
            return 0.0
        age = (self.clock.now() - latest.at).total_seconds()
        return max(0.0, self.interval - age)

    async def check_once(self) -> StoredBalance | None:
        """One reading; never raises (a failed reading is logged and tried again next time)."""
        try:
            balance = await self.reader.balance()
        except Exception as exc:
            log.warning("could not read the %s account balance: %s", self.provider, exc)
            return None
        stored = StoredBalance(self.provider, balance.amount, balance.units, self.clock.now())
        try:
            await self.store.save_balance(stored)
        except Exception:
            log.warning("could not store the %s account balance", self.provider, exc_info=True)
        self.metrics.provider_balance(self.provider, float(balance.amount))
        self._alert(stored)
        return stored

    def _alert(self, balance: StoredBalance) -> None:
        threshold = self.policy.low_balance
        if threshold is None:
            return
        left = provider_balance_text(balance, self.policy.currency)
        limit = format_units(threshold) if balance.units else format_money(threshold, self.policy.currency)
        if balance.amount < threshold:
            self.alerts.raise_incident(LOW_BALANCE_ALERT, (
                f"Alert: the {self.provider} account has {left} left, below LOW_BALANCE_ALERT ({limit}). Top it "
                f"up before it runs out: jobs fail (and are refunded) once it is empty."))
        else:
            self.alerts.clear(LOW_BALANCE_ALERT, f"Cleared: the {self.provider} account has {left} again, "
                                                 f"above LOW_BALANCE_ALERT ({limit}).")


def provider_balance_text(balance: StoredBalance, currency: str) -> str:
    return format_units(balance.amount) if balance.units else format_money(balance.amount, currency)


def when_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
