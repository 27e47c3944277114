"""A fake runblob server speaking the Kling O3 API as its docs and PROVIDERS.md describe it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.provider_base import FakeJob, FakeProviderServer, json_response

GENERATE = "/v1/kling/o3-video/generate"
STATUS = "/v1/kling/o3-video/generations/"
MODELS = {"kling_o3": "", "kling_o3_pro": "-pro"}


class FakeRunblob(FakeProviderServer):
    """States: pending, processing, completed, failed. Webhooks on completion or failure, unsigned,
    retried up to 5 times (here 0.05 s apart instead of 30 s)."""

    callback_attempts = 5
    callback_retry_seconds = 0.05

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(GENERATE, self._generate)
        app.router.add_get(STATUS + "{generation_id}", self._status)

    @property
    def submit_calls(self) -> int:
        return self.count("POST", GENERATE)

    @property
    def status_calls(self) -> int:
        return self.count("GET", STATUS)

    # -- test controls -------------------------------------------------------------------------------
    def set_state(self, job_id: str, state: str, *, error: str | None = None) -> None:
        job = self.jobs[job_id]
        job.state = state
        job.error = error

    async def finish(self, job_id: str, *, failed: str | None = None, send_callback: bool = True) -> None:
        """Complete (or fail with a code) a job and send its webhook, as runblob does."""
        self.set_state(job_id, "failed" if failed else "completed", error=failed)
        job = self.jobs[job_id]
        if send_callback and job.callback_url:
            await self.deliver_webhook(job)

    def webhook_payload(self, job: FakeJob) -> dict[str, Any]:
        payload = self._describe(job)
        payload.pop("prompt", None)
        if job.state == "failed":
            payload["message"] = job.error or "GENERATION_FAILED"
        return payload

    async def deliver_webhook(self, job: FakeJob) -> None:
        for _ in range(self.callback_attempts):
            status = await self.post_callback(job.callback_url or "", self.webhook_payload(job))
            if 200 <= status < 300:
                return
            await asyncio.sleep(self.callback_retry_seconds)

    # -- routes --------------------------------------------------------------------------------------
    async def _generate(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return json_response({"detail": "Not authenticated"}, 401)
        injected = await self.injected("submit")
        if injected is not None:
            return injected
        problem = _validate(body)
        if problem:
            return json_response({"detail": problem}, 400)
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        job = FakeJob(str(uuid.uuid4()), body, "pending", self._now(), callback_url=body.get("callback_url"))
        self.jobs[job.id] = job
        if self.auto_complete_after is not None:
            self.spawn(self._auto_finish(job))
        return json_response({"generation_id": job.id, "status": "pending", "price": "0.50"}, 201)

    async def _status(self, request: web.Request) -> web.Response:
        await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return json_response({"detail": "Not authenticated"}, 401)
        injected = await self.injected("status")
        if injected is not None:
            return injected
        job = self.jobs.get(request.match_info["generation_id"])
        if job is None:
            return json_response({"detail": "Generation not found"}, 404)
        job.status_reads += 1
        self.advance_on_timeline(job)
        return json_response(self._describe(job))

    # -- internals -----------------------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic()

    async def _auto_finish(self, job: FakeJob) -> None:
        await asyncio.sleep(self.auto_complete_after or 0)
        if job.state not in ("completed", "failed"):
            await self.finish(job.id)

    def _describe(self, job: FakeJob) -> dict[str, Any]:
        payload = job.payload
        model = f"kling-o3-video-{payload.get('duration', '5')}s{MODELS.get(payload.get('model', 'kling_o3'), '')}"
        return {
            "generation_id": job.id,
            "status": job.state,
            "prompt": payload.get("prompt"),
            "video_url": self.video_url(job.id) if job.state == "completed" else None,
            "model": model,
        }


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Body must be a JSON object"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2500:
        return "Prompt must be 1-2500 characters"
    if "duration" in body and body["duration"] not in ("5", "10", "15"):
        return "Duration must be 5, 10, or 15 seconds"
    if "model" in body and body["model"] not in MODELS:
        return "Model must be kling_o3 or kling_o3_pro"
    if "aspect_ratio" in body and body["aspect_ratio"] not in ("16:9", "9:16", "1:1"):
        return "aspect_ratio must be 16:9, 9:16 or 1:1"
    if body.get("images_url") and body.get("images_base64"):
        return "Cannot provide both images_url and images_base64"
    if len(body.get("images_url") or []) + len(body.get("images_base64") or []) > 5:
        return "Maximum 5 images allowed"
    return None
