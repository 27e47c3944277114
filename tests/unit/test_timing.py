"""The poll schedule, the rate limiter, callback tokens and the fair queue."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.callback_tokens import CallbackSigner
from bot.core.fair_queue import FairQueue
from bot.core.ratelimit import SlidingWindowLimiter
from bot.core.schedule import poll_delay
from tests.clock import FakeClock


def test_poll_only_schedule_follows_the_reference_poller() -> None:
    delays = [poll_delay(n) for n in range(9)]
    assert delays == [10, 5, 5, 10, 15, 15, 15, 15, 15]


def test_with_callbacks_polling_waits_past_the_expected_time() -> None:
    first = poll_delay(0, callback_expected_after=150)
    assert first >= 150 * 1.5
    assert poll_delay(1, callback_expected_after=150) == 60
    assert poll_delay(0, callback_expected_after=0) == 30


async def test_limiter_never_exceeds_calls_in_any_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(60, 60, clock)
    stamps = []
    for _ in range(200):
        await limiter.acquire()
        stamps.append(clock.monotonic())
    for index in range(len(stamps) - 60):
        # The 61st call is a full window, plus the margin for calls slow to arrive, after the 1st.
        assert stamps[index + 60] - stamps[index] >= 60 + 1.0


async def test_limiter_serves_concurrent_waiters_in_turn() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 10, clock)
    order: list[int] = []

    async def call(index: int) -> None:
        await limiter.acquire()
        order.append(index)

    await asyncio.wait_for(asyncio.gather(*[call(i) for i in range(6)]), timeout=5)
    assert order == [0, 1, 2, 3, 4, 5]
    assert clock.monotonic() - 1000 >= 20  # 6 calls at 2 per 10 s need two extra windows


async def test_limiter_penalty_holds_calls_back() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 10, clock)
    limiter.penalize(30)
    assert limiter.wait_time() == pytest.approx(30)


def test_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 60, FakeClock())


def test_callback_tokens_verify_only_their_own_job() -> None:
    signer = CallbackSigner("s3cret-value")
    token = signer.token("job-a")
    assert signer.verify("job-a", token)
    assert not signer.verify("job-b", token)
    assert not signer.verify("job-a", token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not signer.verify("job-a", "")
    assert not CallbackSigner("another-secret").verify("job-a", token)
    assert signer.path("runblob", "job-a") == f"/callbacks/runblob/job-a/{token}"


def test_fair_queue_interleaves_members() -> None:
    queue = FairQueue()
    for index in range(10):
        queue.push(1, f"a{index}")
    queue.push(2, "b0")
    assert queue.position("b0") == 2
    assert [queue.pop(), queue.pop()] == ["a0", "b0"]
    assert queue.pop() == "a1"
    assert len(queue) == 8


def test_fair_queue_order_remove_and_duplicates() -> None:
    queue = FairQueue()
    queue.push(1, "a0")
    queue.push(1, "a1")
    queue.push(2, "b0")
    queue.push(2, "b0")
    assert queue.order() == ["a0", "b0", "a1"]
    assert queue.remove("b0") and not queue.remove("b0")
    assert queue.order() == ["a0", "a1"]
    assert queue.position("zz") is None
    assert queue.pop() == "a0" and queue.pop() == "a1" and queue.pop() is None
