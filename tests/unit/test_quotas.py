"""Credits against real SQLite: the charge in the insert's transaction, races, refunds, periods, moderator changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import NotAllowed, QuotaExceeded, UserFacingError
from bot.core.jobs import Submission
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.moderation import Actor
from bot.core.ports.repositories import LedgerKind
from bot.core.quotas import QuotaPeriod, job_cost, period_at, wait_words
from bot.discord_adapter import render_quotas
from storage.database import Database
from tests.clock import FakeClock
from tests.unit.world import ALICE, BOB, CAROL, CHANNEL, GUILD, MOD, World, make_world


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    yield w
    await w.database.close()


def moderator() -> Actor:
    return Actor(GUILD, MOD, permissions=1 << 5)


async def outcomes(coros: list[Any]) -> tuple[list[Job], list[BaseException]]:
    results = await asyncio.gather(*coros, return_exceptions=True)
    accepted = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, BaseException)]
    return accepted, refused


# -- periods and costs ---------------------------------------------------------------------------------
def test_periods_are_utc_days_mondays_and_months() -> None:
    at = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)  # a Friday
    day = period_at(at, QuotaPeriod.DAY)
    assert (day.start, day.end) == (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    week = period_at(at, QuotaPeriod.WEEK)
    assert (week.start, week.end) == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    assert week.start.weekday() == 0
    december = period_at(datetime(2026, 12, 31, 12, tzinfo=UTC), QuotaPeriod.MONTH)
    assert (december.start, december.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_at(datetime(2026, 11, 23, 0, 0, tzinfo=UTC), QuotaPeriod.WEEK).key == "2026-11-23"


def test_cost_is_duration_times_the_mode_multiplier() -> None:
    multipliers = {"std": 1, "pro": 2, "4k": 4}
    assert job_cost(VideoRequest("x", 10, "16:9", "std"), multipliers) == 10
    assert job_cost(VideoRequest("x", 10, "16:9", "pro"), multipliers) == 20
    assert job_cost(VideoRequest("x", 15, "16:9", "4k"), multipliers) == 60


def test_wait_words_round_up() -> None:
    from datetime import timedelta
    assert wait_words(timedelta(hours=3, minutes=11, seconds=1)) == "3 h 12 min"
    assert wait_words(timedelta(seconds=5)) == "1 min"
    assert wait_words(timedelta(days=2, hours=5)) == "2 d 5 h"
    assert wait_words(timedelta(hours=2)) == "2 h"


# -- races -------------------------------------------------------------------------------------------------
async def test_twenty_simultaneous_accepts_with_room_for_three(tmp_path: Path) -> None:
    w = await make_world(tmp_path, default_user_quota=30)
    try:
        accepted, refused = await outcomes([w.video(duration=10) for _ in range(20)])
        assert len(accepted) == 3 and len(refused) == 17
        assert all(isinstance(e, QuotaExceeded) for e in refused)
        balance = await w.quotas.balance(GUILD, ALICE)
        assert (balance.used, balance.remaining) == (30, 0)
        assert len(await w.store.recent_for_user(GUILD, ALICE, 50)) == 3  # refused jobs rolled back
        ledger = await w.ledger()
        assert [row["kind"] for row in ledger] == ["reserve"] * 3
        assert {row["job_id"] for row in ledger} == {job.id for job in accepted}
    finally:
        await w.database.close()


async def test_twenty_simultaneous_accepts_against_a_small_pool(tmp_path: Path) -> None:
    w = await make_world(tmp_path, default_user_quota=100, default_guild_pool=50)
    try:
        users = [ALICE, BOB, CAROL]
        accepted, refused = await outcomes([w.video(user=users[i % 3], duration=10) for i in range(20)])
        assert len(accepted) == 5 and len(refused) == 15
        assert all("shared pool" in str(e) for e in refused)
        pool = await w.quotas.pool(GUILD)
        assert (pool.used, pool.remaining) == (50, 0)
        # Fail two: the pool gets them back, exactly; the ledger balances.
        for job in accepted[:2]:
            await w.lifecycle.fail(job.id, JobStatus.QUEUED, "provider refused")
        assert (await w.quotas.pool(GUILD)).used == 30
        ledger = await w.ledger()
        reserves = sum(r["amount"] for r in ledger if r["kind"] == "reserve")
        refunds = sum(r["amount"] for r in ledger if r["kind"] == "refund")
        used = sum([(await w.quotas.balance(GUILD, u)).used for u in users])
        assert reserves - refunds == used == 30
        assert all(r["amount"] >= 0 for r in ledger)
        accepted2, _ = await outcomes([w.video(user=BOB, duration=10) for _ in range(5)])
        assert len(accepted2) == 2
    finally:
        await w.database.close()


async def test_active_job_limit_is_checked_in_the_same_transaction(tmp_path: Path) -> None:
    w = await make_world(tmp_path, max_active_jobs=2)
    try:
        accepted, refused = await outcomes([w.video() for _ in range(20)])
        assert len(accepted) == 2
        assert "You already have 2 videos in progress" in str(refused[0])
        # A finished-but-undelivered job still counts; a failed or delivered one does not.
        await w.store.transition(accepted[0].id, JobStatus.QUEUED, JobStatus.SUBMITTED, w.clock.now())
        await w.store.transition(accepted[0].id, JobStatus.SUBMITTED, JobStatus.COMPLETED, w.clock.now())
        with pytest.raises(QuotaExceeded):
            await w.video()
        await w.lifecycle.fail(accepted[1].id, JobStatus.QUEUED, "gone")
        assert (await w.video()).status is JobStatus.QUEUED
    finally:
        await w.database.close()


# -- refunds ---------------------------------------------------------------------------------------------------
async def test_a_refund_happens_once_however_often_it_is_attempted(world: World) -> None:
    job = await world.video(duration=10, mode="pro")
    assert (await world.quotas.balance(GUILD, ALICE)).used == 20
    assert await world.lifecycle.fail(job.id, JobStatus.QUEUED, "refused") is not None
    assert await world.lifecycle.fail(job.id, JobStatus.QUEUED, "refused again") is None  # already failed
    await world.quotas.refund(job, "again")
    await asyncio.gather(*[world.quotas.refund(job, "in parallel") for _ in range(5)])
    ledger = await world.ledger()
    assert [(r["kind"], r["amount"]) for r in ledger] == [("reserve", 20), ("refund", 20)]
    assert (await world.quotas.balance(GUILD, ALICE)).used == 0


async def test_failed_jobs_without_their_refund_are_refunded_at_start_up(world: World) -> None:
    job = await world.video()
    other = await world.video()
    # What a crash between the FAILED write and the refund leaves behind:
    await world.store.transition(job.id, JobStatus.QUEUED, JobStatus.FAILED, world.clock.now())
    assert (await world.quotas.balance(GUILD, ALICE)).used == 10
    assert await world.quotas.refund_missed() == 1
    assert await world.quotas.refund_missed() == 0
    assert (await world.quotas.balance(GUILD, ALICE)).used == 5
    kinds = [(r["kind"], r["job_id"]) for r in await world.ledger()]
    assert kinds.count(("refund", job.id)) == 1 and ("refund", other.id) not in kinds


async def test_a_job_that_was_never_charged_refunds_nothing(world: World) -> None:
    job = await world.video()
    await world.database.connection.execute("DELETE FROM quota_ledger")
    await world.quotas.refund(job, "nothing to give back")
    assert await world.ledger() == []


# -- periods --------------------------------------------------------------------------------------------
async def test_usage_rolls_over_at_midnight_utc_and_a_late_refund_goes_to_its_own_day(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 23, 58, tzinfo=UTC))
    w = await make_world(tmp_path, clock, default_user_quota=10)
    try:
        late = await w.video(duration=10)
        with pytest.raises(QuotaExceeded, match="Resets in 2 min"):
            await w.video(duration=5)
        clock.advance(3 * 60)  # 00:01 the next day
        fresh = await w.quotas.balance(GUILD, ALICE)
        assert (fresh.used, fresh.remaining, fresh.period.key) == (0, 10, "2026-11-21")
        today = await w.video(duration=10)
        await w.lifecycle.fail(late.id, JobStatus.QUEUED, "failed after midnight")
        assert (await w.quotas.balance(GUILD, ALICE)).used == 10  # yesterday's refund does not free today
        assert today.cost == 10
    finally:
        await w.database.close()


async def test_weekly_periods_start_on_monday(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 22, 23, 0, tzinfo=UTC))  # Sunday 23:00
    w = await make_world(tmp_path, clock, default_user_quota=5, period=QuotaPeriod.WEEK)
    try:
        await w.video()
        with pytest.raises(QuotaExceeded, match=r"left this week; .* Resets in 1 h\."):
            await w.video()
        clock.advance(3600)
        assert (await w.video()).status is JobStatus.QUEUED
    finally:
        await w.database.close()


# -- the member's message ---------------------------------------------------------------------------------------
async def test_the_refusal_says_what_is_left_what_it_costs_and_when_it_resets(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 20, 48, tzinfo=UTC))
    w = await make_world(tmp_path, clock, default_user_quota=30, default_guild_pool=500)
    try:
        await w.video(duration=5, mode="pro")
        await w.video(duration=15, mode="std")
        with pytest.raises(QuotaExceeded) as refused:
            await w.video(duration=10, mode="pro")
        assert str(refused.value) == (
            "You have 5 of 30 credits left today; a 10 s pro video costs 20. Resets in 3 h 12 min."
        )
        await w.quotas.set_pool(moderator(), 32)
        await w.quotas.grant(moderator(), ALICE, 100)
        with pytest.raises(QuotaExceeded) as pool_refused:
            await w.video(duration=10, mode="pro")
        assert str(pool_refused.value) == (
            "The server's shared pool has 7 of 32 credits left today; a 10 s pro video costs 20. "
            "Resets in 3 h 12 min."
        )
    finally:
        await w.database.close()


# -- moderator changes -------------------------------------------------------------------------------------------
async def test_overrides_grants_and_a_limit_of_zero(world: World) -> None:
    await world.quotas.set_limit(moderator(), ALICE, 0)
    with pytest.raises(QuotaExceeded, match="limit on this server is 0 credits"):
        await world.video()
    assert (await world.quotas.balance(GUILD, BOB)).limit == 60  # others keep the default
    balance = await world.quotas.set_limit(moderator(), ALICE, 10)
    assert (balance.limit, balance.limit_is_default) == (10, False)
    await world.video(duration=10)
    with pytest.raises(QuotaExceeded, match="You have 0 of 10 credits left today"):
        await world.video(duration=5)
    balance = await world.quotas.grant(moderator(), ALICE, 5)
    assert (balance.allowance, balance.remaining) == (15, 5)
    await world.video(duration=5)
    with pytest.raises(QuotaExceeded, match="more than your whole allowance"):
        await world.video(duration=15, mode="4k")
    await world.quotas.set_default(moderator(), 7)
    assert (await world.quotas.balance(GUILD, BOB)).limit == 7
    assert (await world.quotas.balance(GUILD, ALICE)).limit == 10  # the override wins


async def test_reset_clears_usage_and_a_later_refund_never_goes_negative(world: World) -> None:
    first = await world.video(duration=10)
    await world.video(duration=10)
    cleared, balance = await world.quotas.reset(moderator(), ALICE)
    assert (cleared, balance.used, balance.remaining) == (20, 0, 60)
    await world.lifecycle.fail(first.id, JobStatus.QUEUED, "failed after the reset")
    assert (await world.quotas.balance(GUILD, ALICE)).used == 0


async def test_every_change_is_in_the_ledger_with_who_made_it(world: World) -> None:
    job = await world.video()
    await world.lifecycle.fail(job.id, JobStatus.QUEUED, "the provider refused")
    await world.quotas.set_limit(moderator(), ALICE, 40)
    await world.quotas.grant(moderator(), ALICE, 3)
    await world.quotas.reset(moderator(), ALICE)
    await world.quotas.set_pool(moderator(), 500)
    await world.quotas.set_default(moderator(), 20)
    rows = [(r["kind"], r["user_id"], r["actor_id"], r["amount"]) for r in await world.ledger()]
    assert rows == [
        ("reserve", ALICE, ALICE, 5), ("refund", ALICE, None, 5), ("limit", ALICE, MOD, 40),
        ("grant", ALICE, MOD, 3), ("reset", ALICE, MOD, 0), ("pool", None, MOD, 500), ("default", None, MOD, 20),
    ]
    page = await world.quotas.history(moderator())
    assert [e.kind for e in page.entries][:2] == [LedgerKind.DEFAULT, LedgerKind.POOL]  # newest first


async def test_history_is_paginated(world: World) -> None:
    for _ in range(23):
        await world.quotas.grant(moderator(), BOB, 1)
    await world.quotas.grant(moderator(), ALICE, 1)
    first = await world.quotas.history(moderator(), page=1)
    assert (first.page, first.pages, first.total, len(first.entries)) == (1, 3, 24, 10)
    last = await world.quotas.history(moderator(), page=99)
    assert (last.page, len(last.entries)) == (3, 4)
    only_alice = await world.quotas.history(moderator(), ALICE)
    assert only_alice.total == 1 and only_alice.entries[0].user_id == ALICE


async def test_invalid_amounts_and_other_members_balances(world: World) -> None:
    with pytest.raises(UserFacingError):
        await world.quotas.grant(moderator(), ALICE, 0)
    with pytest.raises(UserFacingError):
        await world.quotas.set_limit(moderator(), ALICE, -1)
    member = Actor(GUILD, ALICE, permissions=0)
    assert (await world.quotas.show(member)).user_id == ALICE
    with pytest.raises(NotAllowed):
        await world.quotas.show(member, BOB)
    assert (await world.quotas.show(moderator(), BOB)).user_id == BOB


# -- server rules before the charge ---------------------------------------------------------------------------------
async def test_blocked_words_and_channels_refuse_before_anything_is_charged(world: World) -> None:
    await world.moderation.block_word(moderator(), "  Dragon  ")
    with pytest.raises(NotAllowed) as refused:
        await world.video(prompt="A red DRAGON, flying")
    assert str(refused.value) == "Your prompt contains a blocked word: `dragon`."
    await world.video(prompt="a dragonfly over a pond")  # whole words only
    await world.moderation.allow_channel(moderator(), 555)
    await world.moderation.allow_channel(moderator(), 444)
    with pytest.raises(NotAllowed) as wrong_channel:
        await world.video()
    assert str(wrong_channel.value) == "Videos can be made in <#444>, <#555>."
    assert [r["kind"] for r in await world.ledger()] == ["reserve"]


async def test_running_totals_always_agree_with_the_ledger(world: World) -> None:
    """The totals a charge reads are kept by triggers; the ledger sums are the record they must match."""
    from storage.quotas import LEDGER_MEMBER_USED, LEDGER_POOL_USED

    jobs = [await world.video(user=user, duration=5) for user in (ALICE, BOB, ALICE, CAROL, BOB)]
    await world.lifecycle.fail(jobs[0].id, JobStatus.QUEUED, "refused")
    await world.quotas.grant(moderator(), BOB, 7)
    await world.quotas.reset(moderator(), ALICE)
    await world.lifecycle.fail(jobs[2].id, JobStatus.QUEUED, "charged before the reset")
    jobs.append(await world.video(user=ALICE, duration=10, mode="pro"))
    await world.lifecycle.fail(jobs[4].id, JobStatus.QUEUED, "refused")

    period = world.quotas.period().key

    def ledger_sums(connection: Any) -> tuple[dict[int, int], int]:
        members = {user: connection.execute(LEDGER_MEMBER_USED, {"guild": GUILD, "user": user, "period": period})
                   .fetchone()[0] for user in (ALICE, BOB, CAROL)}
        pool = connection.execute(LEDGER_POOL_USED, {"guild": GUILD, "period": period}).fetchone()[0]
        return members, pool

    members, pool = await world.database.run(ledger_sums)
    assert members == {ALICE: 20, BOB: 5, CAROL: 5}
    for user, used in members.items():
        assert (await world.quotas.balance(GUILD, user)).used == used
    assert (await world.quotas.pool(GUILD)).used == pool == 30

    # Every server together, for the operator's total ceiling: another server's charges and refunds count.
    from storage.quotas import LEDGER_TOTAL_USED

    elsewhere = [await world.jobs.accept(submission(OTHER_GUILD, user=user, duration=10)) for user in (ALICE, BOB)]
    await world.lifecycle.fail(elsewhere[0].id, JobStatus.QUEUED, "refused")
    await world.quotas.reset(moderator(), BOB)  # a reset gives nothing back to the ceilings

    def totals(connection: Any) -> tuple[int, int]:
        ledger_total = connection.execute(LEDGER_TOTAL_USED, {"period": period}).fetchone()[0]
        kept = connection.execute("SELECT used FROM quota_total_usage WHERE period = ?", (period,)).fetchone()[0]
        return ledger_total, kept

    assert await world.database.run(totals) == (40, 40)
    assert (await world.quotas.balance(GUILD, CAROL)).total_used == 40


# -- the operator's ceilings ----------------------------------------------------------------------------------
OTHER_GUILD = 3


def submission(guild_id: int, *, user: int = ALICE, duration: int = 5, mode: str = "std") -> Submission:
    return Submission(guild_id=guild_id, channel_id=CHANNEL, user_id=user, prompt="a fox", duration=duration,
                      aspect="16:9", mode=mode)


async def test_the_server_ceiling_holds_whatever_moderators_set(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 20, 48, tzinfo=UTC))
    w = await make_world(tmp_path, clock, default_user_quota=60, guild_ceiling=30)
    try:
        # Moderators may set what they like; none of it lifts the operator's ceiling.
        await w.quotas.set_pool(moderator(), 1_000_000)
        await w.quotas.set_default(moderator(), 1_000_000)
        await w.quotas.grant(moderator(), ALICE, 1_000_000)
        users = [ALICE, BOB, CAROL]
        accepted, refused = await outcomes([w.video(user=users[i % 3], duration=10) for i in range(20)])
        assert len(accepted) == 3 and len(refused) == 17
        assert all(isinstance(e, QuotaExceeded) for e in refused)
        assert {str(e) for e in refused} == {
            "The limit the bot's operator set for this server leaves 0 of 30 credits today; a 10 s std video costs "
            "10. Resets in 3 h 12 min."
        }
        # Another server has a ceiling of its own.
        assert (await w.jobs.accept(submission(OTHER_GUILD, duration=10))).cost == 10
        # A refund gives the server its room back; a member's reset does not.
        await w.quotas.reset(moderator(), ALICE)
        with pytest.raises(QuotaExceeded, match="leaves 0 of 30 credits"):
            await w.video(duration=5)
        await w.lifecycle.fail(accepted[0].id, JobStatus.QUEUED, "provider refused")
        with pytest.raises(QuotaExceeded, match="leaves 10 of 30 credits today; a 15 s std video costs 15"):
            await w.video(duration=15)
        assert (await w.video(duration=10)).cost == 10
        balance = await w.quotas.balance(GUILD, BOB)
        assert (balance.guild_ceiling_remaining, balance.ceiling_remaining, balance.available) == (0, 0, 0)
        assert balance.remaining == 1_000_000 - 10  # the member's own room is untouched by the ceiling
        pool = await w.quotas.pool(GUILD)
        assert (pool.limit, pool.remaining, pool.capped_by_ceiling) == (1_000_000, 0, True)
    finally:
        await w.database.close()


async def test_a_video_larger_than_the_server_ceiling_says_so(tmp_path: Path) -> None:
    w = await make_world(tmp_path, guild_ceiling=8)
    try:
        with pytest.raises(QuotaExceeded) as refused:
            await w.video(duration=5, mode="pro")
        assert str(refused.value) == (
            "The limit the bot's operator set for this server leaves 8 of 8 credits today; a 5 s pro video costs "
            "10. That is more than the server may use in a whole day, so choose a shorter video or a cheaper mode."
        )
    finally:
        await w.database.close()


async def test_the_total_ceiling_counts_every_server_together(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 20, 48, tzinfo=UTC))
    w = await make_world(tmp_path, clock, total_ceiling=25, guild_ceiling=20)
    try:
        first = await w.video(duration=10)
        await w.jobs.accept(submission(OTHER_GUILD, user=BOB, duration=10))
        with pytest.raises(QuotaExceeded) as refused:
            await w.jobs.accept(submission(OTHER_GUILD, user=BOB, duration=10))
        text = str(refused.value)
        assert text == ("The limit the bot's operator set for all its servers together leaves 5 of 25 credits "
                        "today; a 10 s std video costs 10. Resets in 3 h 12 min.")
        # Twenty at once from both servers with room for one more 5 s video: exactly one.
        accepted, _ = await outcomes([w.jobs.accept(submission(g, user=CAROL)) for g in [GUILD, OTHER_GUILD] * 10])
        assert len(accepted) == 1
        # A refund anywhere gives everyone room back.
        await w.lifecycle.fail(first.id, JobStatus.QUEUED, "provider refused")
        assert (await w.jobs.accept(submission(OTHER_GUILD, user=BOB, duration=10))).cost == 10
        balance = await w.quotas.balance(GUILD, ALICE)
        assert (balance.total_used, balance.total_ceiling_remaining, balance.available) == (25, 0, 0)
        # The next period starts afresh.
        clock.advance(4 * 3600)
        assert (await w.video(duration=10)).cost == 10
    finally:
        await w.database.close()


async def test_no_ceiling_means_none(world: World) -> None:
    await world.quotas.set_pool(moderator(), 1000)
    for _ in range(5):
        await world.video(duration=10)
    balance = await world.quotas.balance(GUILD, ALICE)
    assert (balance.ceiling_remaining, balance.available) == (None, 10)
    assert not (await world.quotas.pool(GUILD)).capped_by_ceiling


def test_the_policy_reads_the_ceilings_from_the_settings() -> None:
    from bot.config import load_settings, quota_policy

    settings = load_settings(discord_token="t", guild_credit_ceiling=300, total_credit_ceiling=1000)
    policy = quota_policy(settings)
    assert (policy.guild_ceiling, policy.total_ceiling) == (300, 1000)


async def test_the_total_is_backfilled_for_a_database_from_before_it(tmp_path: Path) -> None:
    import sqlite3

    from storage.database import migrations

    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    for version, _name, sql in migrations():
        if version > 3:
            break
        connection.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    rows = [("reserve", 1, "j1", 10), ("reserve", 2, "j2", 15), ("refund", 1, "j1", 10), ("reserve", 2, "j3", 7)]
    for kind, guild, job, amount in rows:
        connection.execute("INSERT INTO quota_ledger (at, guild_id, user_id, kind, period, amount, job_id) "
                           "VALUES ('2026-11-20T12:00:00', ?, 10, ?, '2026-11-20', ?, ?)", (guild, kind, amount, job))
    connection.commit()
    connection.close()
    database = await Database.open(path)
    try:
        used = await database.run(lambda c: c.execute("SELECT period, used FROM quota_total_usage").fetchall())
        assert [tuple(row) for row in used] == [("2026-11-20", 22)]
    finally:
        await database.close()


async def test_history_of_a_long_ledger_counts_and_pages_only_so_far(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.core.quotas as quotas_module

    monkeypatch.setattr(quotas_module, "HISTORY_COUNT_LIMIT", 30)  # as if the ledger held millions
    for _ in range(45):
        await world.quotas.grant(moderator(), ALICE, 1)
    first = await world.quotas.history(moderator())
    assert (first.total, first.pages, first.more) == (30, 3, True)
    deepest = await world.quotas.history(moderator(), page=99)
    assert deepest.page == 3 and len(deepest.entries) == 10
    assert [e.id for e in deepest.entries] == sorted((e.id for e in deepest.entries), reverse=True)
    text = render_quotas.history_text(first)
    assert "30+ entries: the newest 30 can be shown" in text
