"""When to check a job's status.

Without callbacks we follow the providers' own reference poller: first check 10 s after submit, then
5, 5, 10, 15, 15 s, and every 15 s after that. With callbacks expected, polling is only a safety net:
the first check waits until the job should long be done, so that with working callbacks most jobs
need no status call at all.
"""

from __future__ import annotations

FIRST_CHECK_SECONDS = 10.0
INTERVALS = (5.0, 5.0, 10.0, 15.0, 15.0)
SAFETY_NET_INTERVAL = 60.0


def poll_delay(checks_done: int, *, callback_expected_after: float | None = None) -> float:
    """Seconds to wait before status check number `checks_done + 1`.

    `callback_expected_after`: the job's expected generation time when a callback should arrive,
    or None when the provider cannot push.
    """
    if callback_expected_after is not None:
        if checks_done == 0:
            return max(FIRST_CHECK_SECONDS, callback_expected_after * 1.5 + 30.0)
        return SAFETY_NET_INTERVAL
    if checks_done == 0:
        return FIRST_CHECK_SECONDS
    return INTERVALS[min(checks_done - 1, len(INTERVALS) - 1)]
