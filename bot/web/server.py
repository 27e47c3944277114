"""The bot's HTTP listener: provider callbacks, health, metrics, archived media, and the sandbox."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.core.callback_tokens import CallbackSigner
from bot.core.metrics import Metrics
from bot.core.tracker import JobTracker, UpdateRejected
from bot.providers.base import MalformedCallback, Provider
from bot.web.metrics_text import render_metrics
from storage.jobs import JobStore

log = logging.getLogger(__name__)

CALLBACK_BODY_LIMIT = 64 * 1024
MEDIA_NAME = re.compile(r"^[0-9a-f]{16}\.mp4$")


@dataclass
class WebDependencies:
    store: JobStore
    tracker: JobTracker
    provider: Provider
    signer: CallbackSigner
    metrics: Metrics
    database_ok: Callable[[], Awaitable[bool]]
    gateway_ok: Callable[[], bool]
    queue_depth: Callable[[], int]
    media_dir: Path | None


def build_app(deps: WebDependencies) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    routes = Routes(deps)
    app.router.add_post("/callbacks/{provider}/{job_id}/{token}", routes.callback)
    app.router.add_get("/healthz", routes.health)
    app.router.add_get("/metrics", routes.metrics)
    if deps.media_dir is not None:
        app.router.add_get("/media/{name}", routes.media)
    return app


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")


RECEIVED = json.dumps({"status": "received"}).encode()  # the answer to nearly every callback


class Routes:
    def __init__(self, deps: WebDependencies) -> None:
        self.deps = deps

    async def callback(self, request: web.Request) -> web.Response:
        """A provider webhook. Nothing changes unless the token, the job and the body all check out."""
        outcome, response = await self._callback(request)
        self.deps.metrics.callbacks[outcome] += 1
        return response

    async def _callback(self, request: web.Request) -> tuple[str, web.Response]:
        deps = self.deps
        job_id, token = request.match_info["job_id"], request.match_info["token"]
        if request.content_length is not None and request.content_length > CALLBACK_BODY_LIMIT:
            return "too_large", _json({"error": "body too large"}, 413)
        body = await request.content.read(CALLBACK_BODY_LIMIT + 1)
        if len(body) > CALLBACK_BODY_LIMIT:
            return "too_large", _json({"error": "body too large"}, 413)
        if not deps.signer.verify(job_id, token):
            return "forbidden", _json({"error": "invalid token"}, 403)
        if request.match_info["provider"] != deps.provider.name:
            return "unknown_job", _json({"error": "unknown job"}, 404)
        # A job at the provider is tracked in memory: no database read on the busy path.
        provider_job_id = deps.tracker.provider_job_id(job_id)
        if provider_job_id is None:
            job = await deps.store.get(job_id)
            if job is None or job.provider != deps.provider.name:
                return "unknown_job", _json({"error": "unknown job"}, 404)
            if job.provider_job_id is None:
                # The provider answered faster than we recorded its id; it retries, and polling catches up.
                return "early", _json({"error": "job not yet submitted"}, 409)
            provider_job_id = job.provider_job_id
        try:
            update = deps.provider.parse_callback(body)
        except MalformedCallback:
            return "malformed", _json({"error": "malformed body"}, 400)
        try:
            moved = await deps.tracker.apply(job_id, provider_job_id, update, "callback")
        except UpdateRejected:
            return "mismatch", _json({"error": "callback does not match the job"}, 400)
        return ("applied" if moved else "duplicate"), web.Response(body=RECEIVED, content_type="application/json")

    async def health(self, request: web.Request) -> web.Response:
        database = await self.deps.database_ok()
        gateway = self.deps.gateway_ok()
        healthy = database and gateway
        return _json(
            {"status": "ok" if healthy else "unavailable", "database": database, "gateway": gateway},
            200 if healthy else 503,
        )

    async def metrics(self, request: web.Request) -> web.Response:
        counts = await self.deps.store.count_by_status()
        text = render_metrics(self.deps.metrics, counts, self.deps.queue_depth(), self.deps.tracker.tracked_count)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def media(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        media_dir = self.deps.media_dir
        if media_dir is None or not MEDIA_NAME.match(name) or not (media_dir / name).is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(media_dir / name, headers={"Content-Type": "video/mp4"})
