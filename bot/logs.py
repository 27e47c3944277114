"""Logging to stdout, plain or JSON, with every secret masked wherever it might appear.

Masking works on the whole formatted record, after the message, its arguments, a traceback and any
extra fields have become text: a key quoted in an exception's message or in a provider's answer
inside a traceback is masked as surely as one in the log message itself.

The job a line is about comes from bot/core/log_context.py: `JobFieldsFilter` copies the bound job's id,
guild, user and provider onto every record, so a job can be followed through the log (plain lines end in
` job=... guild=... user=... provider=...`; JSON lines carry them as fields).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp.http_exceptions import HttpProcessingError

from bot.config import Settings
from bot.core.log_context import bound_fields

# The bot's own secrets; a provider's are its settings' SecretStr fields (bot/providers/descriptor.py).
SECRET_FIELDS = ("discord_token", "callback_secret", "metrics_token", "alert_webhook_url")
MASK = "[redacted]"
SHORTEST_SECRET = 6  # shorter values would mask ordinary words
JOB_FIELDS = ("job_id", "guild_id", "user_id", "provider")  # bot/core/log_context.py JobFields
PLAIN_NAMES = {"job_id": "job", "guild_id": "guild", "user_id": "user", "provider": "provider"}


class SecretMask:
    """The secrets to hide. Values generated after start-up (the callback secret kept in the database,
    the sandbox key) are added when they exist."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        kept = [v for v in values if v and len(v) >= SHORTEST_SECRET]
        # In a JSON line a value with quotes, backslashes or non-ASCII characters appears escaped.
        escaped = [json.dumps(v)[1:-1] for v in kept]
        with self._lock:
            fresh = {*kept, *escaped} - set(self._secrets)
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


class JobFieldsFilter(logging.Filter):
    """Copies the job bound where the bot started handling it (bot/core/log_context.py) onto every record
    that reaches the handler, whichever logger wrote it (the bot's, discord.py's, aiohttp's). A field the
    call passed itself in `extra` is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in bound_fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class PlainFormatter(logging.Formatter):
    """One readable line; the job's fields follow the message (before a traceback, on the same line)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{PLAIN_NAMES[name]}={getattr(record, name)}" for name in JOB_FIELDS
                          if getattr(record, name, None) is not None)
        line = super().formatMessage(record)
        return f"{line} {fields}" if fields else line


# What every LogRecord has; anything else on a record came from a call's `extra` (or the filter above).
# taskName is a record attribute from Python 3.12 on.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO-8601 UTC), level, logger, message, the job's fields (ids as
    strings), any other `extra` fields, and a traceback as the `exception` field (json.dumps escapes its
    newlines, so it never spills onto lines of its own).

    Written here rather than taken from a library (python-json-logger): it is this one method on top of
    json.dumps, and the line's exact shape is what operators' log queries depend on."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"time": utc_timestamp(record.created), "level": record.levelname,
                                   "logger": record.name, "message": record.getMessage()}
        for name in JOB_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                # Discord ids as strings, as Discord's own API sends them: as JSON numbers beyond 2**53 they
                # lose their last digits in many readers (jq, JavaScript).
                payload[name] = str(value) if isinstance(value, int) else value
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRIBUTES and name not in payload:
                payload[name] = value
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str)


def utc_timestamp(created: float) -> str:
    """`2026-12-01T16:33:47.855Z`: ISO-8601 in UTC, to the millisecond."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings: the bot's own and the chosen provider's."""
    own = [value.get_secret_value() for name in SECRET_FIELDS if (value := getattr(settings, name))]
    # DATABASE_URL's password, as written (percent-encoded) and as sent; the rest of the URL may be shown.
    url = settings.database_url
    passwords = [password for host in url.hosts() if (password := host["password"])] if url else []
    own += [*passwords, *(unquote(password) for password in passwords)]
    return own + settings.provider_settings.secret_values()


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stdout)
    inner = JsonFormatter() if settings.log_json else PlainFormatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    secret_mask.add(*settings_secrets(settings))
    handler.setFormatter(MaskingFormatter(inner, secret_mask))
    handler.addFilter(JobFieldsFilter())  # on the handler: it sees every logger's records, not only the root's
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
    # aiosqlite logs every statement at DEBUG from its worker thread: noise that would bury the bot's lines.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
    logging.captureWarnings(True)  # Python's warnings become log lines too (JSON when LOG_JSON is set)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietBadRequests) for f in server_log.filters):
        server_log.addFilter(QuietBadRequests())
