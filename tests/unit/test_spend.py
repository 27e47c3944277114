"""Money in the core: estimates from PROVIDER_PRICES, reported costs turned into job fields, the daily limit's
decision, amounts as shown, the settings that feed them, and the balance watch over a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, spend_policy
from bot.core.alerts import Alerts
from bot.core.confirmations import PendingStart, _from_json, _to_json
from bot.core.errors import QuotaExceeded
from bot.core.jobs import ImageInput, Submission
from bot.core.models import VideoRequest
from bot.core.ports.provider import AccountBalance, ReportedCost
from bot.core.spend import BalanceWatch, DailySpendCharge, SpendPolicy, format_money, format_units
from storage.database import Database
from storage.spend import SpendStore, from_micros, to_micros
from tests.clock import FakeClock
from tests.unit.test_alerts import RecordingSink

PRICES = {"std": Decimal("0.084"), "pro": Decimal("0.112")}


def request(duration: int = 5, mode: str = "std", audio: bool = False) -> VideoRequest:
    return VideoRequest(prompt="a fox", duration=duration, aspect="16:9", mode=mode, audio=audio)


@pytest.mark.parametrize(("amount", "shown"), [
    (Decimal("0.84"), "0.84 USD"), (Decimal("0.084"), "0.084 USD"), (Decimal("12.5"), "12.50 USD"),
    (Decimal("0.00004"), "0.00 USD"), (Decimal("1234.56789"), "1,234.5679 USD"), (Decimal(0), "0.00 USD")])
def test_amounts_show_two_to_four_decimals(amount: Decimal, shown: str) -> None:
    assert format_money(amount, "USD") == shown


def test_units_read_as_units() -> None:
    assert format_units(Decimal("800")) == "800 units"
    assert format_units(Decimal("1")) == "1 unit"
    assert format_units(Decimal("2.50")) == "2.5 units"


def test_the_estimate_is_seconds_times_the_price_of_the_mode() -> None:
    policy = SpendPolicy(prices=PRICES, audio_multiplier=Decimal("1.5"))
    assert policy.estimate(request(10, "pro")) == Decimal("1.120")
    assert policy.estimate(request(10, "std", audio=True)) == Decimal("1.2600")  # AUDIO_MULTIPLIER
    with_audio_price = SpendPolicy(prices={**PRICES, "audio": Decimal("0.042")})
    assert with_audio_price.estimate(request(10, "std", audio=True)) == Decimal("1.260")
    assert policy.estimate(request(5, "4k")) is None  # no price for the mode


def test_reported_costs_become_job_fields() -> None:
    plain = SpendPolicy()
    assert plain.stored_fields(None) == {}
    assert plain.stored_fields(ReportedCost(Decimal("0.50"))) == {"reported_cost": Decimal("0.50")}
    assert plain.stored_fields(ReportedCost(Decimal(3), units=True)) == {"reported_units": Decimal(3)}
    priced = SpendPolicy(unit_price=Decimal("0.14"))
    assert priced.stored_fields(ReportedCost(Decimal(3), units=True)) == {
        "reported_units": Decimal(3), "reported_cost": Decimal("0.42")}


def test_the_daily_limit_lets_a_job_fit_exactly_and_no_more() -> None:
    charge = DailySpendCharge(Decimal("0.50"), "2026-11-20", Decimal("1.50"), timedelta(hours=3))
    charge.check(Decimal("1.00"))
    with pytest.raises(QuotaExceeded) as refused:
        charge.check(Decimal("1.01"))
    assert "A shorter video" in str(refused.value) and "3 h" in str(refused.value)
    with pytest.raises(QuotaExceeded) as full:
        charge.check(Decimal("1.50"))
    assert "A shorter video" not in str(full.value)
    DailySpendCharge(Decimal("9"), "2026-11-20", None, timedelta(hours=1)).check(Decimal("1000"))  # no limit


def test_micro_units_round_trip_exactly() -> None:
    for amount in (Decimal("0.084"), Decimal("1234.567891"), Decimal(0)):
        assert from_micros(to_micros(amount)) == amount


def test_settings_make_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_PRICES", '{"STD": 0.084, "pro": 0.112}')
    monkeypatch.setenv("SPEND_LIMIT_PER_DAY", "25")
    monkeypatch.setenv("SPEND_CURRENCY", "EUR")
    policy = spend_policy(load_settings(discord_token="token"))
    assert policy.prices == PRICES and policy.limit_per_day == Decimal(25) and policy.currency == "EUR"


def test_a_limit_without_a_price_for_every_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_PRICES", '{"std": 0.084}')
    monkeypatch.setenv("SPEND_LIMIT_PER_DAY", "25")
    with pytest.raises(ConfigError) as refused:
        load_settings(discord_token="token")
    assert str(refused.value).startswith("PROVIDER_PRICES: SPEND_LIMIT_PER_DAY needs a price per second for every "
                                         "mode of sandbox (missing: pro)")


def test_a_negative_price_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEND_LIMIT_PER_DAY", "-1")
    with pytest.raises(ConfigError, match="SPEND_LIMIT_PER_DAY"):
        load_settings(discord_token="token")


def test_a_held_submission_comes_back_whole() -> None:
    submission = Submission(guild_id=1, channel_id=2, user_id=3, prompt="a fox", duration=10, mode="pro",
                            images=(ImageInput("https://cdn.example/a.png", "image/png", 100, "a.png"),),
                            checked_image_urls=("https://cdn.example/b.png",))
    start = PendingStart(3, 2, submission=submission)
    assert _from_json(_to_json(start)) == start
    rerun = PendingStart(3, 2, rerun_of="0123456789abcdef", prompt="a hare")
    assert _from_json(_to_json(rerun)) == rerun


# -- the balance watch -----------------------------------------------------------------------------------------
class Account:
    def __init__(self) -> None:
        self.left = Decimal(800)
        self.reads = 0
        self.broken = False

    async def balance(self) -> AccountBalance:
        self.reads += 1
        if self.broken:
            raise ConnectionError("unreachable")
        return AccountBalance(self.left, units=True)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SpendStore]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield SpendStore(database)
    await database.close()


async def test_a_low_balance_alerts_once_per_crossing(store: SpendStore) -> None:
    clock, sink, account = FakeClock(), RecordingSink(), Account()
    alerts = Alerts([sink], clock)
    watch = BalanceWatch(reader=account, provider_name="kling", store=store, alerts=alerts, clock=clock,
                         policy=SpendPolicy(low_balance=Decimal(500)))
    for left in (800, 400, 300, 200, 900, 450):
        account.left = Decimal(left)
        await watch.check_once()
        clock.advance(3600)  # readings are an hour apart
    await alerts.drained()
    assert sink.messages == [
        "Alert: the kling account has 400 units left, below LOW_BALANCE_ALERT (500 units). Top it up before it runs "
        "out: jobs fail (and are refunded) once it is empty.",
        "Cleared: the kling account has 900 units again, above LOW_BALANCE_ALERT (500 units).",
        "Alert: the kling account has 450 units left, below LOW_BALANCE_ALERT (500 units). Top it up before it runs "
        "out: jobs fail (and are refunded) once it is empty.",
    ]
    latest = await store.latest_balance()
    assert latest is not None and latest.amount == Decimal(450) and latest.units
    assert latest.at == clock.now() - timedelta(hours=1)


async def test_the_watch_reads_at_most_hourly_across_restarts(store: SpendStore) -> None:
    clock, account = FakeClock(), Account()
    alerts = Alerts([], clock)

    def watch() -> BalanceWatch:
        return BalanceWatch(reader=account, provider_name="kling", store=store, alerts=alerts, clock=clock,
                            policy=SpendPolicy(), sleep=clock.sleep)

    first = asyncio.create_task(watch().run())
    while account.reads < 3:
        await asyncio.sleep(0)
    first.cancel()
    assert clock.slept[:3] == [0.0, 3600.0, 3600.0]  # read at once, then hourly
    clock.advance(1200)  # a restart 20 minutes after the last reading
    clock.slept.clear()
    second = asyncio.create_task(watch().run())
    while not clock.slept:
        await asyncio.sleep(0)
    second.cancel()
    assert clock.slept[0] == pytest.approx(2400.0)  # waits out the rest of the hour first


async def test_a_failed_reading_is_logged_and_the_loop_goes_on(store: SpendStore) -> None:
    clock, account = FakeClock(), Account()
    account.broken = True
    watch = BalanceWatch(reader=account, provider_name="kling", store=store, alerts=Alerts([], clock), clock=clock,
                         policy=SpendPolicy(low_balance=Decimal(1)))
    assert await watch.check_once() is None
    assert await store.latest_balance() is None


async def test_the_daily_limit_reads_its_covering_index_alone(tmp_path: Path) -> None:
    """It runs inside every charged /video's transaction: one index range, never the jobs table."""
    database = await Database.open(tmp_path / "plan.sqlite3")
    try:
        rows = await database.run(lambda connection: connection.execute(
            "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(COALESCE(reported_cost, estimated_cost, 0)), 0) FROM jobs "
            "WHERE spend_day = ? AND status != 'failed'", ("2026-11-20",)).fetchall())
    finally:
        await database.close()
    assert [row["detail"] for row in rows] == ["SEARCH jobs USING COVERING INDEX jobs_spend_by_day (spend_day=?)"]
