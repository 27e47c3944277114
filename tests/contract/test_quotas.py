"""QuotaRepository on both backends: the race guarantees with several processes charging at once, ceilings,
refunds once, resets, limits, history paging."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.errors import QuotaExceeded
from bot.core.models import JobStatus
from bot.core.moderation import Actor
from bot.core.ports.repositories import LedgerEntry, LedgerKind
from storage.backends import Stores
from tests.clock import FakeClock
from tests.contract.conftest import Backend
from tests.contract.parts import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    MOD,
    NOW,
    OTHER_GUILD,
    charge,
    ledger,
    make_job,
    outcomes,
    quota_service,
)

PERIOD = "2026-11-20"


def moderator(guild_id: int = GUILD) -> Actor:
    return Actor(guild_id, MOD, permissions=1 << 5)


async def test_twenty_charges_at_once_from_several_processes_with_room_for_three_give_three(backend: Backend) -> None:
    processes = await backend.processes(4)
    services = [quota_service(stores, default_user_quota=30) for stores in processes]
    accepted, refused = await outcomes([
        charge(processes[i % 4], services[i % 4], make_job(duration=10)) for i in range(20)
    ])
    assert len(accepted) == 3 and len(refused) == 17
    assert all(isinstance(error, QuotaExceeded) for error in refused)
    balance = await services[0].balance(GUILD, ALICE)
    assert (balance.used, balance.remaining) == (30, 0)
    assert len(await processes[1].jobs.recent_for_user(GUILD, ALICE, 50)) == 3  # the refused jobs rolled back
    entries = await ledger(processes[2])
    assert [e.kind for e in entries] == [LedgerKind.RESERVE] * 3
    assert {e.job_id for e in entries} == {job.id for job in accepted}


async def test_a_small_pool_shared_by_three_members_across_processes(backend: Backend) -> None:
    processes = await backend.processes(3)
    services = [quota_service(stores, default_user_quota=100, default_guild_pool=50) for stores in processes]
    users = (ALICE, BOB, CAROL)
    accepted, refused = await outcomes([
        charge(processes[i % 3], services[i % 3], make_job(user_id=users[i % 3], duration=10)) for i in range(20)
    ])
    assert len(accepted) == 5 and len(refused) == 15
    assert (await services[0].pool(GUILD)).used == 50
    for job in accepted[:2]:
        await processes[1].jobs.fail(job.id, JobStatus.QUEUED, NOW, reason="refused", detail="refused")
    assert (await services[2].pool(GUILD)).used == 30
    used = sum([(await services[0].balance(GUILD, user)).used for user in users])
    entries = await ledger(processes[0])
    reserves = sum(e.amount or 0 for e in entries if e.kind is LedgerKind.RESERVE)
    refunds = sum(e.amount or 0 for e in entries if e.kind is LedgerKind.REFUND)
    assert reserves - refunds == used == 30


async def test_ceilings_hold_across_servers_and_processes(backend: Backend) -> None:
    processes = await backend.processes(4)
    services = [quota_service(stores, default_user_quota=1000, guild_ceiling=40, total_ceiling=60)
                for stores in processes]
    guilds = (GUILD, OTHER_GUILD)
    accepted, refused = await outcomes([
        charge(processes[i % 4], services[i % 4], make_job(guild_id=guilds[i % 2], user_id=ALICE + i, duration=10))
        for i in range(24)
    ])
    assert len(accepted) == 6 and len(refused) == 18  # the total ceiling: 60 credits
    per_guild = [sum(job.cost for job in accepted if job.guild_id == guild) for guild in guilds]
    assert max(per_guild) <= 40 and sum(per_guild) == 60
    usage = await processes[0].quotas.usage(GUILD, ALICE, PERIOD)
    assert usage.total_used == 60 and usage.pool_used == per_guild[0]


async def test_the_active_job_limit_is_read_in_the_charging_transaction(backend: Backend) -> None:
    processes = await backend.processes(3)
    services = [quota_service(stores, max_active_jobs=2) for stores in processes]
    accepted, refused = await outcomes([charge(processes[i % 3], services[i % 3], make_job(duration=5))
                                        for i in range(12)])
    assert len(accepted) == 2 and len(refused) == 10
    assert "2" in str(refused[0])
    await processes[0].jobs.fail(accepted[0].id, JobStatus.QUEUED, NOW, reason="gone", detail="gone")
    assert (await charge(processes[1], services[1], make_job(duration=5))).status is JobStatus.QUEUED


async def test_usage_limits_grants_and_defaults(stores: Stores) -> None:
    quotas = quota_service(stores, default_user_quota=20)
    await charge(stores, quotas, make_job(duration=5))
    usage = await stores.quotas.usage(GUILD, ALICE, PERIOD)
    assert (usage.used, usage.granted, usage.member_limit, usage.pool_limit, usage.default_quota, usage.active_jobs
            ) == (5, 0, None, None, None, 1)
    await quotas.grant(moderator(), ALICE, 7)
    await quotas.set_limit(moderator(), ALICE, 12)
    await quotas.set_limit(moderator(), ALICE, 15)
    await quotas.set_pool(moderator(), 500)
    await quotas.set_default(moderator(), 25)
    usage = await stores.quotas.usage(GUILD, ALICE, PERIOD)
    assert (usage.granted, usage.member_limit, usage.pool_limit, usage.default_quota) == (7, 15, 500, 25)
    settings = await stores.guild_settings.get(GUILD)
    assert (settings.pool_limit, settings.default_quota) == (500, 25)
    limits = [e for e in await ledger(stores) if e.kind is LedgerKind.LIMIT]
    assert [e.amount for e in limits] == [12, 15]
    assert limits[0].detail != limits[1].detail  # described from the limit before it (none, then 12)
    assert all(e.actor_id == MOD for e in limits)


async def test_reset_clears_a_member_and_a_later_refund_of_an_earlier_charge_gives_nothing_back(
        stores: Stores) -> None:
    quotas = quota_service(stores, default_user_quota=30, default_guild_pool=100)
    first = await charge(stores, quotas, make_job(duration=10))
    await charge(stores, quotas, make_job(duration=5))
    cleared, _ = await quotas.reset(moderator(), ALICE)
    assert cleared == 15
    assert (await quotas.balance(GUILD, ALICE)).used == 0
    assert await stores.quotas.refund(first.id, NOW, "failed after the reset") == 10
    assert (await quotas.balance(GUILD, ALICE)).used == 0  # never below zero
    assert (await quotas.pool(GUILD)).used == 5  # the pool gets it back: a reset gave it nothing
    kinds = [(e.kind, e.amount) for e in await ledger(stores)]
    assert kinds[-2:] == [(LedgerKind.RESET, 15), (LedgerKind.REFUND, 10)]


async def test_a_late_refund_goes_back_to_the_period_it_was_charged_in(stores: Stores) -> None:
    clock = FakeClock(NOW.replace(hour=23, minute=58))
    quotas = quota_service(stores, clock, default_user_quota=10)
    late = await charge(stores, quotas, make_job(duration=10))
    clock.advance(3 * 60)
    today = await charge(stores, quotas, make_job(duration=10, at=clock.now()))
    assert await stores.quotas.refund(late.id, clock.now(), "failed after midnight") == 10
    assert (await quotas.balance(GUILD, ALICE)).used == 10
    assert today.cost == 10
    assert (await stores.quotas.usage(GUILD, ALICE, PERIOD)).used == 0


async def test_append_writes_a_job_row_of_a_kind_once(stores: Stores) -> None:
    job = make_job()
    await stores.jobs.insert(job)
    entry = LedgerEntry(LedgerKind.RESERVE, GUILD, PERIOD, NOW, user_id=ALICE, actor_id=ALICE, amount=10,
                        job_id=job.id)
    assert await stores.quotas.append(entry) is True
    assert await stores.quotas.append(entry) is False
    grant = LedgerEntry(LedgerKind.GRANT, GUILD, PERIOD, NOW, user_id=ALICE, amount=3, detail="operator")
    assert await stores.quotas.append(grant) is True and await stores.quotas.append(grant) is True  # no job: both


async def test_failed_jobs_without_their_refund_are_found(stores: Stores) -> None:
    quotas = quota_service(stores)
    missed = await charge(stores, quotas, make_job())
    refunded = await charge(stores, quotas, make_job())
    never_charged = make_job()
    await stores.jobs.insert(never_charged)
    # What a crash between the FAILED write and its refund would leave: a plain transition to FAILED.
    await stores.jobs.transition(missed.id, JobStatus.QUEUED, JobStatus.FAILED, NOW)
    await stores.jobs.fail(refunded.id, JobStatus.QUEUED, NOW, reason="refused", detail="refused")
    await stores.jobs.transition(never_charged.id, JobStatus.QUEUED, JobStatus.FAILED, NOW)
    assert await stores.quotas.failed_without_refund(NOW - timedelta(days=1)) == [missed.id]
    assert await stores.quotas.failed_without_refund(NOW + timedelta(seconds=1)) == []
    assert await quotas.refund_missed() == 1
    assert await stores.quotas.failed_without_refund(NOW - timedelta(days=1)) == []


async def test_history_pages_newest_first_and_counts_no_further_than_asked(stores: Stores) -> None:
    for amount in range(1, 26):
        await stores.quotas.append(LedgerEntry(LedgerKind.GRANT, GUILD, PERIOD, NOW, user_id=ALICE if amount % 2
                                               else BOB, actor_id=MOD, amount=amount))
    await stores.quotas.append(LedgerEntry(LedgerKind.GRANT, OTHER_GUILD, PERIOD, NOW, user_id=ALICE, amount=99))
    page, total = await stores.quotas.history(GUILD, None, offset=0, limit=10, count_up_to=1000)
    assert total == 25 and [e.amount for e in page] == list(range(25, 15, -1))
    page, total = await stores.quotas.history(GUILD, None, offset=20, limit=10, count_up_to=1000)
    assert [e.amount for e in page] == [5, 4, 3, 2, 1]
    page, total = await stores.quotas.history(GUILD, ALICE, offset=0, limit=3, count_up_to=1000)
    assert total == 13 and [e.amount for e in page] == [25, 23, 21]
    _, capped = await stores.quotas.history(GUILD, None, offset=0, limit=10, count_up_to=12)
    assert capped == 12
    entry = page[0]
    assert (entry.kind, entry.guild_id, entry.period, entry.at, entry.user_id, entry.actor_id) == (
        LedgerKind.GRANT, GUILD, PERIOD, NOW, ALICE, MOD)
    assert entry.id is not None


async def test_refunds_racing_from_several_processes_write_one_row(backend: Backend) -> None:
    processes = await backend.processes(4)
    quotas = quota_service(processes[0])
    jobs = [await charge(processes[0], quotas, make_job(duration=5)) for _ in range(3)]
    results = await asyncio.gather(*[processes[i % 4].quotas.refund(jobs[i % 3].id, NOW, "race")
                                     for i in range(24)])
    assert sorted(r for r in results if r is not None) == [5, 5, 5]
    refunds = [e.job_id for e in await ledger(processes[1]) if e.kind is LedgerKind.REFUND]
    assert sorted(refunds) == sorted(job.id for job in jobs)
    assert (await quotas.balance(GUILD, ALICE)).used == 0
