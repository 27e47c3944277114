"""JobRepository on both backends: round trips, conditional transitions, failing with a refund, pruning, counts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.core.messages import Choices, Message
from bot.core.models import DeliveryOutcome, JobStatus
from storage.backends import Stores
from tests.contract.conftest import Backend
from tests.contract.parts import ALICE, BOB, GUILD, NOW, charge, ledger, make_job, quota_service


async def test_a_job_round_trips_with_every_field(stores: Stores) -> None:
    job = make_job(status_message_id=810000000000000123, deliver_by_dm=True)
    await stores.jobs.insert(job)
    loaded = await stores.jobs.get(job.id)
    assert loaded is not None
    assert loaded.request == job.request
    assert (loaded.guild_id, loaded.user_id, loaded.status_message_id, loaded.deliver_by_dm) == (
        GUILD, ALICE, 810000000000000123, True)
    assert (loaded.created_at, loaded.updated_at) == (NOW, NOW)
    assert loaded.status is JobStatus.QUEUED and loaded.submitted_at is None
    assert await stores.jobs.get("no-such-job") is None
    assert [(e.kind, e.to_status) for e in await stores.jobs.events(job.id)] == [("created", JobStatus.QUEUED)]


async def test_transitions_are_conditional_and_set_their_fields(stores: Stores) -> None:
    job = make_job()
    await stores.jobs.insert(job)
    later = NOW + timedelta(seconds=5)
    moved = await stores.jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, later, detail="sent",
                                         provider_job_id="p-1", submitted_at=later, attempts=1)
    assert moved is not None
    assert (moved.status, moved.provider_job_id, moved.submitted_at, moved.attempts, moved.updated_at) == (
        JobStatus.SUBMITTED, "p-1", later, 1, later)
    assert await stores.jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, later) is None  # lost
    done = await stores.jobs.transition(job.id, (JobStatus.SUBMITTED, JobStatus.PROCESSING), JobStatus.COMPLETED,
                                        later, video_url="https://cdn.example/v.mp4", completed_at=later)
    assert done is not None and done.video_url == "https://cdn.example/v.mp4"
    await stores.jobs.update(job.id, later, delivery_outcome=DeliveryOutcome.ATTACHED, result_message_id=77)
    reloaded = await stores.jobs.get(job.id)
    assert reloaded is not None and (reloaded.delivery_outcome, reloaded.result_message_id) == (
        DeliveryOutcome.ATTACHED, 77)
    events = await stores.jobs.events(job.id)
    assert [(e.kind, e.from_status, e.to_status, e.detail) for e in events[1:]] == [
        ("status", JobStatus.QUEUED, JobStatus.SUBMITTED, "sent"),
        ("status", JobStatus.SUBMITTED, JobStatus.COMPLETED, None),
    ]
    with pytest.raises(ValueError, match="not a job transition"):
        await stores.jobs.transition(job.id, JobStatus.COMPLETED, JobStatus.QUEUED, later)
    with pytest.raises(ValueError, match="not updatable"):
        await stores.jobs.update(job.id, later, prompt="changed")


async def test_racing_completions_from_several_processes_have_one_winner(backend: Backend) -> None:
    processes = await backend.processes(4)
    job = make_job()
    await processes[0].jobs.insert(job)
    await processes[0].jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, NOW)
    results = await asyncio.gather(*[
        processes[i % 4].jobs.transition(job.id, (JobStatus.SUBMITTED, JobStatus.PROCESSING), JobStatus.COMPLETED,
                                         NOW, video_url=f"https://cdn.example/{i}.mp4")
        for i in range(20)
    ])
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    events = await processes[1].jobs.events(job.id)
    assert [e.to_status for e in events].count(JobStatus.COMPLETED) == 1
    stored = await processes[2].jobs.get(job.id)
    assert stored is not None and stored.video_url == winners[0].video_url


async def test_fail_refunds_once_however_many_paths_fail_it(backend: Backend) -> None:
    processes = await backend.processes(3)
    quotas = quota_service(processes[0])
    job = await charge(processes[0], quotas, make_job(duration=10))
    results = await asyncio.gather(*[
        processes[i % 3].jobs.fail(job.id, (JobStatus.QUEUED, JobStatus.SUBMITTED), NOW, reason="The provider refused",
                                   detail="refused")
        for i in range(6)
    ])
    won = [result for result in results if result is not None]
    assert len(won) == 1
    failed, refunded = won[0]
    assert (failed.status, failed.last_error, refunded) == (JobStatus.FAILED, "The provider refused", 10)
    more = await asyncio.gather(*[processes[i % 3].quotas.refund(job.id, NOW, "again") for i in range(6)])
    assert more == [None] * 6
    assert [(e.kind, e.amount) for e in await ledger(processes[1])] == [("reserve", 10), ("refund", 10)]
    assert (await quotas.balance(GUILD, ALICE)).used == 0


async def test_a_job_never_charged_fails_with_nothing_to_refund(stores: Stores) -> None:
    job = make_job()
    await stores.jobs.insert(job)
    result = await stores.jobs.fail(job.id, JobStatus.QUEUED, NOW, reason="gone", detail="gone")
    assert result is not None and result[1] is None
    assert await ledger(stores) == []


async def test_a_failure_reason_is_kept_as_its_message_beside_the_english(stores: Stores) -> None:
    job = make_job()
    await stores.jobs.insert(job)
    reason = Message("provider.words_with_detail", {
        "words": Message("provider.generation_failed"), "detail": "IMAGE_INACCESSIBLE «ß»", "sizes": Choices(("5",)),
    })
    await stores.jobs.fail(job.id, JobStatus.QUEUED, NOW, reason=str(reason), detail="x", failure=reason)
    stored = await stores.jobs.get(job.id)
    assert stored is not None and stored.failure == reason and stored.last_error == str(reason)
    other = make_job()
    await stores.jobs.insert(other)
    await stores.jobs.fail(other.id, JobStatus.QUEUED, NOW, reason="plain words", detail="x")
    assert (await stores.jobs.get(other.id)).failure is None  # type: ignore[union-attr]


async def test_lists_recent_jobs_and_jobs_by_status(stores: Stores) -> None:
    jobs = [make_job(at=NOW + timedelta(minutes=i)) for i in range(4)]
    for job in jobs:
        await stores.jobs.insert(job)
    await stores.jobs.insert(make_job(user_id=BOB))
    await stores.jobs.transition(jobs[1].id, JobStatus.QUEUED, JobStatus.SUBMITTED, NOW)
    recent = await stores.jobs.recent_for_user(GUILD, ALICE, 3)
    assert [job.id for job in recent] == [jobs[3].id, jobs[2].id, jobs[1].id]
    queued = await stores.jobs.with_status([JobStatus.QUEUED])
    assert [job.id for job in queued if job.user_id == ALICE] == [jobs[0].id, jobs[2].id, jobs[3].id]
    assert [job.id for job in await stores.jobs.with_status([JobStatus.SUBMITTED])] == [jobs[1].id]


async def test_counts_by_status_follow_every_move_and_outlive_pruning(stores: Stores) -> None:
    old = NOW - timedelta(days=200)
    jobs = [make_job(at=old) for _ in range(3)]
    for job in jobs:
        await stores.jobs.insert(job)
    for job in jobs[:2]:
        await stores.jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, old)
        await stores.jobs.transition(job.id, JobStatus.SUBMITTED, JobStatus.COMPLETED, old)
        await stores.jobs.transition(job.id, JobStatus.COMPLETED, JobStatus.DELIVERED, old)
    await stores.jobs.record_event(jobs[0].id, old, "posted", "message 1")
    counts = await stores.jobs.count_by_status()
    assert (counts[JobStatus.QUEUED], counts[JobStatus.DELIVERED], counts[JobStatus.SUBMITTED]) == (1, 2, 0)
    assert set(counts) == set(JobStatus)

    pruned = await stores.jobs.prune_finished(NOW - timedelta(days=180), limit=1)
    assert pruned.jobs == 1 and pruned.events in (4, 5)  # either job: 4 events each, one has "posted" too
    rest = await stores.jobs.prune_finished(NOW - timedelta(days=180), limit=10)
    assert rest.jobs == 1 and pruned.events + rest.events == 9
    assert await stores.jobs.prune_finished(NOW - timedelta(days=180), limit=10) == type(rest)(0, 0)
    assert await stores.jobs.get(jobs[0].id) is None and await stores.jobs.events(jobs[0].id) == []
    assert await stores.jobs.get(jobs[2].id) is not None  # queued: never pruned
    counts = await stores.jobs.count_by_status()
    assert (counts[JobStatus.QUEUED], counts[JobStatus.DELIVERED]) == (1, 2)  # every job ever finished


async def test_pruning_keeps_the_ledger(stores: Stores) -> None:
    old = NOW - timedelta(days=200)
    quotas = quota_service(stores)
    job = await charge(stores, quotas, make_job(at=old))
    await stores.jobs.fail(job.id, JobStatus.QUEUED, old, reason="refused", detail="refused")
    assert (await stores.jobs.prune_finished(NOW, limit=10)).jobs == 1
    assert [(e.kind, e.job_id) for e in await ledger(stores)] == [("reserve", job.id), ("refund", job.id)]
    assert await stores.quotas.refund(job.id, NOW, "again") is None  # still once, with the job gone


async def test_generation_seconds_of_the_newest_finished_jobs(stores: Stores) -> None:
    for i, seconds in enumerate((30, 45, 60)):
        job = make_job()
        await stores.jobs.insert(job)
        submitted = NOW + timedelta(minutes=i)
        await stores.jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, submitted,
                                     submitted_at=submitted)
        finished = submitted + timedelta(seconds=seconds)
        await stores.jobs.transition(job.id, JobStatus.SUBMITTED, JobStatus.COMPLETED, finished,
                                     completed_at=finished)
    assert await stores.jobs.generation_seconds("runblob", 2) == [60.0, 45.0]
    assert await stores.jobs.generation_seconds("segmind", 5) == []
