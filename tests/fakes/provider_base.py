"""What every fake provider server shares: an aiohttp server on loopback, a request log, jobs that a
test moves through their states (or that move by themselves on a timeline), injected errors, and the
finished video served from the fake itself."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

# A tiny stand-in for an MP4; tests that need a real clip pass their own bytes.
DEFAULT_VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000


def fake_video(size: int) -> bytes:
    """`size` bytes that start like an MP4 (the bot checks the first bytes of what it downloads)."""
    head = DEFAULT_VIDEO[:12]
    return head + bytes(range(256)) * ((size - len(head)) // 256) + b"\x00" * ((size - len(head)) % 256)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeJob:
    id: str
    payload: dict[str, Any]
    state: str  # the provider's own word
    created: float
    callback_url: str | None = None
    error: str | None = None
    video_path: str | None = None
    status_reads: int = 0


@dataclass
class InjectedError:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # sleep before answering (to force a client timeout)


class FakeProviderServer:
    """Base class; subclasses add the provider's routes and words."""

    api_key = "test-key"

    def __init__(self, *, auto_complete_after: float | None = None, video: bytes = DEFAULT_VIDEO) -> None:
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, FakeJob] = {}
        self.video = video
        self.video_fetches = 0  # GETs of the fake's own video route
        self.result_url: str | None = None  # the link completed jobs report; None: the fake's own route
        self.auto_complete_after = auto_complete_after  # seconds from create to completed; None: manual
        self.create_delay = 0.0  # seconds a create takes before it succeeds (a loaded provider)
        self.callbacks_sent: list[tuple[str, dict[str, Any], int]] = []
        self._errors: dict[str, list[InjectedError]] = {"submit": [], "status": [], "balance": []}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/files/{name}", self._serve_video)
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # -- what tests use ------------------------------------------------------------------------------
    def fail_next(self, kind: str, status: int, body: Any, *, times: int = 1, headers: dict[str, str] | None = None,
                  delay: float = 0.0) -> None:
        """Make the next `times` calls of `kind` ("submit", "status" or "balance") answer with this error."""
        self._errors[kind].extend(InjectedError(status, body, headers or {}, delay) for _ in range(times))

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(path_prefix))

    @property
    def submit_calls(self) -> int:
        raise NotImplementedError

    @property
    def status_calls(self) -> int:
        raise NotImplementedError

    def video_url(self, job_id: str) -> str:
        return self.result_url or f"{self.base_url}/files/{job_id}.mp4"

    def job(self, index: int = -1) -> FakeJob:
        return list(self.jobs.values())[index]

    async def wait_for_jobs(self, count: int, timeout: float = 10) -> list[FakeJob]:
        deadline = time.monotonic() + timeout
        while len(self.jobs) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} jobs at the fake provider, have {len(self.jobs)}")
            await asyncio.sleep(0.01)
        return list(self.jobs.values())

    # -- helpers for subclasses ----------------------------------------------------------------------
    async def record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.headers), body))
        return body

    async def injected(self, kind: str) -> web.Response | None:
        if not self._errors[kind]:
            return None
        error = self._errors[kind].pop(0)
        if error.delay:
            await asyncio.sleep(error.delay)
        return json_response(error.body, error.status, error.headers)

    def elapsed(self, job: FakeJob) -> float:
        return time.monotonic() - job.created

    # The provider's own words for a job under way, a finished one, and the states a job stays in.
    processing_word = "processing"
    completed_word = "completed"
    final_words: tuple[str, ...] = ("completed", "failed")

    def advance_on_timeline(self, job: FakeJob) -> None:
        """With `auto_complete_after` set, a job is processing after a third of it and done after all of it."""
        if self.auto_complete_after is None or job.state in self.final_words:
            return
        elapsed = self.elapsed(job)
        if elapsed >= self.auto_complete_after:
            job.state = self.completed_word
        elif elapsed >= self.auto_complete_after / 3:
            job.state = self.processing_word

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post_callback(self, url: str, payload: dict[str, Any]) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            async with self._session.post(url, json=payload) as response:
                status = response.status
        except aiohttp.ClientError:
            status = 0
        self.callbacks_sent.append((url, payload, status))
        return status

    async def _serve_video(self, request: web.Request) -> web.Response:
        self.video_fetches += 1
        return web.Response(body=self.video, content_type="video/mp4")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(payload), status=status, content_type="application/json", headers=headers or {}
    )
