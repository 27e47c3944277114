"""Queue positions are counted per member; they must agree with the full order `pop` follows."""

from __future__ import annotations

import random

from bot.core.fair_queue import FairQueue


def check(queue: FairQueue) -> None:
    order = queue.order()
    for index, job_id in enumerate(order, start=1):
        assert queue.position(job_id) == index


def test_positions_match_the_dispatch_order_through_random_histories() -> None:
    rng = random.Random(7)
    for _ in range(60):
        queue = FairQueue()
        counter = 0
        for _ in range(rng.randrange(5, 80)):
            action = rng.random()
            if action < 0.6:
                counter += 1
                queue.push(rng.randrange(1, 8), f"j{counter}")
            elif action < 0.85:
                queue.pop()
            elif action < 0.95 and len(queue):
                queue.remove(rng.choice(queue.order()))
            else:
                queue.had_turn(rng.randrange(1, 8))
            check(queue)
        drained = []
        while (job_id := queue.pop()) is not None:
            drained.append(job_id)
        assert len(set(drained)) == len(drained)


def test_a_newcomer_goes_ahead_of_a_burst() -> None:
    queue = FairQueue()
    for index in range(10):
        queue.push(1, f"a{index}")
    queue.push(2, "b0")
    assert queue.position("b0") == 2 and queue.position("a9") == 11
