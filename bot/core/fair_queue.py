"""Round-robin across members: one member's burst never starves another member's single job."""

from __future__ import annotations

from collections import OrderedDict, deque


class FairQueue:
    """Each member has a line of their own; dispatch takes one job from each member in turn."""

    def __init__(self) -> None:
        self._lines: OrderedDict[int, deque[str]] = OrderedDict()
        self._owner: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._owner

    def push(self, user_id: int, job_id: str) -> None:
        if job_id in self._owner:
            return
        self._lines.setdefault(user_id, deque()).append(job_id)
        self._owner[job_id] = user_id

    def pop(self) -> str | None:
        """The next job in round-robin order, or None when empty."""
        if not self._lines:
            return None
        user_id, line = next(iter(self._lines.items()))
        job_id = line.popleft()
        del self._owner[job_id]
        del self._lines[user_id]
        if line:
            self._lines[user_id] = line  # back of the rotation
        return job_id

    def remove(self, job_id: str) -> bool:
        user_id = self._owner.pop(job_id, None)
        if user_id is None:
            return False
        line = self._lines[user_id]
        line.remove(job_id)
        if not line:
            del self._lines[user_id]
        return True

    def order(self) -> list[str]:
        """Every queued job in the order it would be dispatched."""
        lines = [list(line) for line in self._lines.values()]
        result: list[str] = []
        for depth in range(max((len(line) for line in lines), default=0)):
            result.extend(line[depth] for line in lines if depth < len(line))
        return result

    def position(self, job_id: str) -> int | None:
        """1 for the next job to go out; None when the job is not queued."""
        if job_id not in self._owner:
            return None
        return self.order().index(job_id) + 1
