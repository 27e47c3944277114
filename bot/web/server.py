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
from pydantic import SecretStr

from bot.core.callback_tokens import CallbackSigner, looks_like_job_id, looks_like_token
from bot.core.models import JobStatus
from bot.core.ports.provider import MalformedCallback, Provider
from bot.core.ports.repositories import JobRepository
from bot.core.tracker import JobTracker, UpdateRejected
from bot.web.guards import BodyTooLarge, bearer_matches, json_response, plain_errors, read_body
from bot.web.job_counts import CachedJobCounts
from bot.web.metrics import CONTENT_TYPE, PrometheusMetrics, StateSources

log = logging.getLogger(__name__)

CALLBACK_BODY_LIMIT = 64 * 1024
BODY_DEADLINE = 10.0  # seconds for a callback body to arrive in full once its headers are in
METRICS_COUNTS_TTL = 5.0  # seconds /metrics reuses its job counts instead of counting the table again
# aiohttp keeps an idle keep-alive connection for about an hour by default; a stranger should not.
KEEPALIVE_TIMEOUT = 75.0
MEDIA_NAME = re.compile(r"^[0-9a-f]{16}\.mp4$")


@dataclass
class WebDependencies:
    store: JobRepository
    tracker: JobTracker
    provider: Provider
    signer: CallbackSigner
    metrics: PrometheusMetrics
    database_ok: Callable[[], Awaitable[bool]]
    gateway_ok: Callable[[], bool]
    queue_depth: Callable[[], int]
    media_dir: Path | None
    media_retention_days: int = 0  # MEDIA_RETENTION_DAYS, for the answer about a video no longer kept
    metrics_token: SecretStr | None = None  # METRICS_TOKEN: /metrics then needs `Authorization: Bearer <it>`
    body_deadline: float = BODY_DEADLINE
    counts_ttl: float = METRICS_COUNTS_TTL
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    dead_tasks: Callable[[], dict[str, str]] = dict  # background loops that ended, and why
    # With several processes on one database: "leader" or "follower" (bot/core/leadership.py); None: one process.
    role: Callable[[], str] | None = None


# The dependencies live on the aiohttp app too, so a test can shorten a deadline on the running bot.
WEB_DEPENDENCIES = web.AppKey("web_dependencies", WebDependencies)


def build_app(deps: WebDependencies) -> web.Application:
    app = web.Application(
        client_max_size=1024 * 1024, middlewares=[plain_errors],
        # Set on the server itself: debug off, so aiohttp's own error page never carries a traceback.
        handler_args={"keepalive_timeout": deps.keepalive_timeout, "debug": False},
    )
    app[WEB_DEPENDENCIES] = deps
    routes = Routes(deps)
    app.router.add_post("/callbacks/{provider}/{job_id}/{token}", routes.callback)
    app.router.add_get("/healthz", routes.health)
    app.router.add_get("/metrics", routes.metrics)
    if deps.media_dir is not None:
        app.router.add_get("/media/{name}", routes.media)
    return app


def _json(payload: Any, status: int = 200) -> web.Response:
    return json_response(payload, status)


def _closing(response: web.Response) -> web.Response:
    """No keep-alive after a body we refused to read to its end: the connection cannot be reused."""
    response.force_close()
    return response


RECEIVED = json.dumps({"status": "received"}).encode()  # the answer to nearly every callback


class Routes:
    def __init__(self, deps: WebDependencies) -> None:
        self.deps = deps
        self.job_counts = CachedJobCounts(deps.store.count_by_status, lambda: deps.counts_ttl)
        deps.metrics.read_state_from(StateSources(
            queue_depth=deps.queue_depth, tracked=lambda: deps.tracker.tracked_count, gateway_up=deps.gateway_ok,
        ))

    async def callback(self, request: web.Request) -> web.Response:
        """A provider webhook. Nothing changes unless the token, the job and the body all check out."""
        outcome, response = await self._callback(request)
        self.deps.metrics.callback(outcome)
        return response

    async def _callback(self, request: web.Request) -> tuple[str, web.Response]:
        deps = self.deps
        job_id, token = request.match_info["job_id"], request.match_info["token"]
        # The shape first: anything the bot never hands out is refused before any other work.
        if not looks_like_token(token):
            return "forbidden", _json({"error": "invalid token"}, 403)
        if not looks_like_job_id(job_id):
            return "unknown_job", _json({"error": "unknown job"}, 404)
        if request.content_length is not None and request.content_length > CALLBACK_BODY_LIMIT:
            return "too_large", _closing(_json({"error": "body too large"}, 413))
        if not deps.signer.verify(job_id, token):
            return "forbidden", _json({"error": "invalid token"}, 403)
        if request.match_info["provider"] != deps.provider.name:
            return "unknown_job", _json({"error": "unknown job"}, 404)
        try:
            body = await read_body(request, CALLBACK_BODY_LIMIT, deps.body_deadline)
        except BodyTooLarge:
            return "too_large", _closing(_json({"error": "body too large"}, 413))
        except TimeoutError:
            return "timeout", _closing(_json({"error": "the request body did not arrive in time"}, 408))
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
        dead = self.deps.dead_tasks()
        healthy = database and gateway and not dead
        role = {"role": self.deps.role()} if self.deps.role is not None else {}
        return _json(
            {"status": "ok" if healthy else "unavailable", "database": database, "gateway": gateway,
             "dead_tasks": dead, **role},
            200 if healthy else 503,
        )

    async def metrics(self, request: web.Request) -> web.Response:
        token = self.deps.metrics_token
        if token is not None and not bearer_matches(request, token.get_secret_value()):
            return json_response({"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"})
        body = self.deps.metrics.exposition(await self.job_counts.get())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "X-Content-Type-Options": "nosniff"})

    async def media(self, request: web.Request) -> web.StreamResponse:
        """An archived video, by its final name only (a download in progress has a hidden partial name)."""
        name = request.match_info["name"]
        media_dir = self.deps.media_dir
        if media_dir is None or not MEDIA_NAME.match(name):
            raise web.HTTPNotFound()
        if (media_dir / name).is_file():
            return web.FileResponse(media_dir / name, headers={"Content-Type": "video/mp4"})
        job = await self.deps.store.get(name.removesuffix(".mp4"))
        if job is None or job.status is not JobStatus.DELIVERED:
            raise web.HTTPNotFound()  # never archived (or not yet): nothing to say about it
        return _json({"error": "gone", "detail": _no_longer_kept(self.deps.media_retention_days)}, 410)


def _no_longer_kept(retention_days: int) -> str:
    if retention_days:
        return (f"This video is no longer kept: archived videos are kept for {retention_days} days, "
                "and the oldest go first when the archive is full.")
    return "This video is no longer kept: the archive keeps only the most recent videos."
