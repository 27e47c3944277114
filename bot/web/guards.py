"""What keeps the public listener standing when strangers talk to it: plain error answers (never a
traceback), constant-time bearer checks, and request bodies read whole but bounded in size and time."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Headers of an aiohttp HTTP error worth keeping on the plain answer (405 names the allowed methods).
KEPT_ERROR_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json",
                        headers=headers)


@web.middleware
async def plain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is a short JSON answer; details of unexpected ones go to the log, never to the client."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects and the like pass through untouched
        headers = {name: error.headers[name] for name in KEPT_ERROR_HEADERS if name in error.headers}
        return json_response({"error": (error.reason or "error").lower()}, error.status, headers)
    except Exception:
        # The route's pattern, not the path: a callback path carries a token that belongs in no log.
        route = request.match_info.route.resource
        log.exception("unexpected error answering %s %s", request.method,
                      route.canonical if route is not None else "(no route)")
        return json_response({"error": "internal error"}, 500)


def bearer_matches(request: web.Request, expected: str) -> bool:
    """`Authorization: Bearer <expected>`, compared in constant time as bytes (any header text is safe)."""
    presented = request.headers.get("Authorization", "").encode("utf-8", "surrogatepass")
    wanted = f"Bearer {expected}".encode()
    return hmac.compare_digest(presented, wanted)


class BodyTooLarge(Exception):
    """The body is over the cap (known from Content-Length or found while reading)."""


async def read_body(request: web.Request, limit: int, deadline: float) -> bytes:
    """The whole body, however many TCP segments or chunks it arrives in.

    Raises BodyTooLarge past `limit` bytes and TimeoutError when it has not fully arrived `deadline`
    seconds after the headers (a stalled sender must not hold a connection open)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    parts: list[bytes] = []
    size = 0
    async with asyncio.timeout(deadline):
        while True:
            part = await request.content.read(limit + 1 - size)  # whatever has arrived; b"" at the end
            if not part:
                return b"".join(parts)
            size += len(part)
            if size > limit:
                raise BodyTooLarge
            parts.append(part)
