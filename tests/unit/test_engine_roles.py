"""Two job engines on one SQLite file, one leading and one following, joined by job signals held in memory: what
a follower does itself (accepts, records callbacks, cancels by claiming the job in the database) and what it
leaves to the leader (queueing, sending, delivering), and the leader's sweep for signals that were lost."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.background import BackgroundTasks
from bot.core.clock import SystemClock
from bot.core.engine import STOPPED_BEFORE_START_FRAME, EngineSettings, JobEngine
from bot.core.errors import NotAllowed
from bot.core.jobs import Submission, new_job_id
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus
from bot.core.moderation import Actor, ModerationService
from bot.core.other_processes import START_GRACE_SECONDS
from bot.core.ports.leadership import JobSignal, SignalHandler
from bot.core.ports.provider import ProviderState, ProviderUpdate
from bot.core.ports.publisher import Result
from bot.core.quotas import QuotaPeriod, QuotaPolicy, QuotaService
from storage.database import Database
from storage.guild_settings import GuildSettingsStore
from storage.jobs import JobStore
from storage.member_settings import MemberSettingsStore
from storage.quotas import QuotaStore
from tests.standin_provider import StandInProvider

GUILD, CHANNEL, ALICE, BOB = 1, 2, 10, 11


class RecordingPublisher:
    """Both processes post through Discord's REST API; this one records what was shown and posted."""

    def __init__(self) -> None:
        self.positions: list[tuple[str, int | None]] = []
        self.posted: list[str] = []

    async def show_status(self, job: Job, *, queue_position: int | None = None, eta: datetime | None = None) -> None:
        self.positions.append((job.id, queue_position))

    async def upload_limit(self, guild_id: int) -> int:
        return 10 * 1024**2

    async def post_result(self, job: Job, result: Result, *, nonce: str) -> int:
        self.posted.append(job.id)
        return 9000 + len(self.posted)

    async def direct_message_result(self, job: Job, result: Result, *, nonce: str) -> int:
        raise AssertionError("the channel post works here")


class SmallVideos:
    async def fetch(self, url: str, target: Path, limit: int) -> int:
        await asyncio.to_thread(target.write_bytes, b"\x00\x00\x00\x18ftypmp42")
        return 12

    async def check(self, url: str) -> None:
        return None


class MemorySignals:
    """JobSignals between the engines of one test; `dropping` loses every signal (a leader change, a lost
    connection)."""

    def __init__(self) -> None:
        self.announced: list[tuple[JobSignal, str]] = []
        self.handlers: list[SignalHandler] = []
        self.dropping = False

    async def announce(self, signal: JobSignal, job_id: str) -> None:
        self.announced.append((signal, job_id))
        if not self.dropping:
            for handler in list(self.handlers):
                await handler(signal, job_id)

    async def listen(self, handler: SignalHandler) -> None:
        self.handlers.append(handler)
        try:
            await asyncio.Event().wait()
        finally:
            self.handlers.remove(handler)


@dataclass
class Processes:
    leader: JobEngine
    follower: JobEngine
    signals: MemorySignals
    provider: StandInProvider
    publisher: RecordingPublisher
    store: JobStore
    background: BackgroundTasks


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    clock, store, signals = SystemClock(), JobStore(database), MemorySignals()
    provider, publisher = StandInProvider(calls_per_minute=600), RecordingPublisher()
    moderation = ModerationService(GuildSettingsStore(database))
    quotas = QuotaService(store=QuotaStore(database), moderation=moderation, clock=clock, policy=QuotaPolicy(
        default_user_quota=100, default_guild_pool=0, period=QuotaPeriod.DAY, multipliers={"std": 1},
        max_active_jobs=10))

    def engine() -> JobEngine:
        return JobEngine(
            provider=provider, store=store, quotas=quotas, moderation=moderation, publisher=publisher,
            video_source=SmallVideos(), archive=None, clock=clock, metrics=Metrics(),
            settings=EngineSettings(max_concurrent_jobs=1, job_timeout_seconds=900, poll_rate_per_minute=None,
                                    work_dir=tmp_path / "tmp", poll_schedule=lambda checks, **_: 600.0),
            callback_url=lambda job: None, member_settings=MemberSettingsStore(database), signals=signals)

    background = BackgroundTasks()
    found = Processes(engine(), engine(), signals, provider, publisher, store, background)
    await found.leader.lead(background)
    try:
        yield found
    finally:
        await background.stop()
        for part in (found.leader, found.follower):
            await part.close()
        await database.close()


def shown_with(positions: list[tuple[int | None, datetime | None]]) -> Callable[..., Awaitable[int]]:
    """A status message that records the position and estimate it was first shown with."""
    async def show(job: Job, position: int | None, eta: datetime | None) -> int:
        positions.append((position, eta))
        return 7000 + len(positions)
    return show


async def submit(engine: JobEngine, prompt: str, user_id: int = ALICE,
                 first_shown: list[tuple[int | None, datetime | None]] | None = None) -> Job:
    return await engine.submit(Submission(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, prompt=prompt,
                                          duration=5, aspect="16:9", mode="std"),
                               shown_with(first_shown if first_shown is not None else []))


async def reaches(store: JobStore, job_id: str, status: JobStatus) -> Job:
    async with asyncio.timeout(10):
        while True:
            job = await store.get(job_id)
            if job is not None and job.status is status:
                return job
            await asyncio.sleep(0.01)


async def test_a_follower_accepts_a_job_and_the_leader_queues_and_sends_it(processes: Processes) -> None:
    assert (processes.leader.role.leading, processes.follower.role.leading) == (True, False)
    first_shown: list[tuple[int | None, datetime | None]] = []
    job = await submit(processes.follower, "from the follower", first_shown=first_shown)
    assert first_shown == [(None, None)]  # "Queued": the follower does not know the leader's queue
    assert (JobSignal.QUEUED, job.id) in processes.signals.announced
    assert not processes.follower.dispatcher.knows(job.id)
    submitted = await reaches(processes.store, job.id, JobStatus.SUBMITTED)
    assert processes.provider.submitted == ["from the follower"] and submitted.attempts == 1


async def test_the_leader_shows_a_followers_job_its_place_in_the_queue(processes: Processes) -> None:
    busy = await submit(processes.leader, "holds the only slot")
    await reaches(processes.store, busy.id, JobStatus.SUBMITTED)
    waiting = await submit(processes.follower, "waits")
    assert processes.leader.dispatcher.position(waiting.id) == 1
    assert (waiting.id, 1) in processes.publisher.positions
    snapshot = await processes.follower.queue()  # /queue on a follower: read from the database
    assert ([entry.job_id for entry in snapshot.running], [entry.job_id for entry in snapshot.waiting]) == (
        [busy.id], [waiting.id])


async def test_a_callback_on_a_follower_is_recorded_there_and_the_leader_delivers_once(processes: Processes) -> None:
    job = await submit(processes.follower, "a fox")
    at_provider = await reaches(processes.store, job.id, JobStatus.SUBMITTED)
    assert processes.leader.slots.holds(job.id)
    moved = await processes.follower.tracker.apply(
        job.id, at_provider.provider_job_id,
        ProviderUpdate(str(at_provider.provider_job_id), ProviderState.COMPLETED, video_url="http://127.0.0.1/v.mp4"),
        "callback")
    assert moved is not None and moved.status is JobStatus.COMPLETED
    assert (JobSignal.COMPLETED, job.id) in processes.signals.announced
    assert not processes.follower.delivery.handled_here(job.id)  # only the leader delivers
    delivered = await reaches(processes.store, job.id, JobStatus.DELIVERED)
    assert processes.publisher.posted == [job.id] and delivered.result_message_id == 9001
    assert not processes.leader.slots.holds(job.id)  # its slot is free for the next job
    assert await processes.leader.others.sweep() == 0  # nothing left behind


async def test_a_cancel_on_a_follower_wins_in_the_database_and_the_leader_drops_the_job(processes: Processes) -> None:
    busy = await submit(processes.leader, "holds the only slot")
    await reaches(processes.store, busy.id, JobStatus.SUBMITTED)
    waiting = await submit(processes.follower, "waits", user_id=BOB)
    assert processes.leader.dispatcher.knows(waiting.id)
    cancelled = await processes.follower.cancel(waiting.id, Actor(GUILD, BOB, permissions=0))
    assert cancelled.status is JobStatus.FAILED and cancelled.submitting_since is None
    assert (JobSignal.CANCELLED, waiting.id) in processes.signals.announced
    assert not processes.leader.dispatcher.knows(waiting.id)


async def test_the_leaders_dispatcher_skips_a_job_cancelled_where_it_did_not_hear(processes: Processes) -> None:
    busy = await submit(processes.leader, "holds the only slot")
    busy = await reaches(processes.store, busy.id, JobStatus.SUBMITTED)
    waiting = await submit(processes.follower, "cancelled unheard", user_id=BOB)
    assert processes.leader.dispatcher.knows(waiting.id)
    processes.signals.dropping = True  # the leader never hears of the cancel
    await processes.follower.cancel(waiting.id, Actor(GUILD, BOB, permissions=0))
    assert processes.leader.dispatcher.knows(waiting.id)
    # The slot comes free: the dispatcher takes the cancelled job, loses the claim and sends nothing.
    await processes.leader.tracker.apply(busy.id, busy.provider_job_id, ProviderUpdate(
        str(busy.provider_job_id), ProviderState.FAILED, error_detail="blocked"), "poll")
    async with asyncio.timeout(10):
        while processes.leader.dispatcher.knows(waiting.id):
            await asyncio.sleep(0.01)
    assert processes.provider.submitted == ["holds the only slot"]
    assert (await processes.store.get(waiting.id)).status is JobStatus.FAILED  # type: ignore[union-attr]


async def test_a_cancel_loses_to_a_submit_under_way(processes: Processes) -> None:
    processes.signals.dropping = True  # the leader has not heard of the job (yet)
    job = await submit(processes.follower, "being sent")
    assert await processes.store.claim_submit(job.id, job.created_at, attempts=1)  # the leader's submit
    with pytest.raises(NotAllowed):
        await processes.follower.cancel(job.id, Actor(GUILD, ALICE, permissions=0))
    assert (await processes.store.get(job.id)).status is JobStatus.QUEUED  # type: ignore[union-attr]


async def test_the_sweep_picks_up_what_lost_signals_left(processes: Processes) -> None:
    processes.signals.dropping = True
    job = await submit(processes.follower, "signal lost")
    assert not processes.leader.dispatcher.knows(job.id)
    assert await processes.leader.others.sweep() == 1
    at_provider = await reaches(processes.store, job.id, JobStatus.SUBMITTED)
    await processes.follower.tracker.apply(job.id, at_provider.provider_job_id, ProviderUpdate(
        str(at_provider.provider_job_id), ProviderState.COMPLETED, video_url="http://127.0.0.1/v.mp4"), "callback")
    assert await processes.leader.others.sweep() == 1
    await reaches(processes.store, job.id, JobStatus.DELIVERED)
    assert await processes.leader.others.sweep() == 0
    assert processes.publisher.posted == [job.id]


async def test_the_sweep_refunds_a_continue_whose_process_stopped_before_its_start_frame(processes: Processes) -> None:
    earlier = await submit(processes.follower, "the first clip")
    used_before = (await processes.leader.quotas.balance(GUILD, ALICE)).used
    long_ago = processes.leader.clock.now() - timedelta(seconds=START_GRACE_SECONDS + 60)
    # What a process stopping between a Continue's charge and its start frame leaves: queued, charged, no image.
    stranded = dataclasses.replace(
        earlier, id=new_job_id(), parent_job_id=earlier.id, status=JobStatus.QUEUED, provider_job_id=None,
        request=dataclasses.replace(earlier.request, prompt="night falls", image_urls=()), created_at=long_ago,
        updated_at=long_ago, status_message_id=None)
    await processes.store.insert(stranded, processes.leader.quotas.charge_for(stranded))

    await processes.leader.others.sweep()
    failed = await reaches(processes.store, stranded.id, JobStatus.FAILED)
    assert failed.last_error == str(STOPPED_BEFORE_START_FRAME)
    assert (await processes.leader.quotas.balance(GUILD, ALICE)).used == used_before  # refunded
    assert "night falls" not in processes.provider.submitted  # never sent without its start image
