"""HTTP plumbing shared by the adapters: one session, timeouts, and transport errors mapped once."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.providers.base import ErrorKind, ProviderError

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10, sock_read=45)
JSON = {"Content-Type": "application/json"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: Any  # parsed JSON, or the raw text when the body is not JSON
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


Headers = Callable[[], dict[str, str]]


def fixed(headers: dict[str, str]) -> Headers:
    """The same auth headers on every request (an API key)."""
    return lambda: headers


class ProviderHttp:
    """Sends JSON requests to one provider's base URL, each with the auth headers `headers()` gives at that
    moment (a key; or Kling's JWT, renewed before it expires).

    Transport failures become `ProviderError`s: a refused connection surely started nothing, while a
    timeout or a dropped connection after the request went out may have started a job.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        headers: Headers,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._headers = headers
        self._timeout = timeout

    async def request(self, method: str, path: str, *, json_body: Any = None) -> HttpAnswer:
        url = f"{self.base_url}{path}"
        try:
            async with self._session.request(
                method, url, json=json_body, headers={**JSON, **self._headers()}, timeout=self._timeout
            ) as response:
                text = await response.text()
                headers = {k.lower(): v for k, v in response.headers.items()}
                # At DEBUG, every provider call of a job: the job's fields come with it (bot/core/log_context.py).
                log.debug("%s %s answered HTTP %d", method, path, response.status)
                return HttpAnswer(response.status, _parse(text), headers)
        except aiohttp.ClientConnectorError as exc:
            raise ProviderError(
                ErrorKind.PROVIDER_DOWN, f"cannot connect ({exc.os_error.__class__.__name__})", retryable=True
            ) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            # A connect timeout is also a TimeoutError, but no byte of the request went out.
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "cannot connect (timeout)", retryable=True) from exc
        except TimeoutError as exc:
            raise ProviderError(
                ErrorKind.PROVIDER_DOWN, "no answer in time", retryable=True, maybe_started=True
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                ErrorKind.PROVIDER_DOWN, f"connection failed ({exc.__class__.__name__})",
                retryable=True, maybe_started=True,
            ) from exc


def _parse(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def status_error(answer: HttpAnswer, detail: str) -> ProviderError:
    """The generic mapping of an HTTP error status; adapters refine it with their own error codes."""
    status = answer.status
    if status in (400, 422):
        return ProviderError(ErrorKind.INVALID_REQUEST, detail, status=status)
    if status in (401, 403):
        return ProviderError(ErrorKind.MISCONFIGURED, detail, status=status)
    if status == 402:
        return ProviderError(ErrorKind.INSUFFICIENT_CREDITS, detail, status=status)
    if status == 404:
        return ProviderError(ErrorKind.NOT_FOUND, detail, status=status)
    if status == 429:
        return ProviderError(
            ErrorKind.RATE_LIMITED, detail, retryable=True, status=status,
            retry_after=_retry_after(answer.headers),
        )
    if status == 504:
        # A gateway timed out waiting for the provider, which may have started the job anyway.
        return ProviderError(ErrorKind.PROVIDER_DOWN, detail, retryable=True, maybe_started=True, status=status)
    if status >= 500:
        return ProviderError(ErrorKind.PROVIDER_DOWN, detail, retryable=True, status=status)
    return ProviderError(ErrorKind.INVALID_REQUEST, detail or f"HTTP {status}", status=status)


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def redact(error: ProviderError, *secrets: str) -> ProviderError:
    """The same error with any credential a provider echoed back (some quote the key they rejected) masked."""
    detail = error.detail
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "***")
    if detail == error.detail:
        return error
    return ProviderError(
        error.kind, detail, retryable=error.retryable, maybe_started=error.maybe_started,
        retry_after=error.retry_after, status=error.status,
    )


def detail_text(value: Any, limit: int = 300) -> str:
    """A provider's error detail as one short line (validation errors may come as lists of objects)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        text = "; ".join(detail_text(item, limit) for item in value)
    elif isinstance(value, dict):
        text = str(value.get("msg") or value.get("message") or value.get("detail") or value)
    else:
        text = str(value)
    return text[:limit]


def unreadable_create(what: str = "create answer") -> ProviderError:
    """A 2xx answer to a create that cannot be read: a job may exist that we cannot name, so the submit must
    not be sent again (it fails for reconciliation and is refunded)."""
    return ProviderError(ErrorKind.PROVIDER_DOWN, f"unreadable {what}", maybe_started=True)
