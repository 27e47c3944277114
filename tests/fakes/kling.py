"""A fake of the official Kling API (PROVIDERS.md "kling"), and the task machinery it shares with
cometapi's relay of it: text2video/image2video tasks, statuses submitted/processing/succeed/failed, and a
callback on every status change (so several per task).

The Kling fake checks its JWTs itself (signature, issuer, nbf, exp) and answers Kling's 401 codes, and can
hold an account concurrency limit, answering 1303 beyond it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.provider_base import FakeJob, FakeProviderServer, json_response

KINDS = ("text2video", "image2video")
CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
SOUND_MODELS = frozenset({"kling-v2-6", "kling-v3"})  # `sound`: "only V2.6+ models"
MULTI_SHOT_MODELS = frozenset({"kling-v3"})  # multi-shot came with v3
MAX_SHOTS = 6
ACTIVE = ("submitted", "processing")
FINAL = ("succeed", "failed")


class KlingTaskServer(FakeProviderServer):
    """Kling's task routes under `prefix`. Subclasses say how a request is authorized and how an error
    looks; everything else (validation rules, envelopes, callbacks) is Kling's."""

    prefix = ""
    durations = frozenset(str(n) for n in range(3, 16))
    model_names = frozenset({"kling-v1", "kling-v2-1", "kling-v2-5-turbo", "kling-v2-6", "kling-v3"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kinds: dict[str, str] = {}
        self.unit_deduction = "1"  # what a finished task reports in `final_unit_deduction` (None: not reported)

    def add_routes(self, app: web.Application) -> None:
        for kind in KINDS:
            app.router.add_post(f"{self.prefix}/v1/videos/{kind}", self._create)
            app.router.add_get(f"{self.prefix}/v1/videos/{kind}/{{task_id}}", self._query)

    @property
    def submit_calls(self) -> int:
        return self.count("POST", f"{self.prefix}/v1/videos/")

    @property
    def status_calls(self) -> int:
        return self.count("GET", f"{self.prefix}/v1/videos/")

    # -- what subclasses decide ----------------------------------------------------------------------
    def authorize(self, request: web.Request) -> web.Response | None:
        raise NotImplementedError

    def error(self, status: int, code: int, message: str) -> web.Response:
        raise NotImplementedError

    def refuse_create(self, body: dict[str, Any]) -> web.Response | None:
        """A provider rule checked after validation (Kling: the account's concurrency)."""
        return None

    # -- test controls -------------------------------------------------------------------------------
    def set_state(self, job_id: str, state: str, *, error: str | None = None) -> None:
        job = self.jobs[job_id]
        job.state = state
        job.error = error

    async def advance(self, job_id: str, state: str, *, error: str | None = None, send_callback: bool = True) -> None:
        """Move a task to `state` and send its callback, as Kling does on every status change."""
        self.set_state(job_id, state, error=error)
        job = self.jobs[job_id]
        if send_callback and job.callback_url:
            await self.post_callback(job.callback_url, self.task_data(job))

    async def finish(self, job_id: str, *, failed: str | None = None, send_callback: bool = True) -> None:
        """Succeed (or fail with this `task_status_msg`) a task, with its callback."""
        await self.advance(job_id, "failed" if failed else "succeed", error=failed, send_callback=send_callback)

    def task_data(self, job: FakeJob) -> dict[str, Any]:
        """The query's `data`; callbacks carry the same fields."""
        now_ms = int(time.time() * 1000)
        data: dict[str, Any] = {
            "task_id": job.id,
            "task_status": job.state,
            "task_status_msg": job.error or "",
            "task_info": {"external_task_id": job.payload.get("external_task_id")},
            "created_at": int(job.created * 1000),
            "updated_at": now_ms,
        }
        if job.state == "succeed":
            data["task_result"] = {"videos": [
                {"id": f"v{job.id}", "url": self.video_url(job.id), "duration": job.payload.get("duration", "5")}
            ]}
            if self.unit_deduction is not None:
                data["final_unit_deduction"] = self.unit_deduction  # units of the resource packs, a string
        return data

    def success(self, data: dict[str, Any]) -> web.Response:
        return json_response({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})

    # -- routes --------------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        refused = self.authorize(request)
        if refused is not None:
            return refused
        injected = await self.injected("submit")
        if injected is not None:
            return injected
        kind = request.path.rsplit("/", 1)[1]
        problem = self._validate(body, kind)
        if problem:
            return self.error(400, 1201, problem)
        refused = self.refuse_create(body)
        if refused is not None:
            return refused
        task_id = str(random.randrange(10**17, 10**18))
        job = FakeJob(task_id, body, "submitted", time.time(), callback_url=body.get("callback_url"))
        self.jobs[task_id] = job
        self.kinds[task_id] = kind
        if job.callback_url:
            self.spawn(self.post_callback(job.callback_url, self.task_data(job)))
        if self.auto_complete_after is not None:
            self.spawn(self._timeline(job))
        data = self.task_data(job)
        data.pop("task_result", None)
        return self.success(data)

    async def _query(self, request: web.Request) -> web.Response:
        await self.record(request)
        refused = self.authorize(request)
        if refused is not None:
            return refused
        injected = await self.injected("status")
        if injected is not None:
            return injected
        task_id = request.match_info["task_id"]
        kind = request.path.split("/v1/videos/", 1)[1].split("/", 1)[0]
        job = self.jobs.get(task_id)
        if job is None or self.kinds.get(task_id) != kind:
            return self.error(404, 1203, "task not found")
        job.status_reads += 1
        return self.success(self.task_data(job))

    # -- internals -----------------------------------------------------------------------------------
    def elapsed(self, job: FakeJob) -> float:
        return time.time() - job.created

    async def _timeline(self, job: FakeJob) -> None:
        total = self.auto_complete_after or 0.0
        await asyncio.sleep(total / 3)
        if job.state == "submitted":
            await self.advance(job.id, "processing")
        await asyncio.sleep(total - total / 3)
        if job.state not in FINAL:
            await self.finish(job.id)

    def _validate(self, body: Any, kind: str) -> str | None:
        if not isinstance(body, dict):
            return "request body must be a JSON object"
        if body.get("model_name", "kling-v1") not in self.model_names:  # Kling defaults to kling-v1
            return f"model_name is invalid: {body.get('model_name')}"
        prompt = body.get("prompt")
        multi_shot = body.get("multi_shot", False)
        if not isinstance(multi_shot, bool):
            return "multi_shot is invalid"
        # With multi_shot Kling ignores `prompt`: the shots are required instead.
        if kind == "text2video" and not multi_shot and (not isinstance(prompt, str) or not prompt.strip()):
            return "prompt is required"
        if isinstance(prompt, str) and len(prompt) > 2500:
            return "prompt cannot exceed 2500 characters"
        if kind == "image2video" and not body.get("image") and not body.get("image_tail"):
            return "image is required"
        if "duration" in body and body["duration"] not in self.durations:
            return f"duration is invalid: {body['duration']}"
        if "mode" in body and body["mode"] not in ("std", "pro"):
            return f"mode is invalid: {body['mode']}"
        if "aspect_ratio" in body and (kind != "text2video" or body["aspect_ratio"] not in ("16:9", "9:16", "1:1")):
            return f"aspect_ratio is invalid: {body['aspect_ratio']}"
        if "sound" in body and body["sound"] not in ("on", "off"):
            return f"sound is invalid: {body['sound']}"
        if body.get("sound") == "on" and body.get("model_name", "kling-v1") not in SOUND_MODELS:
            return f"sound is not supported by {body.get('model_name', 'kling-v1')}"
        problem = _camera_problem(body) or _multi_shot_problem(body, multi_shot)
        if problem:
            return problem
        external = body.get("external_task_id")
        if external is not None and any(j.payload.get("external_task_id") == external for j in self.jobs.values()):
            return "external_task_id already exists"
        return None


def _camera_problem(body: dict[str, Any]) -> str | None:
    """Kling's `camera_control`: a type; for `simple` a `config` of the six axes, exactly one of them non-zero,
    in [-10, 10]; the combined types take no config. It cannot be used with `image_tail`."""
    camera = body.get("camera_control")
    if camera is None:
        return None
    if not isinstance(camera, dict) or camera.get("type") not in CAMERA_TYPES:
        return "camera_control.type is invalid"
    if body.get("image_tail"):
        return "image_tail and camera_control cannot be used at the same time"
    config = camera.get("config")
    if camera["type"] != "simple":
        return "camera_control.config is only for type simple" if config is not None else None
    if not isinstance(config, dict) or set(config) - set(CAMERA_AXES):
        return "camera_control.config is required for type simple"
    values = list(config.values())
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and -10 <= v <= 10 for v in values):
        return "camera_control.config values must be within [-10, 10]"
    if sum(1 for v in values if v != 0) != 1:
        return "camera_control.config must set exactly one field that is not 0"
    return None


def _multi_shot_problem(body: dict[str, Any], multi_shot: bool) -> str | None:
    """`multi_shot`: `shot_type` customize (the caller's shots in `multi_prompt`, 1 to 6 of them, their
    durations adding up to `duration`) or intelligence (Kling cuts the prompt itself)."""
    if not multi_shot:
        return None
    if body.get("model_name", "kling-v1") not in MULTI_SHOT_MODELS:
        return f"multi_shot is not supported by {body.get('model_name', 'kling-v1')}"
    shot_type = body.get("shot_type")
    if shot_type not in ("customize", "intelligence"):
        return "shot_type is required when multi_shot is true"
    if shot_type == "intelligence":
        return None
    shots = body.get("multi_prompt")
    if not isinstance(shots, list) or not 1 <= len(shots) <= MAX_SHOTS:
        return f"multi_prompt must hold 1 to {MAX_SHOTS} shots"
    total = 0
    for position, shot in enumerate(shots, start=1):
        if not isinstance(shot, dict) or shot.get("index") != position:
            return f"multi_prompt[{position - 1}].index is invalid"
        if not isinstance(shot.get("prompt"), str) or not shot["prompt"].strip():
            return f"multi_prompt[{position - 1}].prompt is required"
        seconds = shot.get("duration")
        if not isinstance(seconds, str) or not seconds.isdigit() or int(seconds) < 1:
            return f"multi_prompt[{position - 1}].duration is invalid"
        total += int(seconds)
    if str(total) != body.get("duration", "5"):
        return "the durations of multi_prompt must add up to duration"
    return None


class FakeKling(KlingTaskServer):
    """The official API: a JWT per request, Kling's `{code, message, request_id}` errors, and an optional
    account concurrency limit (`concurrency_limit` tasks in submitted/processing; more answer 1303)."""

    access_key = "test-access-key"
    secret_key = "test-secret-key"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.concurrency_limit: int | None = None
        self.clock: Callable[[], float] = time.time  # the server's idea of now, for token checks
        self.tokens_seen: list[str] = []
        # The account's resource packs, as `GET /account/costs` lists them (Kling's "Account Information Inquiry").
        self.resource_packs: list[dict[str, Any]] = [resource_pack("video pack", total=1000, remaining=800)]

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_get("/account/costs", self._account_costs)

    @property
    def balance_calls(self) -> int:
        return self.count("GET", "/account/costs")

    async def _account_costs(self, request: web.Request) -> web.Response:
        """`start_time` and `end_time` (ms) are required; packs bought in between are listed."""
        await self.record(request)
        refused = self.authorize(request)
        if refused is not None:
            return refused
        injected = await self.injected("balance")
        if injected is not None:
            return injected
        try:
            start, end = int(request.query["start_time"]), int(request.query["end_time"])
        except (KeyError, ValueError):
            return self.error(400, 1201, "start_time and end_time are required")
        packs = [pack for pack in self.resource_packs if start <= pack["purchase_time"] <= end]
        return json_response({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()),
                              "data": {"code": 0, "msg": "success", "resource_pack_subscribe_infos": packs}})

    def error(self, status: int, code: int, message: str) -> web.Response:
        return json_response({"code": code, "message": message, "request_id": str(uuid.uuid4())}, status)

    def authorize(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return self.error(401, 1001, "Authorization is empty")
        token = header.removeprefix("Bearer ")
        problem = self._check_token(token) if header.startswith("Bearer ") else (1002, "Authorization is invalid")
        if problem is not None:
            return self.error(401, *problem)
        self.tokens_seen.append(token)
        return None

    def refuse_create(self, body: dict[str, Any]) -> web.Response | None:
        active = sum(1 for job in self.jobs.values() if job.state in ACTIVE)
        if self.concurrency_limit is not None and active >= self.concurrency_limit:
            return self.error(429, 1303, "parallel task over resource pack limit")
        return None

    def _check_token(self, token: str) -> tuple[int, str] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return 1002, "Authorization is invalid"
        try:
            header, payload = (json.loads(_unb64(part)) for part in parts[:2])
            signature = _unb64(parts[2])
        except ValueError:
            return 1002, "Authorization is invalid"
        if not isinstance(header, dict) or not isinstance(payload, dict):
            return 1002, "Authorization is invalid"
        expected = hmac.new(self.secret_key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
            return 1002, "Authorization is invalid"
        if payload.get("iss") != self.access_key:
            return 1000, "Authentication failed"
        now = self.clock()
        if now < payload.get("nbf", 0):
            return 1003, "Authorization is not yet valid"
        if now >= payload.get("exp", 0):
            return 1004, "Authorization has expired"
        return None


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def resource_pack(name: str, *, total: float, remaining: float, status: str = "online",
                  bought_days_ago: float = 10) -> dict[str, Any]:
    """One entry of `resource_pack_subscribe_infos`, with Kling's fields (times in ms)."""
    bought = int((time.time() - bought_days_ago * 86400) * 1000)
    return {"resource_pack_name": name, "resource_pack_id": uuid.uuid4().hex, "resource_pack_type": "decreasing_total",
            "total_quantity": total, "remaining_quantity": remaining, "purchase_time": bought,
            "effective_time": bought, "invalid_time": bought + 365 * 86400 * 1000, "status": status}
