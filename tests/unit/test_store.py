from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.core.models import Job, JobStatus, VideoRequest
from storage.database import Database, migrations
from storage.jobs import JobStore
from tests.clock import FakeClock


def make_job(job_id: str = "0123456789abcdef", user_id: int = 7) -> Job:
    clock = FakeClock()
    return Job(
        id=job_id, guild_id=1, channel_id=2, user_id=user_id,
        request=VideoRequest("a cat", 5, "16:9", "std", image_urls=("http://127.0.0.1/x.png",)),
        provider="runblob", status=JobStatus.QUEUED, created_at=clock.now(), updated_at=clock.now(),
    )


@pytest.fixture
async def store(tmp_path: Path):
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield JobStore(database)
    await database.close()


async def test_migrations_set_the_schema_version_and_wal(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "db.sqlite3")
    await database.close()
    connection = sqlite3.connect(tmp_path / "db.sqlite3")
    assert connection.execute("PRAGMA user_version").fetchone()[0] == migrations()[-1][0]
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again applies nothing twice.
    again = await Database.open(tmp_path / "db.sqlite3")
    assert await again.migrate() == migrations()[-1][0]
    await again.close()


async def test_a_job_round_trips_with_every_field(store: JobStore) -> None:
    job = make_job()
    await store.insert(job)
    loaded = await store.get(job.id)
    assert loaded is not None
    assert loaded.request == job.request
    assert loaded.status is JobStatus.QUEUED
    assert [e.kind for e in await store.events(job.id)] == ["created"]


async def test_transition_is_conditional_on_the_expected_status(store: JobStore) -> None:
    clock = FakeClock()
    job = make_job()
    await store.insert(job)
    moved = await store.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, clock.now(), provider_job_id="p1")
    assert moved is not None and moved.provider_job_id == "p1"
    # A second path expecting QUEUED loses.
    assert await store.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, clock.now()) is None
    events = await store.events(job.id)
    assert [(e.from_status, e.to_status) for e in events[1:]] == [(JobStatus.QUEUED, JobStatus.SUBMITTED)]


async def test_racing_completions_have_exactly_one_winner(store: JobStore) -> None:
    clock = FakeClock()
    job = make_job()
    await store.insert(job)
    await store.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, clock.now(), provider_job_id="p1")
    results = await asyncio.gather(*[
        store.transition(job.id, (JobStatus.SUBMITTED, JobStatus.PROCESSING), JobStatus.COMPLETED, clock.now(),
                         video_url=f"http://127.0.0.1/{i}.mp4")
        for i in range(20)
    ])
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    completed = [e for e in await store.events(job.id) if e.to_status is JobStatus.COMPLETED]
    assert len(completed) == 1


async def test_transitions_outside_the_lifecycle_are_refused(store: JobStore) -> None:
    job = make_job()
    await store.insert(job)
    with pytest.raises(ValueError, match="not a job transition"):
        await store.transition(job.id, JobStatus.QUEUED, JobStatus.DELIVERED, FakeClock().now())
    with pytest.raises(ValueError, match="not updatable"):
        await store.update(job.id, FakeClock().now(), status="delivered")


async def test_listing_by_status_and_recent_jobs(store: JobStore) -> None:
    clock = FakeClock()
    for index in range(3):
        await store.insert(make_job(f"{index:016x}"))
    await store.transition(f"{0:016x}", JobStatus.QUEUED, JobStatus.FAILED, clock.now(), last_error="no")
    assert len(await store.with_status([JobStatus.QUEUED])) == 2
    assert len(await store.recent_for_user(1, 7, limit=2)) == 2
    counts = await store.count_by_status()
    assert counts[JobStatus.FAILED] == 1 and counts[JobStatus.QUEUED] == 2
