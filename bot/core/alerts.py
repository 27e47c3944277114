"""Operator alerts: one message when an incident opens and one when it clears, never one per job.

Incidents are tracked by key. Raising an open incident again sends nothing; clearing a closed one sends
nothing. An incident that flaps is announced at most once per `repeat_after` seconds: a re-opening
inside that window is only logged, and is announced by the first raise after the window if it is still
open then (a clear of an opening that was never announced is only logged too, so the operator's picture
stays true).

Sending never blocks or fails the caller: messages go into a queue that one background task hands to
every sink, in order, each send bounded by `send_timeout`; a sink that fails is logged and skipped.
With no sink configured, incidents are only logged (WARNING when one opens, INFO when it clears).

The incidents the operator was told are open are kept in `notes` (the kv table), so that after a restart
(fixing a key takes one) the clear still comes, and a still-open incident is not announced a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.core.clock import Clock
from bot.core.log_context import unbound_context
from bot.core.ports.alerts import AlertSink, Notes

log = logging.getLogger(__name__)

REPEAT_AFTER_SECONDS = 600.0  # at most one opening message per incident per 10 minutes
SEND_TIMEOUT_SECONDS = 30.0
CLOSE_GRACE_SECONDS = 5.0  # how long a stopping bot waits for queued alerts to go out
QUEUE_LIMIT = 200  # beyond this, alerts are only logged: a sink that hangs must not grow memory
OPEN_NOTE = "open_alerts"  # the kv key listing the incidents announced and not yet cleared
SAVE = None  # a queue item: write the open incidents to `notes` (in order with the messages around it)

Render = Callable[[list[str]], str]


@dataclass(slots=True)
class _Incident:
    open: bool = False
    announced: bool = False  # whether the operator was told of the current opening
    last_alert: float | None = None  # clock.monotonic() of the last opening message sent


@dataclass(slots=True)
class _Batch:
    render: Render
    items: list[str] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None


class Alerts:
    def __init__(self, sinks: Sequence[AlertSink], clock: Clock, *, repeat_after: float = REPEAT_AFTER_SECONDS,
                 send_timeout: float = SEND_TIMEOUT_SECONDS, notes: Notes | None = None) -> None:
        self.sinks = tuple(sinks)
        self.notes = notes
        self.clock = clock
        self.repeat_after = repeat_after
        self.send_timeout = send_timeout
        self._incidents: dict[str, _Incident] = {}
        self._batches: dict[str, _Batch] = {}
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # -- incidents --------------------------------------------------------------------------------------
    async def restore(self) -> list[str]:
        """At start-up: take back the incidents the last run announced and did not clear (returned)."""
        if self.notes is None:
            return []
        try:
            note = await self.notes.take(OPEN_NOTE)
            keys = [str(key) for key in json.loads(note)] if note else []
        except Exception:  # an unreadable note costs at most a repeated alert or a missing clear
            log.exception("could not read the alerts left open by the last run")
            return []
        for key in keys:
            self._incidents[key] = _Incident(open=True, announced=True)
        if keys:
            log.info("alerts still open from the last run: %s", ", ".join(keys))
            self._remember()
        return keys

    def is_open(self, key: str) -> bool:
        incident = self._incidents.get(key)
        return incident is not None and incident.open

    @property
    def open_incidents(self) -> list[str]:
        return sorted(key for key, incident in self._incidents.items() if incident.open)

    def raise_incident(self, key: str, text: str) -> None:
        """Open the incident `key` (telling the operator `text`); nothing more while it stays open."""
        incident = self._incidents.setdefault(key, _Incident())
        if incident.open and incident.announced:
            return
        if not incident.open:
            incident.open, incident.announced = True, False
            log.warning("alert (%s): %s", key, text)
        now = self.clock.monotonic()
        if incident.last_alert is not None and now - incident.last_alert < self.repeat_after:
            return  # it flapped: the operator heard of it moments ago; told again if it outlasts the window
        incident.announced, incident.last_alert = True, now
        self._send(text)
        self._remember()

    def clear(self, key: str, text: str) -> None:
        """Close the incident `key`, telling the operator `text` if they were told it had opened."""
        incident = self._incidents.get(key)
        if incident is None or not incident.open:
            return
        incident.open = False
        log.info("alert cleared (%s): %s", key, text)
        if incident.announced:
            incident.announced = False
            self._send(text)
            self._remember()

    def notify(self, text: str) -> None:
        """A one-off message with nothing to clear (the bot restarted after a loop died)."""
        log.warning("alert: %s", text)
        self._send(text)

    def add_to_batch(self, key: str, item: str, render: Render, window: float) -> None:
        """Collect `item` under `key`; `window` seconds after the first one, everything collected goes out
        as one message, `render(items)`."""
        batch = self._batches.setdefault(key, _Batch(render))
        batch.render = render
        batch.items.append(item)
        if batch.flusher is None:
            try:
                # Unbound: the batch gathers many jobs, whichever one started it (bot/core/log_context.py).
                batch.flusher = asyncio.get_running_loop().create_task(self._flush_later(key, window),
                                                                       context=unbound_context())
            except RuntimeError:  # no event loop (a synchronous caller): say it now
                self._flush(key)

    async def _flush_later(self, key: str, window: float) -> None:
        await self.clock.sleep(window)
        self._flush(key)

    def _flush(self, key: str) -> None:
        batch = self._batches.pop(key, None)
        if batch is not None and batch.items:
            self.notify(batch.render(batch.items))

    # -- sending ----------------------------------------------------------------------------------------
    def _send(self, text: str) -> None:
        if self.sinks:
            self._enqueue(text)

    def _remember(self) -> None:
        if self.notes is not None:
            self._enqueue(SAVE)

    def _enqueue(self, item: str | None) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            log.error("too many alerts waiting to be sent; this is only logged: %s", item or "(open alerts noted)")
            return
        if self._worker is None:
            try:
                # Unbound: it sends every later alert too, not only the one raised during this job.
                self._worker = asyncio.get_running_loop().create_task(self._deliver(), name="alerts",
                                                                      context=unbound_context())
            except RuntimeError:  # no event loop: it stays queued (and logged above)
                return

    async def _deliver(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is SAVE:
                    await self._save()
                else:
                    await asyncio.gather(*(self._send_to(sink, item) for sink in self.sinks))
            finally:
                self._queue.task_done()

    async def _send_to(self, sink: AlertSink, text: str) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await sink.send(text)
        except Exception as exc:  # an alert that cannot be sent must never take anything else down
            log.warning("could not send an alert through %s: %s", type(sink).__name__,
                        str(exc) or exc.__class__.__name__)

    async def _save(self) -> None:
        assert self.notes is not None
        announced = sorted(key for key, incident in self._incidents.items() if incident.open and incident.announced)
        try:
            async with asyncio.timeout(self.send_timeout):
                await self.notes.set(OPEN_NOTE, json.dumps(announced))
        except Exception:
            log.warning("could not note the open alerts; after a restart their clear may not be sent",
                        exc_info=True)

    async def drained(self) -> None:
        """Wait until every alert queued so far has been handed to the sinks (sent, failed or timed out)."""
        await self._queue.join()

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Send what is collected or queued (waiting up to `grace` seconds), then release the sinks."""
        for key, batch in list(self._batches.items()):
            if batch.flusher is not None:
                batch.flusher.cancel()
                await asyncio.gather(batch.flusher, return_exceptions=True)
            self._flush(key)
        self._closed = True
        if self._worker is not None:
            try:
                async with asyncio.timeout(grace):
                    await self.drained()
            except TimeoutError:
                log.warning("%d alert(s) could not be sent before stopping", self._queue.qsize())
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                await sink.close()
