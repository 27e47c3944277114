"""Logging to stdout, plain or JSON, with every secret masked wherever it might appear.

Masking works on the whole formatted record, after the message, its arguments, a traceback and any
extra fields have become text: a key quoted in an exception's message or in a provider's answer
inside a traceback is masked as surely as one in the log message itself.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

from aiohttp.http_exceptions import HttpProcessingError

from bot.config import Settings

# The bot's own secrets; a provider's are its settings' SecretStr fields (bot/providers/descriptor.py).
SECRET_FIELDS = ("discord_token", "callback_secret", "metrics_token", "alert_webhook_url")
MASK = "[redacted]"
SHORTEST_SECRET = 6  # shorter values would mask ordinary words


class SecretMask:
    """The secrets to hide. Values generated after start-up (the callback secret kept in the database,
    the sandbox key) are added when they exist."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        with self._lock:
            fresh = {v for v in values if v and len(v) >= SHORTEST_SECRET} - set(self._secrets)
            # Longest first, so a secret that contains another is masked whole.
            self._secrets = tuple(sorted({*self._secrets, *fresh}, key=len, reverse=True))

    def apply(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


secret_mask = SecretMask()


class MaskingFormatter(logging.Formatter):
    """Formats with `inner`, then masks every secret in the finished text."""

    def __init__(self, inner: logging.Formatter, mask: SecretMask) -> None:
        super().__init__()
        self.inner = inner
        self.mask = mask

    def format(self, record: logging.LogRecord) -> str:
        return self.mask.apply(self.inner.format(record))


class QuietBadRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a stranger's garbage on the public port) at ERROR with a
    full traceback. That is the client's fault, not the bot's: one INFO line without the traceback, so
    nobody can fill the log by sending junk."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "refused a malformed HTTP request: %s", (error.__class__.__name__,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                   "message": record.getMessage()}
        if hasattr(record, "job_id"):
            payload["job_id"] = record.job_id
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings: the bot's own and the chosen provider's."""
    own = [value.get_secret_value() for name in SECRET_FIELDS if (value := getattr(settings, name))]
    return own + settings.provider_settings.secret_values()


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stdout)
    inner = JsonFormatter() if settings.log_json else logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    secret_mask.add(*settings_secrets(settings))
    handler.setFormatter(MaskingFormatter(inner, secret_mask))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietBadRequests) for f in server_log.filters):
        server_log.addFilter(QuietBadRequests())
