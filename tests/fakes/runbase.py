"""A fake runbase server speaking the runs API for `kling/kling-3.0` (seeds/runbase-kling-3.0.txt,
PROVIDERS.md "runbase"): bearer `sk-` keys, runs pending/processing/succeeded/failed, `output.urls`,
errors `{"error": {"message", "code"}}`, and 20 requests per 10 s per key shared by creates and status
calls, answered 429 `RATE_LIMITED` beyond it."""

from __future__ import annotations

import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.provider_base import FakeJob, FakeProviderServer, json_response

RUNS = "/api/v1/runs"
MODEL = "kling/kling-3.0"
FINAL = ("succeeded", "failed")


class FakeRunbase(FakeProviderServer):
    """No webhooks: runs move when a test moves them, or on the `auto_complete_after` timeline as they
    are polled. `id_field` names the run id in answers ("id"; older answers say "run_id")."""

    completed_word = "succeeded"
    final_words = FINAL

    api_key = "sk-test-key"
    rate_calls = 20
    rate_window = 10.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.id_field = "id"
        self.error_style = "object"  # a failed run's `error`: "object" ({message, code}) or "string"
        self._recent: deque[float] = deque()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(RUNS, self._create)
        app.router.add_get(RUNS + "/{run_id}", self._get)

    @property
    def submit_calls(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST" and r.path == RUNS)

    @property
    def status_calls(self) -> int:
        return self.count("GET", RUNS + "/")

    # -- test controls -------------------------------------------------------------------------------
    def set_state(self, job_id: str, state: str, *, error: str | None = None) -> None:
        job = self.jobs[job_id]
        job.state = state
        job.error = error

    async def finish(self, job_id: str, *, failed: str | None = None) -> None:
        """Succeed (or fail with this message) a run. runbase documents no webhook."""
        self.set_state(job_id, "failed" if failed else "succeeded", error=failed)

    # -- routes --------------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        refused = self._gate(request)
        if refused is not None:
            return refused
        injected = await self.injected("submit")
        if injected is not None:
            return injected
        if not isinstance(body, dict) or body.get("model") != MODEL:
            model = body.get("model") if isinstance(body, dict) else None
            return _error(400, f"Model '{model}' not found", "model_not_found")
        problem = _validate(body.get("input"))
        if problem:
            return _error(400, problem, "invalid_input")
        job = FakeJob(f"run_{uuid.uuid4().hex}", body, "pending", time.monotonic())
        self.jobs[job.id] = job
        return json_response(self._describe(job), 201)

    async def _get(self, request: web.Request) -> web.Response:
        await self.record(request)
        refused = self._gate(request)
        if refused is not None:
            return refused
        injected = await self.injected("status")
        if injected is not None:
            return injected
        job = self.jobs.get(request.match_info["run_id"])
        if job is None:
            return _error(404, "Run not found", "run_not_found")
        job.status_reads += 1
        self.advance_on_timeline(job)
        return json_response(self._describe(job))

    # -- internals -----------------------------------------------------------------------------------
    def _gate(self, request: web.Request) -> web.Response | None:
        """The key, then the shared per-key window (only calls let through count)."""
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid API key", "invalid_api_key")
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - self.rate_window:
            self._recent.popleft()
        if len(self._recent) >= self.rate_calls:
            return _error(429, f"Rate limit exceeded: {self.rate_calls} requests per {self.rate_window:g}s",
                          "RATE_LIMITED")
        self._recent.append(now)
        return None

    def _describe(self, job: FakeJob) -> dict[str, Any]:
        run: dict[str, Any] = {
            self.id_field: job.id,
            "model": MODEL,
            "status": job.state,
            "created_at": datetime.now(UTC).isoformat(),
            "output": None,
            "error": None,
        }
        if job.state == "succeeded":
            run["output"] = {"urls": [self.video_url(job.id)]}
        elif job.state == "failed":
            message = job.error or "Generation failed"
            run["error"] = message if self.error_style == "string" else {"message": message, "code": "run_failed"}
        return run


def _error(status: int, message: str, code: str) -> web.Response:
    return json_response({"error": {"message": message, "code": code}}, status)


def _validate(run_input: Any) -> str | None:
    if not isinstance(run_input, dict):
        return "input: must be an object"
    prompt = run_input.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "input.prompt: required"
    if "aspect_ratio" in run_input and run_input["aspect_ratio"] not in ("16:9", "9:16", "1:1"):
        return "input.aspect_ratio: must be one of 16:9, 9:16, 1:1"
    if "mode" in run_input and run_input["mode"] not in ("std", "pro", "4K"):
        return "input.mode: must be one of std, pro, 4K"
    duration = run_input.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float)):
        return "input.duration: must be a number"
    urls = run_input.get("image_urls")
    if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
        return "input.image_urls: must be an array of strings"
    # "Frame images": a first frame and, optionally, a last one. The schema gives no maximum; a third frame has
    # no place in a clip that has a first and a last, so the fake refuses it.
    if urls is not None and len(urls) > 2:
        return "input.image_urls: at most 2 frame images (the first and the last frame)"
    return None
