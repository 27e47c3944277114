"""Answers before edits (bot/core/answers_first.py): the gate itself, and the dispatcher's position edits
waiting on it, with a stand-in provider and real SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.answers_first import AnswersFirst
from bot.core.dispatcher import Dispatcher
from bot.core.lifecycle import JobLifecycle
from bot.core.metrics import Metrics
from bot.core.slots import ProviderSlots
from storage.database import Database
from storage.jobs import JobStore
from tests.clock import FakeClock
from tests.unit.test_dispatcher import ALICE, BOB, RecordingPublisher, RecordingTracker, StandInProvider, queued_job

BOUND = 5.0  # seconds any wait here may take at most


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "bot.sqlite3")
    yield db
    await db.close()


async def test_nothing_being_answered_is_quiet_at_once() -> None:
    answers = AnswersFirst(settle=60.0)
    assert answers.quiet() and answers.preparing == 0
    await asyncio.wait_for(answers.answered(), BOUND)


async def test_edits_wait_until_the_answers_are_out_and_it_settles() -> None:
    answers = AnswersFirst(settle=0.02)
    first, second = answers.begin(), answers.begin()
    waiting = asyncio.create_task(answers.answered())
    first.done()
    await asyncio.sleep(0.05)
    assert not waiting.done() and answers.preparing == 1  # the second answer is still being prepared
    second.done()
    second.done()  # done twice counts once
    assert answers.preparing == 0
    await asyncio.wait_for(waiting, BOUND)
    assert answers.quiet()


async def test_an_answer_that_never_finishes_holds_edits_back_only_for_a_while() -> None:
    answers = AnswersFirst(most_wait=0.05, settle=0.01)
    answers.begin()  # never done
    await asyncio.wait_for(answers.answered(), BOUND)
    assert answers.preparing == 1 and not answers.quiet()


async def test_a_finished_answer_is_quiet_for_itself_but_not_for_others_until_it_settles() -> None:
    answers = AnswersFirst(settle=60.0)
    earlier = answers.begin()
    earlier.done()
    own = answers.begin()
    own.done()
    assert answers.quiet(own)  # nothing else began after it: its own edit need not wait
    assert not answers.quiet(earlier) and not answers.quiet()  # another answer began within the settle time


async def test_position_edits_wait_for_the_answers_being_prepared(database: Database) -> None:
    clock = FakeClock()
    store = JobStore(database)
    provider, tracker, publisher = StandInProvider(), RecordingTracker(), RecordingPublisher()
    slots = ProviderSlots(1)
    slots.take("elsewhere")  # the provider is busy: everything waits in the queue
    answers = AnswersFirst(settle=0.01)
    dispatcher = Dispatcher(
        provider=provider, lifecycle=JobLifecycle(store, publisher, clock), tracker=tracker,  # type: ignore[arg-type]
        slots=slots, clock=clock, metrics=Metrics(), callback_url=lambda job: None, give_up_after=900,
        position_refresh=0.01, before_edits=answers.answered,
    )
    runner = asyncio.create_task(dispatcher.run())
    try:
        alice = [await queued_job(store, clock, ALICE, f"A{n}", n) for n in range(1, 4)]
        assert [dispatcher.enqueue(job) for job in alice] == [1, 2, 3]
        answer = answers.begin()  # Bob's /video is being answered
        bob = await queued_job(store, clock, BOB, "B1", 9)
        assert dispatcher.enqueue(bob) == 2  # fair order: after Alice's first, ahead of her others
        dispatcher.correct_position(bob.id, 4)  # Bob's message went out showing the back of the queue
        await asyncio.sleep(0.1)
        assert publisher.positions == []  # nothing edited while the answer is being prepared
        answer.done()
        async with asyncio.timeout(BOUND):
            while len(publisher.positions) < 3:
                await asyncio.sleep(0.01)
        assert sorted(publisher.positions) == [("A2", 3), ("A3", 4), ("B1", 2)]
    finally:
        runner.cancel()
        await dispatcher.close()
        await asyncio.gather(runner, return_exceptions=True)
