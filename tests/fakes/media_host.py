"""A web server on a loopback address of a test's choosing, standing in for the places a provider's
video link can point at: a CDN with the video, a redirect (to anywhere), an HTML error page, an
internal service with something secret, and a video that arrives slowly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.fakes.provider_base import fake_video

SECRET = b"root:x:0:0:the-internal-secret"


class FakeMediaHost:
    def __init__(self, host: str = "127.0.0.1", *, video: bytes | None = None) -> None:
        self.host = host
        self.video = video if video is not None else fake_video(4096)
        self.hits: list[str] = []  # the path of every request, in order
        self.release = asyncio.Event()  # lets /slow.mp4 send the rest of its video
        self.slow_sent_half = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/video.mp4", self._video)
        app.router.add_get("/secret", self._secret)
        app.router.add_get("/page", self._page)
        app.router.add_get("/hop/{left}", self._hop)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/slow.mp4", self._slow)
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.host}:{port}"

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @web.middleware
    async def _record(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        return await handler(request)

    async def _video(self, request: web.Request) -> web.Response:
        return web.Response(body=self.video, content_type="video/mp4")

    async def _secret(self, request: web.Request) -> web.Response:
        """What a metadata service or an admin page would answer (it starts nothing like a video)."""
        return web.Response(text=json.dumps({"secret": SECRET.decode()}), content_type="application/json")

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Access denied</body></html>", status=200, content_type="text/html")

    async def _hop(self, request: web.Request) -> web.StreamResponse:
        """`/hop/3` redirects three times before the video."""
        left = int(request.match_info["left"])
        if left <= 0:
            return await self._video(request)
        raise web.HTTPFound(f"/hop/{left - 1}")

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        """Half of the video at once, the rest when the test sets `release`."""
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(self.video)
        await response.prepare(request)
        half = len(self.video) // 2
        await response.write(self.video[:half])
        self.slow_sent_half.set()
        await self.release.wait()
        await response.write(self.video[half:])
        await response.write_eof()
        return response
