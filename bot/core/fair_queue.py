"""Round-robin across members: one member's burst never starves another member's single job."""

from __future__ import annotations

import heapq
import itertools
from collections import deque


class FairQueue:
    """Each member has a line of their own; dispatch takes one job from each member in turn.

    Every member's next job carries a round number: one more than their previous job's, and never less
    than the round being dispatched now. The next job out is the one with the lowest round, and among
    equal rounds the one whose member's turn came longest ago. For members already waiting that is plain
    round-robin; a member who joins while another's burst is under way goes next, not behind the member
    who has just had a turn, and sending one job at a time gains nothing over queueing them all.
    """

    def __init__(self) -> None:
        self._lines: dict[int, deque[str]] = {}
        self._rank: dict[int, tuple[int, int]] = {}  # member -> (round of their next job, when it queued)
        # Members whose line emptied: the round their next job gets (the queue running dry between one
        # member's jobs must not let them start a fresh round ahead of a member who is waiting).
        self._next_round: dict[int, int] = {}
        self._round = 0  # the round of the job dispatched last
        self._owner: dict[str, int] = {}
        self._turns = itertools.count()

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._owner

    def push(self, user_id: int, job_id: str) -> None:
        if job_id in self._owner:
            return
        if user_id not in self._lines:
            self._lines[user_id] = deque()
            start = max(self._round, self._next_round.pop(user_id, 0))
            self._rank[user_id] = (start, next(self._turns))
        self._lines[user_id].append(job_id)
        self._owner[job_id] = user_id

    def had_turn(self, user_id: int) -> None:
        """Count a job of this member's that is already at the provider (found at start-up) as their turn
        in the current round, as it was before the restart."""
        if user_id in self._rank:
            next_round, turn = self._rank[user_id]
            self._rank[user_id] = (next_round + 1, turn)
        else:
            self._next_round[user_id] = max(self._next_round.get(user_id, 0), self._round) + 1

    def pop(self) -> str | None:
        """The next job in fair order, or None when empty."""
        if not self._rank:
            return None
        user_id = min(self._rank, key=self._rank.__getitem__)
        line = self._lines[user_id]
        job_id = line.popleft()
        del self._owner[job_id]
        self._round = self._rank[user_id][0]
        if line:
            self._rank[user_id] = (self._round + 1, next(self._turns))  # back of the rotation
        else:
            self._drop(user_id, self._round + 1)
        return job_id

    def remove(self, job_id: str) -> bool:
        user_id = self._owner.pop(job_id, None)
        if user_id is None:
            return False
        line = self._lines[user_id]
        line.remove(job_id)
        if not line:
            self._drop(user_id, self._rank[user_id][0])
        return True

    def _drop(self, user_id: int, next_round: int) -> None:
        del self._lines[user_id]
        del self._rank[user_id]
        self._next_round[user_id] = next_round
        if len(self._next_round) > 2 * len(self._lines) + 100:  # forget what no longer holds anyone back
            self._next_round = {u: r for u, r in self._next_round.items() if r > self._round}

    def order(self) -> list[str]:
        """Every queued job in the order it would be dispatched (what `pop` would do, without popping)."""
        heap = [(served, turn, user_id, 0) for user_id, (served, turn) in self._rank.items()]
        heapq.heapify(heap)
        turns = itertools.count(max((turn for _, turn in self._rank.values()), default=0) + 1)
        lines = {user_id: list(line) for user_id, line in self._lines.items()}
        result = []
        while heap:
            served, _, user_id, depth = heapq.heappop(heap)
            line = lines[user_id]
            result.append(line[depth])
            if depth + 1 < len(line):
                heapq.heappush(heap, (served + 1, next(turns), user_id, depth + 1))
        return result

    def position(self, job_id: str) -> int | None:
        """1 for the next job to go out; None when the job is not queued."""
        user_id = self._owner.get(job_id)
        if user_id is None:
            return None
        return self._jobs_ahead(user_id, self._lines[user_id].index(job_id)) + 1

    def _jobs_ahead(self, user_id: int, depth: int) -> int:
        """How many queued jobs `pop` returns before this member's job at `depth` in their line.

        `pop` takes jobs in order of (round, depth in their member's line, the member's turn), as
        `order` simulates; counting by that key per member is O(members), not O(jobs).
        """
        served, turn = self._rank[user_id]
        key = (served + depth, depth, turn)
        ahead = 0
        for member, (member_served, member_turn) in self._rank.items():
            length = len(self._lines[member])
            earlier_rounds = min(length, max(0, key[0] - member_served))  # their jobs of rounds before ours
            ahead += earlier_rounds
            same_round_depth = key[0] - member_served
            if 0 <= same_round_depth < length and (same_round_depth, member_turn) < (depth, turn):
                ahead += 1
        return ahead
