"""The incidents the job path reports to the operator, and their words.

- the provider refusing for credits: opens on a refused submit, clears on the next successful submit;
- the provider refusing the key (401/403): clears on the next successful provider call;
- the provider down (PROVIDER_DOWN on every submit and status call for `down_after` seconds): clears on
  the next successful call;
- jobs failed for reconciliation: batched, one message per `batch_seconds`, nothing to clear here (the
  operator settles them with `kling-bot reconcile`);
- the disk nearly full (delivery's free-space check): clears when a later check on that disk passes;
- the bot restarted after a background loop died: written down before the process exits, told at the
  next start.

Texts name the provider and say what to do; they never hold a key (provider errors carry none).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from bot.core.alerts import Alerts
from bot.core.clock import Clock
from bot.core.ports.alerts import Notes
from bot.core.ports.provider import ErrorKind, ProviderError

log = logging.getLogger(__name__)

DOWN_AFTER_SECONDS = 300.0
RECONCILIATION_BATCH_SECONDS = 60.0
MAX_LISTED_JOBS = 25  # a batch lists this many ids; the rest are counted (`kling-bot reconcile` lists all)
ERROR_TEXT_LIMIT = 200
DEATH_NOTE = "background_death"  # the kv key holding the last loop death until the next start reports it

CREDITS, KEY, DOWN = "provider-credits", "provider-key", "provider-down"
MiB = 1024**2


def _span(seconds: float) -> str:
    if seconds < 120:
        whole = max(1, round(seconds))
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


class ProviderIncidents:
    """Fed by the dispatcher (submits) and the tracker (status checks) with every provider answer."""

    def __init__(self, alerts: Alerts, provider_name: str, clock: Clock, *,
                 down_after: float = DOWN_AFTER_SECONDS) -> None:
        self.alerts = alerts
        self.provider = provider_name
        self.clock = clock
        self.down_after = down_after
        self._down_since: float | None = None  # clock.monotonic() of the first PROVIDER_DOWN since a success

    def submit_failed(self, error: ProviderError) -> None:
        if error.kind is ErrorKind.INSUFFICIENT_CREDITS:
            self.alerts.raise_incident(CREDITS, (
                f"Alert: the {self.provider} account refused a job for lack of credits. Top up the "
                f"{self.provider} account; new jobs fail (and are refunded) until then."))
        self._failed(error)

    def status_failed(self, error: ProviderError) -> None:
        self._failed(error)

    def submit_ok(self) -> None:
        if self.alerts.is_open(CREDITS):
            self.alerts.clear(CREDITS, f"Cleared: {self.provider} accepted a job again, so the account has credits.")
        self._ok()

    def status_ok(self) -> None:
        self._ok()

    def _failed(self, error: ProviderError) -> None:
        if error.kind is ErrorKind.MISCONFIGURED:
            answer = f" (HTTP {error.status})" if error.status else ""
            self.alerts.raise_incident(KEY, (
                f"Alert: {self.provider} refused the bot's API key{answer}. Check the {self.provider} key the "
                "bot is configured with (`kling-bot check` tests it), then restart the bot; new jobs fail "
                "(and are refunded) until then."))
        elif error.kind is ErrorKind.PROVIDER_DOWN:
            now = self.clock.monotonic()
            if self._down_since is None:
                self._down_since = now
            if now - self._down_since >= self.down_after:
                self.alerts.raise_incident(DOWN, (
                    f"Alert: {self.provider} has been failing or unreachable for over {_span(self.down_after)} "
                    f"(last error: {_clip(str(error))}). Jobs wait and are retried; any not sent within the job "
                    f"timeout fail and are refunded. Check {self.provider}'s status page and the bot's network."))

    def _ok(self) -> None:
        if self.alerts.is_open(KEY):
            self.alerts.clear(KEY, f"Cleared: {self.provider} accepts the bot's API key again.")
        if self._down_since is not None or self.alerts.is_open(DOWN):  # open: maybe from before a restart
            lasted = ("" if self._down_since is None
                      else f" (it was failing for {_span(self.clock.monotonic() - self._down_since)})")
            self._down_since = None
            self.alerts.clear(DOWN, f"Cleared: {self.provider} answers again{lasted}.")


class ReconciliationAlerts:
    """Jobs failed because the bot could not tell whether the provider started them: each needs the operator,
    so each is told, but those within `batch_seconds` of each other in one message."""

    def __init__(self, alerts: Alerts, provider_name: str, *,
                 batch_seconds: float = RECONCILIATION_BATCH_SECONDS) -> None:
        self.alerts = alerts
        self.provider = provider_name
        self.batch_seconds = batch_seconds

    def job_needs_reconciliation(self, job_id: str) -> None:
        self.alerts.add_to_batch("reconciliation", job_id, self._render, self.batch_seconds)

    def _render(self, job_ids: list[str]) -> str:
        count = len(job_ids)
        jobs = "1 job needs" if count == 1 else f"{count} jobs need"
        listed = ", ".join(job_ids[:MAX_LISTED_JOBS])
        more = f" and {count - MAX_LISTED_JOBS} more" if count > MAX_LISTED_JOBS else ""
        return (f"Alert: {jobs} reconciliation: the bot could not tell whether {self.provider} started "
                f"{'it' if count == 1 else 'them'}, so it did not send {'it' if count == 1 else 'them'} again and "
                f"refunded the members. Look each up in the {self.provider} dashboard, then settle it with "
                "`kling-bot reconcile JOB --failed` or `kling-bot reconcile JOB --delivered URL` "
                f"(`kling-bot reconcile` lists them). Jobs: {listed}{more}.")


class DiskIncidents:
    """Delivery's free-space checks, one incident per folder checked (the scratch folder and the media
    archive may sit on different disks)."""

    def __init__(self, alerts: Alerts) -> None:
        self.alerts = alerts

    def low(self, folder: Path, free: int, needed: int) -> None:
        self.alerts.raise_incident(f"disk:{folder}", (
            f"Alert: the disk holding {folder} is nearly full ({free // MiB} MiB free; downloads need "
            f"{-(-needed // MiB)} MiB: the largest video plus a safety margin). Videos are posted as the "
            "provider's expiring links instead of files until there is room. Free some space on that disk."))

    def ok(self, folder: Path) -> None:
        self.alerts.clear(f"disk:{folder}", (
            f"Cleared: the disk holding {folder} has room again; videos are downloaded and attached again."))


class Incidents:
    """Everything the job engine's parts report, over one `Alerts` service."""

    def __init__(self, alerts: Alerts, provider_name: str, clock: Clock) -> None:
        self.alerts = alerts
        self.provider = ProviderIncidents(alerts, provider_name, clock)
        self.reconciliation = ReconciliationAlerts(alerts, provider_name)
        self.disk = DiskIncidents(alerts)

    @classmethod
    def logged_only(cls, provider_name: str, clock: Clock) -> Incidents:
        """No sinks: incidents are only logged (parts built on their own, as in unit tests)."""
        return cls(Alerts((), clock), provider_name, clock)


# -- a loop that died, told after the restart ------------------------------------------------------------
async def remember_death(notes: Notes, dead: dict[str, str], when: datetime) -> None:
    """Write down which loops died and why, so the next start can tell the operator. Never raises: the
    process is on its way out and must still exit."""
    try:
        await notes.set(DEATH_NOTE, json.dumps({"tasks": dead, "at": when.isoformat()}))
    except Exception:
        log.exception("could not record the background task's death for the next start")


async def report_restart(notes: Notes, alerts: Alerts) -> str | None:
    """At start-up: tell the operator about a loop death the last run wrote down, once. Returns the text
    (None when there was nothing to tell)."""
    try:
        note = await notes.take(DEATH_NOTE)
    except Exception:
        log.exception("could not read the record of an earlier background task death")
        return None
    if note is None:
        return None
    try:
        recorded = json.loads(note)
        deaths = "; ".join(f"{name} died: {why}" for name, why in dict(recorded["tasks"]).items())
        at = datetime.fromisoformat(recorded["at"]).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, KeyError, TypeError):
        deaths, at = "a background task died", "an unknown time"
    text = (f"Alert: the bot restarted after {deaths} (at {at}). No jobs were lost. If this happens again, "
            "keep the log lines from just before the restart and report them to whoever maintains the bot.")
    alerts.notify(text)
    return text
