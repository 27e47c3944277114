"""Operator alerts POSTed as JSON to ALERT_WEBHOOK_URL: a Discord webhook, a Slack incoming webhook, or any
endpoint taking JSON. The body carries the text twice, as `content` (Discord) and `text` (Slack and
alike); each endpoint ignores the field it does not know.

The URL is the operator's own, so it is not held to the download guard (bot/downloads); it holds a secret
(a Discord or Slack webhook token), so it never appears in a log line or an error: failures are reported
by status or error class only.
"""

from __future__ import annotations

import aiohttp

from bot.logs import secret_mask

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
MAX_CONTENT = 2000  # a Discord webhook refuses longer content


class AlertNotSent(Exception):
    """The webhook did not take the alert; the message names no URL."""


class WebhookAlerts:
    """An `AlertSink` with an HTTP session of its own (made on first use, inside the running loop)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._session: aiohttp.ClientSession | None = None
        secret_mask.add(url)  # also masked when logging was not set up from the settings

    async def send(self, text: str) -> None:
        content = secret_mask.apply(text)
        if len(content) > MAX_CONTENT:
            content = content[: MAX_CONTENT - 1] + "…"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            async with self._session.post(self._url, json={"content": content, "text": content},
                                          allow_redirects=False) as response:
                if not 200 <= response.status < 300:
                    raise AlertNotSent(f"the webhook answered HTTP {response.status}")
        except aiohttp.ClientError as exc:  # its text may hold the URL: only the class is told
            raise AlertNotSent(f"the webhook could not be reached ({exc.__class__.__name__})") from None
        except TimeoutError:
            raise AlertNotSent("the webhook did not answer in time") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
