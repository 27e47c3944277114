"""Where operator alerts go, and the few notes about the bot's own life that must outlive a restart.

`AlertSink` is implemented at the edge: a Discord channel (bot/discord_adapter/alerts.py) and a webhook
(bot/alerting/webhook.py). `Notes` is implemented by storage/kv.py.
"""

from __future__ import annotations

from typing import Protocol


class AlertSink(Protocol):
    async def send(self, text: str) -> None:
        """Deliver one message to the operator. Raises when it could not; the caller logs that and goes on."""
        ...

    async def close(self) -> None:
        """Release what the sink holds (an HTTP session); called once, when the bot stops."""
        ...


class Notes(Protocol):
    """Small text values kept in the database across restarts."""

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing what was there."""
        ...

    async def take(self, key: str) -> str | None:
        """The value under `key`, removed in the same step (None when there is none)."""
        ...
