"""Wires the bot together: storage, the provider, the core services, the HTTP listener and Discord."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import socket
import sys
from contextlib import suppress
from typing import Any

import aiohttp
import discord
from aiohttp import web

from bot.config import ConfigError, ProviderName, Settings, load_settings
from bot.core.callback_tokens import CallbackSigner
from bot.core.clock import Clock, SystemClock
from bot.core.delivery import POST_RETRY_DELAYS, Delivery
from bot.core.dispatcher import Dispatcher
from bot.core.jobs import JobService
from bot.core.lifecycle import JobLifecycle
from bot.core.metrics import Metrics
from bot.core.models import Job, JobStatus
from bot.core.moderation import ModerationService
from bot.core.quotas import QuotaPolicy, QuotaService
from bot.core.ratelimit import RateLimiters
from bot.core.schedule import poll_delay
from bot.core.slots import ProviderSlots
from bot.core.tracker import JobTracker, PollSchedule
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.publisher import DiscordPublisher
from bot.logs import setup_logging
from bot.providers.registry import build_provider
from bot.providers.sandbox import SandboxServer
from bot.web.server import WebDependencies, build_app
from storage.database import Database
from storage.guild_settings import GuildSettingsStore
from storage.jobs import JobStore
from storage.kv import KeyValueStore
from storage.quotas import QuotaStore

log = logging.getLogger(__name__)

UNCERTAIN_AFTER_RESTART = (
    "The bot restarted while sending this job, so it cannot tell whether the provider started it. "
    "It was not sent again, to avoid paying twice; your credits were refunded."
)


class Application:
    """The whole bot. `start` brings it up (recovering unfinished jobs), `stop` takes it down."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, guild_ready_timeout: float = 2.0,
        delivery_retry_delays: tuple[float, ...] = POST_RETRY_DELAYS, poll_schedule: PollSchedule = poll_delay,
    ) -> None:
        self.poll_schedule = poll_schedule
        self.settings = settings
        self.clock = clock or SystemClock()
        self.guild_ready_timeout = guild_ready_timeout
        self.delivery_retry_delays = delivery_retry_delays
        self.metrics = Metrics()
        self._tasks: list[asyncio.Task[Any]] = []
        self.listener_url = ""

    async def start(self) -> None:
        settings = self.settings
        self.database = await Database.open(settings.database_path)
        self.store = JobStore(self.database)
        guild_settings = GuildSettingsStore(self.database)
        self.moderation = ModerationService(guild_settings)
        self.quotas = QuotaService(
            database=self.database, store=QuotaStore(self.database), guilds=guild_settings,
            moderation=self.moderation, policy=QuotaPolicy.from_settings(settings), clock=self.clock,
        )
        secret = (settings.callback_secret.get_secret_value() if settings.callback_secret
                  else await KeyValueStore(self.database).get_or_create("callback_secret", secrets.token_urlsafe(32)))
        self.signer = CallbackSigner(secret)
        self.session = aiohttp.ClientSession()

        listener_socket = _bind(settings.http_host, settings.http_port)
        port = listener_socket.getsockname()[1]
        local_host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
        self.listener_url = f"http://{local_host}:{port}"

        self.provider = build_provider(settings, self.session, listener_url=self.listener_url)
        caps = self.provider.capabilities
        rate = caps.rate_limit
        calls, per_seconds = (settings.poll_rate_per_minute, 60.0) if settings.poll_rate_per_minute else (
            rate.calls, rate.per_seconds)
        limiter = RateLimiters(self.clock).for_key(self.provider.rate_key, calls, per_seconds)

        self.bot = KlingBot(settings, guild_ready_timeout=self.guild_ready_timeout)
        self.publisher = DiscordPublisher(self.bot)
        self.lifecycle = JobLifecycle(self.store, self.publisher, self.clock, refunder=self.quotas)
        self.slots = ProviderSlots(settings.max_concurrent_jobs)
        archive = settings.public_base_url is not None
        self.delivery = Delivery(
            lifecycle=self.lifecycle, publisher=self.publisher, session=self.session, clock=self.clock,
            metrics=self.metrics, work_dir=settings.database_path.parent / "tmp",
            archive_dir=settings.media_path if archive else None,
            archive_url=(lambda name: settings.public_url(f"/media/{name}") or "") if archive else None,
            retry_delays=self.delivery_retry_delays,
        )
        self.tracker = JobTracker(
            provider=self.provider, lifecycle=self.lifecycle, delivery=self.delivery, slots=self.slots,
            limiter=limiter, clock=self.clock, metrics=self.metrics, timeout_seconds=settings.job_timeout_seconds,
            schedule=self.poll_schedule,
        )
        self.dispatcher = Dispatcher(
            provider=self.provider, lifecycle=self.lifecycle, tracker=self.tracker, slots=self.slots,
            clock=self.clock, metrics=self.metrics, callback_url=self._callback_url,
            give_up_after=settings.job_timeout_seconds,
            submit_limiter=limiter if rate.includes_submit else None,
        )
        self.jobs = JobService(store=self.store, dispatcher=self.dispatcher, capabilities=caps,
                               provider_name=self.provider.name, clock=self.clock, database=self.database,
                               quotas=self.quotas, moderation=self.moderation)
        self.bot.services = Services(settings=settings, jobs=self.jobs, publisher=self.publisher,
                                     capabilities=caps, provider_name=self.provider.name, quotas=self.quotas,
                                     moderation=self.moderation)

        app = build_app(WebDependencies(
            store=self.store, tracker=self.tracker, provider=self.provider, signer=self.signer,
            metrics=self.metrics, database_ok=self.database.ping, gateway_ok=lambda: self.bot.gateway_connected,
            queue_depth=lambda: len(self.dispatcher.queue), media_dir=settings.media_path if archive else None,
        ))
        if settings.kling_provider is ProviderName.SANDBOX:
            SandboxServer(
                pending_seconds=settings.sandbox_pending_seconds,
                processing_seconds=settings.sandbox_processing_seconds, public_base_url=self.listener_url,
            ).add_routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.SockSite(self.runner, listener_socket).start()
        log.info("HTTP listener on %s (provider: %s)", self.listener_url, self.provider.name)

        await self.bot.login(settings.discord_token.get_secret_value())
        await self.recover()
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.tracker.run(), name="poll-loop"),
            asyncio.create_task(self.bot.connect(reconnect=True), name="discord-gateway"),
        ]

    def _callback_url(self, job: Job) -> str | None:
        if not self.provider.capabilities.push:
            return None
        base = str(self.settings.public_base_url).rstrip("/") if self.settings.public_base_url else None
        if base is None and self.settings.kling_provider is ProviderName.SANDBOX:
            base = self.listener_url  # the sandbox runs inside this process and reaches it on loopback
        return f"{base}{self.signer.path(self.provider.name, job.id)}" if base else None

    async def recover(self) -> None:
        """Pick up where the last run stopped: nothing in flight is lost, nothing is sent twice."""
        unfinished = await self.store.with_status(
            (JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.PROCESSING, JobStatus.COMPLETED)
        )
        counts = {"queued": 0, "tracking": 0, "delivering": 0, "uncertain": 0, "cancelled": 0}
        for job in unfinished:
            if job.status is JobStatus.COMPLETED:
                counts["delivering"] += 1  # the video exists, whichever provider made it
                self.delivery.schedule(job)
            elif job.provider != self.provider.name:
                counts["cancelled"] += 1
                await self.lifecycle.fail(job.id, job.status, f"The server switched video providers from "
                                          f"{job.provider} to {self.provider.name}; this job was cancelled.")
            elif job.status is JobStatus.QUEUED and job.submitting_since is not None:
                counts["uncertain"] += 1
                await self.lifecycle.fail(job.id, JobStatus.QUEUED, UNCERTAIN_AFTER_RESTART,
                                          detail="needs reconciliation: restarted during submit",
                                          submitting_since=None)
            elif job.status is JobStatus.QUEUED:
                counts["queued"] += 1
                self.dispatcher.enqueue(job)
            else:
                counts["tracking"] += 1
                self.dispatcher.resumed_at_provider(job)
                self.tracker.track(job, callback_expected=self._callback_url(job) is not None, resumed=True)
        if unfinished:
            log.info("resumed unfinished jobs: %s", counts)
        await self.quotas.refund_missed()  # failed before a stop, with the refund not yet written

    async def stop(self) -> None:
        """Stop whatever `start` got as far as starting (it may have failed half-way)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # The gateway first, so no new interactions arrive while the rest winds down.
        closers = [("bot", "close"), ("dispatcher", "close"), ("tracker", "close"), ("delivery", "close"),
                   ("publisher", "wait_for_edits"), ("runner", "cleanup"), ("session", "close"),
                   ("database", "close")]
        for owner, method in closers:
            target = getattr(self, owner, None)
            if target is not None:
                with suppress(Exception):
                    await getattr(target, method)()

    async def run_forever(self) -> None:
        """Start, then run until the gateway task ends or the process is told to stop."""
        try:
            await self.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            gateway = self._tasks[-1]
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({gateway, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if gateway.done() and not gateway.cancelled() and gateway.exception() is not None:
                raise gateway.exception()  # type: ignore[misc]
        finally:
            log.info("shutting down")
            await self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def main() -> None:
    """`python -m bot` and the `kling-bot` command."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings)
    try:
        asyncio.run(Application(settings).run_forever())
    except discord.LoginFailure:
        print("Discord refused DISCORD_TOKEN: check the bot token in the Developer Portal.", file=sys.stderr)
        raise SystemExit(2) from None
    except discord.PrivilegedIntentsRequired as error:
        print(f"Discord refused a privileged intent: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as error:
        print(f"Could not start: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


