"""The built-in sandbox: a simulated provider speaking runblob's API under `/sandbox` on the bot's
own listener. It costs nothing, walks each job through pending, processing and completed, sends
callbacks, and serves a small real MP4 that ships with the package.

A job's state is derived from the time encoded in its id, so the sandbox needs no storage and its
jobs survive a restart of the bot.

It serves this bot only: its routes sit on the public listener, so every call must carry the random
key the bot made at start-up, and it only ever calls back the bot's own callback route (never a URL a
stranger names: no open relay).

So that members can try every creative option for free, the sandbox takes more than runblob does, in the
words of the providers that have them: `end_image_url` (a last frame, after `images_url`), `sound` (true or
false), Kling's `camera_control` and segmind's `multi_prompt` (shots whose durations add up to `duration`).
It checks them like those providers and answers runblob's `{"detail": ...}` when they do not fit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import Field
from yarl import URL

from bot.core.callback_tokens import looks_like_job_id, looks_like_token
from bot.core.camera import AXES, COMBINED_MOVES
from bot.core.models import VideoRequest
from bot.providers.base import KeyCheck, StoryboardSupport
from bot.providers.descriptor import Connection, ProviderDescriptor, ProviderSettings
from bot.providers.kling import CAMERA, camera_control
from bot.providers.runblob import GENERATE_PATH, MODEL_BY_MODE, STATUS_PATH, RunblobProvider
from bot.web.guards import bearer_matches

log = logging.getLogger(__name__)

PREFIX = "/sandbox"
CLIP_NAME = "sandbox.mp4"
FAIL_MARKER = "sandbox:fail"  # put this in a prompt to see how a failed job looks
CALLBACK_ATTEMPTS = 3
CALLBACK_RETRY_SECONDS = 2.0
MAX_PENDING_CALLBACKS = 1000  # callbacks waiting in memory; past this a create is refused like a busy provider
OWN_CALLBACK_PREFIX = "/callbacks/sandbox/"
MAX_SHOTS = 6
DURATIONS = (5, 10, 15)

# runblob's, and every creative option (for free): a last frame with a start image, sound, all camera moves,
# and storyboards of up to 6 shots adding up to one of its lengths.
CAPABILITIES = dataclasses.replace(
    RunblobProvider.capabilities, audio=True, end_image=True, camera=CAMERA,
    storyboard=StoryboardSupport(max_shots=MAX_SHOTS, min_shot_seconds=1, totals=DURATIONS),
)


def clip_path() -> Path:
    return Path(str(resources.files("bot.providers") / "assets" / CLIP_NAME))


class SandboxProvider(RunblobProvider):
    """The runblob adapter pointed at the sandbox routes, with the sandbox's creative fields."""

    capabilities = CAPABILITIES

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, *, api_key: str, pending: float, processing: float
    ) -> None:
        super().__init__(session, api_key, base_url.rstrip("/") + PREFIX, name="sandbox")
        self._expected = pending + processing

    def expected_seconds(self, request: VideoRequest) -> float:
        return self._expected

    def build_payload(self, request: VideoRequest, callback_url: str | None) -> dict[str, Any]:
        payload = super().build_payload(request, callback_url)
        if request.end_image_url:
            payload["end_image_url"] = request.end_image_url
        payload["sound"] = request.audio
        if request.camera is not None:
            payload["camera_control"] = camera_control(request.camera)
        if request.shots:
            payload["multi_prompt"] = [{"prompt": shot.prompt, "duration": str(shot.duration)}
                                       for shot in request.shots]
        return payload

    async def check_key(self) -> KeyCheck:
        # The sandbox runs inside the bot with a key made at each start: there is nothing to check.
        return KeyCheck(True, "built in, no key")


class SandboxServer:
    """Serves runblob-compatible routes for simulated jobs, to the holder of `api_key` only.

    `public_base_url` is the bot's own listener (where the sandbox calls back and serves its clip);
    `external_base_url` is the bot's PUBLIC_BASE_URL, the other name under which the bot may give out
    its callback URLs. Callbacks always go to the listener itself."""

    def __init__(
        self, *, pending_seconds: float, processing_seconds: float, public_base_url: str, api_key: str,
        external_base_url: str | None = None, max_pending_callbacks: int = MAX_PENDING_CALLBACKS,
    ) -> None:
        self.pending_seconds = pending_seconds
        self.processing_seconds = processing_seconds
        self.public_base_url = public_base_url.rstrip("/")
        self.max_pending_callbacks = max_pending_callbacks
        self._api_key = api_key
        self._own_bases = [URL(base.rstrip("/")) for base in (public_base_url, external_base_url) if base]
        self._warned_foreign = False
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PREFIX + GENERATE_PATH, self._generate)
        app.router.add_get(PREFIX + STATUS_PATH.format(id="{generation_id}"), self._status)
        app.router.add_get(f"{PREFIX}/media/{CLIP_NAME}", self._clip)
        app.on_cleanup.append(self._close)

    def local_files(self) -> dict[str, Path]:
        """The clip's URL, read from the package by delivery: the listener on loopback is not a place
        downloads may go."""
        return {f"{self.public_base_url}{PREFIX}/media/{CLIP_NAME}": clip_path()}

    @property
    def pending_callbacks(self) -> int:
        return len(self._tasks)

    async def _generate(self, request: web.Request) -> web.Response:
        if not bearer_matches(request, self._api_key):
            return _json({"detail": "Not authenticated"}, 401)
        if len(self._tasks) >= self.max_pending_callbacks:
            return _json({"detail": "Too many requests"}, 429)
        try:
            body = await request.json()
        except ValueError:
            return _json({"detail": "Body must be JSON"}, 400)
        problem = _validate(body)
        if problem:
            return _json({"detail": problem}, 400)
        failing = FAIL_MARKER in body["prompt"].lower()
        generation_id = f"sbx_{int(time.time() * 1000):x}_{'f' if failing else 'k'}{secrets.token_hex(6)}"
        target = self._own_callback(body.get("callback_url"))
        if target is not None:
            task = asyncio.create_task(self._send_callback(generation_id, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return _json({"generation_id": generation_id, "status": "pending", "price": "0.00"}, 201)

    async def _status(self, request: web.Request) -> web.Response:
        if not bearer_matches(request, self._api_key):
            return _json({"detail": "Not authenticated"}, 401)
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

    def _own_callback(self, callback_url: Any) -> str | None:
        """Where to call back for this `callback_url`: the bot's own listener, or nowhere.

        Only this bot's `/callbacks/sandbox/<job>/<token>` on its listener (or its PUBLIC_BASE_URL) is
        accepted, by exact scheme, host, port and path; the call then goes to the listener directly."""
        if not callback_url:
            return None
        target = _parse_url(str(callback_url))
        if target is not None:
            for base in self._own_bases:
                path = own_callback_path(target, base)
                if path is not None:
                    return f"{self.public_base_url}{path}"
        self._note_foreign_callback()
        return None

    def _note_foreign_callback(self) -> None:
        # INFO the first time (it means a misconfiguration or a probe), DEBUG after, so it cannot flood the log.
        level = logging.DEBUG if self._warned_foreign else logging.INFO
        self._warned_foreign = True
        log.log(level, "sandbox ignored a callback URL that is not this bot's own callback route")

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
    return _creative_problem(body)


def _creative_problem(body: dict[str, Any]) -> str | None:
    """The sandbox's own fields, checked as the providers that have them check theirs."""
    end = body.get("end_image_url")
    if end is not None and (not isinstance(end, str) or not (body.get("images_url") or body.get("images_base64"))):
        return "end_image_url needs a start image in images_url"
    if "sound" in body and not isinstance(body["sound"], bool):
        return "sound must be true or false"
    camera = body.get("camera_control")
    if camera is not None:
        problem = _camera_problem(camera)
        if problem or end is not None:
            return problem or "camera_control cannot be combined with end_image_url"
    shots = body.get("multi_prompt")
    if shots is not None:
        if not isinstance(shots, list) or not 1 <= len(shots) <= MAX_SHOTS:
            return f"multi_prompt must hold 1 to {MAX_SHOTS} shots"
        try:
            total = sum(int(shot["duration"]) for shot in shots if str(shot["prompt"]).strip())
        except (KeyError, TypeError, ValueError):
            return "each shot needs a prompt and a duration"
        if total != int(str(body.get("duration", "5"))) or any(not str(s["prompt"]).strip() for s in shots):
            return "multi_prompt durations must add up to duration, each shot with a prompt"
    return None


def _camera_problem(camera: Any) -> str | None:
    if not isinstance(camera, dict) or camera.get("type") not in ("simple", *COMBINED_MOVES):
        return "camera_control.type is invalid"
    if camera["type"] != "simple":
        return "camera_control.config is only for the simple type" if "config" in camera else None
    config = camera.get("config")
    if not isinstance(config, dict) or set(config) - set(AXES):
        return "camera_control.config is invalid"
    moved = [value for value in config.values() if value != 0]
    if len(moved) != 1 or not all(isinstance(v, int | float) and -10 <= v <= 10 for v in config.values()):
        return "camera_control.config needs exactly one field from -10 to 10 that is not 0"
    return None


def _parse_url(text: str) -> URL | None:
    try:
        return URL(text)
    except (ValueError, TypeError):
        return None


def own_callback_path(target: URL, base: URL) -> str | None:
    """`/callbacks/sandbox/<job>/<token>` when `target` is exactly that route under `base`, else None."""
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        return None
    if target.user is not None or target.password is not None or target.query_string or target.fragment:
        return None
    prefix = base.raw_path.rstrip("/") + OWN_CALLBACK_PREFIX
    if not target.raw_path.startswith(prefix):
        return None
    job_id, _, token = target.raw_path[len(prefix):].partition("/")
    if not (looks_like_job_id(job_id) and looks_like_token(token)):
        return None
    return f"{OWN_CALLBACK_PREFIX}{job_id}/{token}"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")


class SandboxSettings(ProviderSettings):
    sandbox_pending_seconds: float = Field(4.0, ge=0)
    sandbox_processing_seconds: float = Field(20.0, ge=0)


def _build(settings: ProviderSettings, connection: Connection) -> SandboxProvider:
    assert isinstance(settings, SandboxSettings)
    return SandboxProvider(connection.session, connection.listener_url, api_key=connection.own_key,
                           pending=settings.sandbox_pending_seconds, processing=settings.sandbox_processing_seconds)


def _serve(settings: ProviderSettings, connection: Connection) -> SandboxServer:
    assert isinstance(settings, SandboxSettings)
    return SandboxServer(pending_seconds=settings.sandbox_pending_seconds,
                         processing_seconds=settings.sandbox_processing_seconds,
                         public_base_url=connection.listener_url, api_key=connection.own_key,
                         external_base_url=connection.public_base_url)


DESCRIPTOR = ProviderDescriptor("sandbox", "built-in sandbox (free, simulated)", SandboxSettings,
                                CAPABILITIES, _build, serve=_serve)
