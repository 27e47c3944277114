"""Answers before the work that can follow them.

A `/video` is answered with its status message (accepted, with its queue position) or a refusal; Discord
gives the bot 3 seconds for it. Other work shares the one event loop: above all the queue-position edits of
jobs already waiting, which cost about as much as an answer each. In a burst of commands, edits started by
the first answers would be paid for by the answers still being prepared, so status edits wait here until
no answer is being prepared (`bench/PROFILE.md` has the measurements). The wait is bounded, so a steady
stream of commands never holds the edits back for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

MOST_WAIT_SECONDS = 1.0  # then the edits go ahead even while answers are still being prepared
# A burst's commands reach the bot over some milliseconds, and between two of them no answer may be in preparation
# for a moment: edits wait until none has begun for this long.
SETTLE_SECONDS = 0.05


class Answer:
    """One answer being prepared; `done()` (idempotent) once it has gone out or been given up."""

    def __init__(self, owner: AnswersFirst) -> None:
        self._owner: AnswersFirst | None = owner

    def done(self) -> None:
        if self._owner is not None:
            self._owner._one_done()
            self._owner = None


class AnswersFirst:
    """Counts the answers being prepared (`begin`); `answered()` waits until it is quiet. Real time (like the
    dispatcher's `position_refresh`): this paces work on the event loop, not anything a member sees."""

    def __init__(self, most_wait: float = MOST_WAIT_SECONDS, settle: float = SETTLE_SECONDS) -> None:
        self.most_wait = most_wait
        self.settle = settle
        self._preparing = 0
        self._none_preparing = asyncio.Event()
        self._none_preparing.set()
        self._last_begun: Answer | None = None
        self._last_begun_at = -math.inf

    @property
    def preparing(self) -> int:
        """How many answers are being prepared now."""
        return self._preparing

    def begin(self) -> Answer:
        answer = Answer(self)
        self._preparing += 1
        self._none_preparing.clear()
        self._last_begun, self._last_begun_at = answer, time.monotonic()
        return answer

    def _one_done(self) -> None:
        self._preparing -= 1
        if not self._preparing:
            self._none_preparing.set()

    def quiet(self, own: Answer | None = None) -> bool:
        """No answer is being prepared, and none began in the last `settle` seconds (but `own`, the caller's)."""
        if self._preparing:
            return False
        return self._last_begun is own or time.monotonic() - self._last_begun_at >= self.settle

    async def answered(self) -> None:
        """Return once it is quiet, or after `most_wait` seconds."""
        deadline = time.monotonic() + self.most_wait
        while not self.quiet():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._preparing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._none_preparing.wait()
            else:
                await asyncio.sleep(min(left, self.settle - (time.monotonic() - self._last_begun_at)))
