"""The operator's alerts, with the fake clock: one message when an incident opens and one when it clears,
flapping held to one opening message per window, provider incidents from the answers the dispatcher and the
tracker see, reconciliations batched, a failing sink never in the way, and a loop's death told once after
the restart (through the real key-value table)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.core.alerts import Alerts
from bot.core.incidents import (
    DOWN,
    DiskIncidents,
    ProviderIncidents,
    ReconciliationAlerts,
    remember_death,
    report_restart,
)
from bot.core.ports.provider import ErrorKind, ProviderError
from storage.database import Database
from storage.kv import KeyValueStore
from tests.clock import FakeClock
from tests.waiting import until

MINUTE = 60.0
CREDITS = ProviderError(ErrorKind.INSUFFICIENT_CREDITS, "Insufficient credits", status=402)
BAD_KEY = ProviderError(ErrorKind.MISCONFIGURED, "Not authenticated", status=401)
DOWN_ERROR = ProviderError(ErrorKind.PROVIDER_DOWN, "HTTP 503: Service Unavailable", retryable=True, status=503)


class RecordingSink:
    """An AlertSink that keeps what it was sent."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.closed = False

    async def send(self, text: str) -> None:
        self.messages.append(text)

    async def close(self) -> None:
        self.closed = True


class BrokenSink:
    def __init__(self, error: Exception | None = None, *, hang: bool = False) -> None:
        self.error = error or ConnectionError("the webhook is down")
        self.hang = hang

    async def send(self, text: str) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        raise self.error

    async def close(self) -> None:
        raise RuntimeError("cannot even close")


async def sent(alerts: Alerts) -> None:
    """Let the sending task hand out everything queued so far."""
    await asyncio.wait_for(alerts.drained(), 5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def alerts(sink: RecordingSink, clock: FakeClock) -> Alerts:
    return Alerts([sink], clock)


# -- the incident logic ---------------------------------------------------------------------------------
async def test_an_incident_is_told_once_while_open_and_once_when_cleared(alerts: Alerts, sink: RecordingSink) -> None:
    for _ in range(5):
        alerts.raise_incident("credits", "out of credits")
    assert alerts.is_open("credits") and alerts.open_incidents == ["credits"]
    alerts.clear("credits", "credits again")
    alerts.clear("credits", "credits again")
    await sent(alerts)
    assert sink.messages == ["out of credits", "credits again"]
    assert not alerts.is_open("credits")


async def test_clearing_what_never_opened_sends_nothing(alerts: Alerts, sink: RecordingSink) -> None:
    alerts.clear("credits", "credits again")
    alerts.raise_incident("key", "bad key")
    alerts.clear("credits", "credits again")
    await sent(alerts)
    assert sink.messages == ["bad key"]


async def test_incidents_are_independent_by_key(alerts: Alerts, sink: RecordingSink) -> None:
    alerts.raise_incident("a", "a opened")
    alerts.raise_incident("b", "b opened")
    alerts.clear("a", "a cleared")
    await sent(alerts)
    assert sink.messages == ["a opened", "b opened", "a cleared"]
    assert alerts.open_incidents == ["b"]


async def test_a_flapping_incident_opens_at_most_once_per_ten_minutes(
    alerts: Alerts, sink: RecordingSink, clock: FakeClock
) -> None:
    alerts.raise_incident("down", "down")
    alerts.clear("down", "up")
    for _ in range(4):  # flaps within the window: logged, not sent
        clock.advance(MINUTE)
        alerts.raise_incident("down", "down")
        alerts.clear("down", "up")
    await sent(alerts)
    assert sink.messages == ["down", "up"]

    clock.advance(6 * MINUTE)  # ten minutes after the first message
    alerts.raise_incident("down", "down")
    await sent(alerts)
    assert sink.messages == ["down", "up", "down"]


async def test_a_reopening_inside_the_window_is_told_once_it_outlasts_it(
    alerts: Alerts, sink: RecordingSink, clock: FakeClock
) -> None:
    alerts.raise_incident("down", "down")
    clock.advance(MINUTE)
    alerts.clear("down", "up")
    clock.advance(MINUTE)
    alerts.raise_incident("down", "down again")  # inside the window: the operator still believes "up"
    clock.advance(7 * MINUTE)
    alerts.raise_incident("down", "down again")  # 9 minutes after the first message: still held
    await sent(alerts)
    assert sink.messages == ["down", "up"]
    clock.advance(MINUTE)
    alerts.raise_incident("down", "down again")  # it outlasted the window: now the operator hears of it
    alerts.raise_incident("down", "down again")
    alerts.clear("down", "up again")
    await sent(alerts)
    assert sink.messages == ["down", "up", "down again", "up again"]


async def test_without_a_sink_incidents_are_logged_warning_on_open_info_on_clear(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.core.alerts")
    quiet = Alerts((), clock)
    quiet.raise_incident("credits", "out of credits")
    quiet.raise_incident("credits", "out of credits")
    quiet.clear("credits", "credits again")
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "bot.core.alerts"]
    assert records == [(logging.WARNING, "alert (credits): out of credits"),
                       (logging.INFO, "alert cleared (credits): credits again")]
    await quiet.close()


async def test_a_failing_sink_is_logged_and_the_others_still_get_the_message(
    clock: FakeClock, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    alerts = Alerts([BrokenSink(), BrokenSink(hang=True), sink], clock, send_timeout=0.05)
    alerts.raise_incident("credits", "out of credits")  # returns at once, whatever the sinks do
    alerts.raise_incident("key", "bad key")
    await sent(alerts)
    assert sink.messages == ["out of credits", "bad key"]
    failures = [r.getMessage() for r in caplog.records if "could not send an alert" in r.getMessage()]
    assert "could not send an alert through BrokenSink: the webhook is down" in failures
    assert "could not send an alert through BrokenSink: TimeoutError" in failures
    await alerts.close()  # a sink that fails to close does not stop the others
    assert sink.closed


async def test_close_sends_what_is_queued_and_collected_then_nothing_more(
    alerts: Alerts, sink: RecordingSink
) -> None:
    reconciliation = ReconciliationAlerts(alerts, "runblob", batch_seconds=3600)
    alerts.raise_incident("credits", "out of credits")
    reconciliation.job_needs_reconciliation("job-1")
    await alerts.close()
    assert sink.messages[0] == "out of credits"
    assert len(sink.messages) == 2 and "job-1" in sink.messages[1]
    assert sink.closed
    alerts.raise_incident("key", "bad key")
    await asyncio.sleep(0.01)
    assert len(sink.messages) == 2


# -- provider incidents ---------------------------------------------------------------------------------
async def test_credits_open_on_a_refused_submit_and_clear_on_the_next_submit_only(
    alerts: Alerts, sink: RecordingSink, clock: FakeClock
) -> None:
    provider = ProviderIncidents(alerts, "runblob", clock)
    for _ in range(5):
        provider.submit_failed(CREDITS)
    provider.status_ok()  # a status answer says nothing about credits
    assert alerts.is_open("provider-credits")
    provider.submit_ok()
    await sent(alerts)
    assert sink.messages == [
        "Alert: the runblob account refused a job for lack of credits. Top up the runblob account; new jobs fail "
        "(and are refunded) until then.",
        "Cleared: runblob accepted a job again, so the account has credits.",
    ]


async def test_a_refused_key_clears_on_any_successful_call(
    alerts: Alerts, sink: RecordingSink, clock: FakeClock
) -> None:
    provider = ProviderIncidents(alerts, "segmind", clock)
    provider.submit_failed(BAD_KEY)
    provider.status_failed(BAD_KEY)
    provider.status_ok()
    await sent(alerts)
    assert sink.messages == [
        "Alert: segmind refused the bot's API key (HTTP 401). Check the segmind key the bot is configured with "
        "(`kling-bot check` tests it), then restart the bot; new jobs fail (and are refunded) until then.",
        "Cleared: segmind accepts the bot's API key again.",
    ]
    assert "test-key" not in " ".join(sink.messages)


async def test_the_provider_is_down_only_after_five_minutes_of_failures_without_a_success(
    alerts: Alerts, sink: RecordingSink, clock: FakeClock
) -> None:
    provider = ProviderIncidents(alerts, "runblob", clock)
    provider.submit_failed(DOWN_ERROR)
    clock.advance(4 * MINUTE)
    provider.status_failed(DOWN_ERROR)
    provider.status_ok()  # a success in between: the five minutes start again
    clock.advance(MINUTE)
    provider.submit_failed(DOWN_ERROR)
    clock.advance(4 * MINUTE + 59)
    provider.status_failed(DOWN_ERROR)
    assert not alerts.is_open(DOWN)
    clock.advance(1)
    provider.submit_failed(ProviderError(ErrorKind.RATE_LIMITED, "busy"))  # not a success: still down
    provider.status_failed(DOWN_ERROR)
    provider.submit_failed(DOWN_ERROR)
    assert alerts.is_open(DOWN)
    clock.advance(2 * MINUTE)
    provider.submit_ok()
    await sent(alerts)
    assert sink.messages == [
        "Alert: runblob has been failing or unreachable for over 5 minutes (last error: provider_down: HTTP 503: "
        "Service Unavailable). Jobs wait and are retried; any not sent within the job timeout fail and are "
        "refunded. Check runblob's status page and the bot's network.",
        "Cleared: runblob answers again (it was failing for 7 minutes).",
    ]


async def test_reconciliations_within_the_window_go_out_as_one_message(
    alerts: Alerts, sink: RecordingSink
) -> None:
    reconciliation = ReconciliationAlerts(alerts, "runblob")
    for job_id in ("job-a", "job-b", "job-c"):
        reconciliation.job_needs_reconciliation(job_id)
    await until(lambda: bool(sink.messages))
    reconciliation.job_needs_reconciliation("job-d")  # a later one starts its own batch
    await until(lambda: len(sink.messages) == 2)
    assert sink.messages[0] == (
        "Alert: 3 jobs need reconciliation: the bot could not tell whether runblob started them, so it did not "
        "send them again and refunded the members. Look each up in the runblob dashboard, then settle it with "
        "`kling-bot reconcile JOB --failed` or `kling-bot reconcile JOB --delivered URL` (`kling-bot reconcile` "
        "lists them). Jobs: job-a, job-b, job-c.")
    assert sink.messages[1].startswith("Alert: 1 job needs reconciliation: the bot could not tell whether runblob "
                                       "started it,") and sink.messages[1].endswith("Jobs: job-d.")


async def test_a_long_batch_lists_the_first_ids_and_counts_the_rest(alerts: Alerts, sink: RecordingSink) -> None:
    reconciliation = ReconciliationAlerts(alerts, "runblob")
    for number in range(30):
        reconciliation.job_needs_reconciliation(f"job-{number}")
    await until(lambda: bool(sink.messages))
    assert sink.messages[0].startswith("Alert: 30 jobs need reconciliation")
    assert sink.messages[0].endswith("job-24 and 5 more.") and "job-25" not in sink.messages[0]


async def test_the_disk_incident_is_per_folder(alerts: Alerts, sink: RecordingSink, tmp_path: Path) -> None:
    disk = DiskIncidents(alerts)
    work, media = tmp_path / "tmp", tmp_path / "media"
    disk.low(work, 100 * 1024**2, 300 * 1024**2)
    disk.low(work, 90 * 1024**2, 300 * 1024**2)
    disk.ok(media)  # another disk passing says nothing about this one
    disk.ok(work)
    await sent(alerts)
    assert sink.messages == [
        f"Alert: the disk holding {work} is nearly full (100 MiB free; downloads need 300 MiB: the largest video "
        "plus a safety margin). Videos are posted as the provider's expiring links instead of files until there "
        "is room. Free some space on that disk.",
        f"Cleared: the disk holding {work} has room again; videos are downloaded and attached again.",
    ]


# -- across a restart ----------------------------------------------------------------------------------
async def test_open_incidents_outlive_a_restart_so_the_clear_still_comes(
    sink: RecordingSink, clock: FakeClock, tmp_path: Path
) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        before = Alerts([sink], clock, notes=KeyValueStore(database))
        assert await before.restore() == []
        before.raise_incident("provider-key", "bad key")
        before.raise_incident("provider-credits", "no credits")
        before.clear("provider-credits", "credits again")
        before.raise_incident("provider-credits", "no credits")  # flapped: held back, so not noted as told
        await before.close()

        after_sink = RecordingSink()
        after = Alerts([after_sink], clock, notes=KeyValueStore(database))
        assert await after.restore() == ["provider-key"]
        after.raise_incident("provider-key", "bad key")  # still refused after the restart: already told
        after.clear("provider-key", "key fine")
        await after.close()

        again = Alerts([RecordingSink()], clock, notes=KeyValueStore(database))
        assert await again.restore() == []  # cleared, so nothing is carried into a third run
        await again.close()
    finally:
        await database.close()
    assert sink.messages == ["bad key", "no credits", "credits again"]
    assert after_sink.messages == ["key fine"]


async def test_an_unreadable_note_of_open_incidents_is_dropped(
    alerts: Alerts, clock: FakeClock, tmp_path: Path
) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        notes = KeyValueStore(database)
        await notes.set("open_alerts", "{not json")
        assert await Alerts([RecordingSink()], clock, notes=notes).restore() == []
        assert await notes.get("open_alerts") is None
    finally:
        await database.close()


async def test_a_provider_down_before_a_restart_is_cleared_by_the_first_success_after_it(
    sink: RecordingSink, clock: FakeClock, tmp_path: Path
) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        notes = KeyValueStore(database)
        await notes.set("open_alerts", '["provider-down"]')  # what a run that stopped mid-outage left
        alerts = Alerts([sink], clock, notes=notes)
        await alerts.restore()
        provider = ProviderIncidents(alerts, "runblob", clock)
        provider.status_ok()
        provider.status_ok()
        await alerts.close()
    finally:
        await database.close()
    assert sink.messages == ["Cleared: runblob answers again."]


# -- a loop's death, told after the restart -------------------------------------------------------------
async def test_a_recorded_death_is_told_once_at_the_next_start(
    alerts: Alerts, sink: RecordingSink, clock: FakeClock, tmp_path: Path
) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        notes = KeyValueStore(database)
        await remember_death(notes, {"dispatcher": "RuntimeError: a bug in the queue"}, clock.now())
        told = await report_restart(notes, alerts)
        assert await report_restart(notes, alerts) is None  # the record is gone once told
        assert await notes.get("background_death") is None
    finally:
        await database.close()
    await sent(alerts)
    assert told == ("Alert: the bot restarted after dispatcher died: RuntimeError: a bug in the queue (at "
                    "2026-11-20 12:00 UTC). No jobs were lost. If this happens again, keep the log lines from just "
                    "before the restart and report them to whoever maintains the bot.")
    assert sink.messages == [told]


async def test_nothing_recorded_nothing_told(alerts: Alerts, sink: RecordingSink, tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert await report_restart(KeyValueStore(database), alerts) is None
    finally:
        await database.close()
    await alerts.close()
    assert sink.messages == []
