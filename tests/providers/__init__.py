"""Contract tests: each adapter against its fake provider over real HTTP on loopback.

Small helpers the contract tests share: a receiver for provider callbacks, an address where nothing
listens, and a request builder.
"""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
from aiohttp import web

from bot.core.models import VideoRequest

# Short enough that a delayed fake answer times the client out quickly, long enough for loopback.
SHORT_TIMEOUT = aiohttp.ClientTimeout(total=0.3)
TEST_TIMEOUT = aiohttp.ClientTimeout(total=5)


def video_request(**changes: object) -> VideoRequest:
    fields: dict[str, object] = {"prompt": "A red fox running through snow", "duration": 5, "aspect": "16:9",
                                 "mode": "std"}
    fields.update(changes)
    return VideoRequest(**fields)  # type: ignore[arg-type]


def closed_base_url() -> str:
    """A loopback address whose port was just free: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class CallbackSink:
    """Stands in for the bot's listener: records every callback body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callbacks/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/callbacks/job-1/token"

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 3.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} callbacks, got {len(self.bodies)}")
            await asyncio.sleep(0.01)
        return self.bodies

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(status=204)
