"""A fake segmind server speaking the async v2 API for Kling O3 as its docs and PROVIDERS.md describe it:
`x-api-key` auth, QUEUED/PROCESSING/COMPLETED/FAILED, FAILED answered as HTTP 422 on both routes, 404 once
a request has expired, 406 for credits, and 429 carrying `x-rate-limit-reset-at-utc` (no Retry-After)."""

from __future__ import annotations

import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.provider_base import FakeJob, FakeProviderServer, json_response

TEXT = "/v2/kling-o3-text2video"
IMAGE = "/v2/kling-o3-image2video"
REQUESTS = "/v2/requests/"
DURATIONS = {str(n) for n in range(3, 16)}
FINAL = ("COMPLETED", "FAILED")


class FakeSegmind(FakeProviderServer):
    """No webhooks: jobs move when a test moves them, or on the `auto_complete_after` timeline as they are
    polled (PROCESSING after a third of it, COMPLETED at the end)."""

    processing_word = "PROCESSING"
    completed_word = "COMPLETED"
    final_words = FINAL

    retention_seconds = 3600.0  # status and results are kept an hour, then 404

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_style = "string"  # the result's `output`: "string", "object" or "list"
        self.rate_limit: tuple[int, float] | None = None  # (calls, per_seconds): 429 beyond it
        self._recent: deque[float] = deque()
        self._expired: set[str] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(TEXT, self._submit)
        app.router.add_post(IMAGE, self._submit)
        app.router.add_get(REQUESTS + "{request_id}/status", self._status)
        app.router.add_get(REQUESTS + "{request_id}", self._result)

    @property
    def submit_calls(self) -> int:
        return self.count("POST", "/v2/kling-o3-")

    @property
    def status_calls(self) -> int:
        return sum(1 for r in self.requests if r.method == "GET" and r.path.endswith("/status"))

    @property
    def result_calls(self) -> int:
        return sum(
            1 for r in self.requests if r.method == "GET" and r.path.startswith(REQUESTS)
            and not r.path.endswith("/status")
        )

    # -- test controls -------------------------------------------------------------------------------
    def set_state(self, job_id: str, state: str, *, error: str | None = None) -> None:
        job = self.jobs[job_id]
        job.state = state
        job.error = error

    async def finish(self, job_id: str, *, failed: str | None = None) -> None:
        """Complete (or fail with this error text) a request. segmind sends no webhook."""
        self.set_state(job_id, "FAILED" if failed else "COMPLETED", error=failed)

    def expire(self, job_id: str) -> None:
        """As if the hour of retention had passed."""
        self._expired.add(job_id)

    # -- routes --------------------------------------------------------------------------------------
    async def _submit(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        refused = self._gate(request)
        if refused is not None:
            return refused
        injected = await self.injected("submit")
        if injected is not None:
            return injected
        problem = _validate(body, image=request.path == IMAGE)
        if problem:
            return json_response({"error": problem}, 400)
        job = FakeJob(str(uuid.uuid4()), body, "QUEUED", time.monotonic())
        self.jobs[job.id] = job
        return json_response({
            "request_id": job.id,
            "status": "QUEUED",
            "status_url": f"{self.base_url}{REQUESTS}{job.id}/status",
            "response_url": f"{self.base_url}{REQUESTS}{job.id}",
        })

    async def _status(self, request: web.Request) -> web.Response:
        job = await self._lookup(request)
        if isinstance(job, web.Response):
            return job
        if job.state == "FAILED":
            return json_response({"status": "FAILED", "error": job.error or "Inference failed"}, 422)
        return json_response({"status": job.state, "request_id": job.id, "metrics": self._metrics(job)})

    async def _result(self, request: web.Request) -> web.Response:
        job = await self._lookup(request)
        if isinstance(job, web.Response):
            return job
        if job.state == "FAILED":
            return json_response({"status": "FAILED", "error": job.error or "Inference failed"}, 422)
        output = self._output(job) if job.state == "COMPLETED" else None
        return json_response({"status": job.state, "output": output, "metrics": self._metrics(job), "error": None})

    # -- internals -----------------------------------------------------------------------------------
    def _gate(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-api-key") != self.api_key:
            return json_response({"error": "Unauthorized: invalid or missing API key"}, 401)
        if self.rate_limit is None:
            return None
        calls, per = self.rate_limit
        now = time.time()
        while self._recent and self._recent[0] <= now - per:
            self._recent.popleft()
        if len(self._recent) >= calls:
            reset = datetime.fromtimestamp(self._recent[0] + per, UTC).isoformat()
            return json_response({"error": "Rate limit exceeded"}, 429, {"x-rate-limit-reset-at-utc": reset})
        self._recent.append(now)
        return None

    async def _lookup(self, request: web.Request) -> FakeJob | web.Response:
        """The request's job, or the answer that refuses it (auth, rate limit, injected error, 404)."""
        await self.record(request)
        refused = self._gate(request)
        if refused is not None:
            return refused
        injected = await self.injected("status")
        if injected is not None:
            return injected
        job = self.jobs.get(request.match_info["request_id"])
        if job is None or job.id in self._expired or self.elapsed(job) > self.retention_seconds:
            return json_response({"error": "Request not found or expired"}, 404)
        job.status_reads += 1
        self.advance_on_timeline(job)
        return job

    def _output(self, job: FakeJob) -> Any:
        url = self.video_url(job.id)
        if self.output_style == "object":
            return {"thumbnail": f"{self.base_url}/files/{job.id}.jpg", "video": {"url": url}}
        if self.output_style == "list":
            return [{"type": "video", "url": url}]
        return url

    def _metrics(self, job: FakeJob) -> dict[str, Any]:
        return {"queued_at": job.created, "inference_seconds": round(self.elapsed(job), 3)}


def _validate(body: Any, *, image: bool) -> str | None:
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt: field required"
    if image and not isinstance(body.get("image_url"), str):
        return "image_url: field required"
    if "duration" in body and body["duration"] not in DURATIONS:
        return "duration: value is not a valid enumeration member; permitted: '3' ... '15'"
    if "mode" in body and body["mode"] not in ("std", "pro"):
        return "mode: value is not a valid enumeration member; permitted: 'std', 'pro'"
    if "aspect_ratio" in body and body["aspect_ratio"] not in ("16:9", "9:16", "1:1"):
        return "aspect_ratio: value is not a valid enumeration member; permitted: '16:9', '9:16', '1:1'"
    if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
        return "generate_audio: value could not be parsed to a boolean"
    if "end_image_url" in body and not isinstance(body["end_image_url"], str):
        return "end_image_url: str type expected"
    return _multi_prompt_problem(body)


def _multi_prompt_problem(body: dict[str, Any]) -> str | None:
    """`multi_prompt`: objects with a `prompt` and a `duration` (a string, like the top-level one). segmind's
    page gives no limits; the model's (Kling O3) are used: 1 to 6 shots adding up to `duration`."""
    shots = body.get("multi_prompt")
    if shots is None:
        return None
    if body.get("shot_type", "customize") not in ("customize", "intelligence"):
        return "shot_type: value is not a valid enumeration member; permitted: 'customize', 'intelligence'"
    if not isinstance(shots, list) or not 1 <= len(shots) <= 6:
        return "multi_prompt: ensure this value has between 1 and 6 items"
    total = 0
    for index, shot in enumerate(shots):
        if not isinstance(shot, dict) or not isinstance(shot.get("prompt"), str) or not shot["prompt"].strip():
            return f"multi_prompt.{index}.prompt: field required"
        if not isinstance(shot.get("duration"), str) or not shot["duration"].isdigit():
            return f"multi_prompt.{index}.duration: str type expected"
        total += int(shot["duration"])
    if str(total) != body.get("duration", "5"):
        return "multi_prompt: the shot durations must add up to duration"
    return None
