"""The built-in sandbox: a simulated provider speaking runblob's API under `/sandbox` on the bot's
own listener. It costs nothing, walks each job through pending, processing and completed, sends
callbacks, and serves a small real MP4 that ships with the package.

A job's state is derived from the time encoded in its id, so the sandbox needs no storage and its
jobs survive a restart of the bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.core.models import VideoRequest
from bot.providers.runblob import GENERATE_PATH, MODEL_BY_MODE, STATUS_PATH, RunblobProvider

log = logging.getLogger(__name__)

PREFIX = "/sandbox"
CLIP_NAME = "sandbox.mp4"
FAIL_MARKER = "sandbox:fail"  # put this in a prompt to see how a failed job looks
CALLBACK_ATTEMPTS = 3
CALLBACK_RETRY_SECONDS = 2.0


def clip_path() -> Path:
    return Path(str(resources.files("bot.providers") / "assets" / CLIP_NAME))


class SandboxProvider(RunblobProvider):
    """The runblob adapter pointed at the sandbox routes."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, pending: float, processing: float) -> None:
        super().__init__(session, "sandbox", base_url.rstrip("/") + PREFIX, name="sandbox")
        self._expected = pending + processing

    def expected_seconds(self, request: VideoRequest) -> float:
        return self._expected


class SandboxServer:
    """Serves runblob-compatible routes for simulated jobs."""

    def __init__(self, *, pending_seconds: float, processing_seconds: float, public_base_url: str) -> None:
        self.pending_seconds = pending_seconds
        self.processing_seconds = processing_seconds
        self.public_base_url = public_base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PREFIX + GENERATE_PATH, self._generate)
        app.router.add_get(PREFIX + STATUS_PATH.format(id="{generation_id}"), self._status)
        app.router.add_get(f"{PREFIX}/media/{CLIP_NAME}", self._clip)
        app.on_cleanup.append(self._close)

    async def _generate(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _json({"detail": "Not authenticated"}, 401)
        try:
            body = await request.json()
        except ValueError:
            return _json({"detail": "Body must be JSON"}, 400)
        problem = _validate(body)
        if problem:
            return _json({"detail": problem}, 400)
        failing = FAIL_MARKER in body["prompt"].lower()
        generation_id = f"sbx_{int(time.time() * 1000):x}_{'f' if failing else 'k'}{secrets.token_hex(6)}"
        callback_url = body.get("callback_url")
        if callback_url:
            task = asyncio.create_task(self._send_callback(generation_id, str(callback_url)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return _json({"generation_id": generation_id, "status": "pending", "price": "0.00"}, 201)

    async def _status(self, request: web.Request) -> web.Response:
        generation_id = request.match_info["generation_id"]
        payload = self._describe(generation_id)
        if payload is None:
            return _json({"detail": "Generation not found"}, 404)
        return _json(payload)

    async def _clip(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(clip_path(), headers={"Content-Type": "video/mp4"})

    def _describe(self, generation_id: str) -> dict[str, Any] | None:
        try:
            _, created_hex, tail = generation_id.split("_", 2)
            created = int(created_hex, 16) / 1000
        except ValueError:
            return None
        elapsed = time.time() - created
        status, video_url, message = "pending", None, None
        if elapsed >= self.pending_seconds + self.processing_seconds:
            if tail.startswith("f"):
                status, message = "failed", "CONTENT_POLICY_VIOLATION"
            else:
                status, video_url = "completed", f"{self.public_base_url}{PREFIX}/media/{CLIP_NAME}"
        elif elapsed >= self.pending_seconds:
            status = "processing"
        return {
            "generation_id": generation_id,
            "status": status,
            "prompt": None,
            "video_url": video_url,
            "model": "kling-o3-video-sandbox",
            "message": message,
        }

    async def _send_callback(self, generation_id: str, url: str) -> None:
        await asyncio.sleep(self.pending_seconds + self.processing_seconds + 0.01)
        payload = self._describe(generation_id)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            try:
                async with self._session.post(url, json=payload) as response:
                    if response.status < 300:
                        return
                    log.info("sandbox callback refused (HTTP %s), attempt %s", response.status, attempt)
            except aiohttp.ClientError as exc:
                log.info("sandbox callback failed (%s), attempt %s", exc.__class__.__name__, attempt)
            await asyncio.sleep(CALLBACK_RETRY_SECONDS)

    async def _close(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Body must be a JSON object"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2500:
        return "Prompt must be 1-2500 characters"
    if str(body.get("duration", "5")) not in {"5", "10", "15"}:
        return "Duration must be 5, 10, or 15 seconds"
    if body.get("model", "kling_o3") not in MODEL_BY_MODE.values():
        return "Unknown model"
    if body.get("images_url") and body.get("images_base64"):
        return "Cannot provide both images_url and images_base64"
    if len(body.get("images_url") or []) + len(body.get("images_base64") or []) > 5:
        return "Maximum 5 images allowed"
    return None


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")
