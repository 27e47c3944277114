"""Wires the bot together: storage, the provider, the core services, the HTTP listener and Discord."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
from contextlib import suppress
from typing import Any

import aiohttp
import discord
from aiohttp import web

from bot import cli
from bot.alerting import alert_sinks
from bot.config import ConfigError, Settings, load_settings, quota_policy, spend_policy
from bot.core.alerts import Alerts
from bot.core.background import BackgroundTaskDied, BackgroundTasks
from bot.core.callback_tokens import CallbackSigner
from bot.core.clock import Clock, SystemClock
from bot.core.confirmations import Confirmations
from bot.core.continuing import FRAMES_FOLDER, LastFrames
from bot.core.delivery import POST_RETRY_DELAYS
from bot.core.engine import EngineSettings, JobEngine
from bot.core.incidents import remember_death, report_restart
from bot.core.leadership import Leadership, SoleLease
from bot.core.media_archive import MediaArchive
from bot.core.models import Job
from bot.core.moderation import ModerationService
from bot.core.quotas import QuotaService
from bot.core.retention import JobRetention
from bot.core.schedule import poll_delay
from bot.core.spend import BalanceWatch, SpendService, balance_reader
from bot.core.tracker import PollSchedule
from bot.discord_adapter.attachments import DISCORD_CDN_BASES, DiscordAttachmentLinks
from bot.discord_adapter.client import Services, build_bot
from bot.discord_adapter.publisher import DiscordPublisher
from bot.discord_adapter.start_frames import DiscordStartFrames
from bot.downloads import AddressPolicy, SafeVideoSource
from bot.downloads.frames import PyAVFrameReader
from bot.event_loop import run_on
from bot.gc_tuning import tune_for_serving
from bot.logs import secret_mask, setup_logging
from bot.providers.registry import build_provider, built_in_service, connection_for
from bot.web.metrics import PrometheusMetrics
from bot.web.server import WebDependencies, build_app
from storage.backends import coordination_for, open_stores
from storage.database import DatabaseUnavailable
from storage.sole_process import SoleProcess

log = logging.getLogger(__name__)

# The most any one part of a stop may take (Application.stop).
STOP_STEP_SECONDS = 20.0


class Application:
    """The whole bot. `start` brings it up (recovering unfinished jobs), `stop` takes it down."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, guild_ready_timeout: float = 2.0,
        delivery_retry_delays: tuple[float, ...] = POST_RETRY_DELAYS, poll_schedule: PollSchedule = poll_delay,
        discord_cdn_bases: tuple[str, ...] = DISCORD_CDN_BASES,
    ) -> None:
        self.poll_schedule = poll_schedule
        self.discord_cdn_bases = discord_cdn_bases  # where Discord's attachment links live (tests add their fake)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.guild_ready_timeout = guild_ready_timeout
        self.delivery_retry_delays = delivery_retry_delays
        self.metrics = PrometheusMetrics(provider=settings.kling_provider)  # a registry of its own per Application
        # The built-in sandbox answers on the public listener: only the holder of this key may use it.
        self.sandbox_key = secrets.token_urlsafe(32)
        secret_mask.add(self.sandbox_key)
        self.background = BackgroundTasks()
        self._gateway: asyncio.Task[Any] | None = None
        self.sole_process: SoleProcess | None = None
        self.listener_url = ""

    async def start(self) -> None:
        settings = self.settings
        if settings.database_url is None:  # one bot process per SQLite file (storage/sole_process.py)
            self.sole_process = SoleProcess.claim(settings.database_path)
        # SQLite at DATABASE_PATH, or PostgreSQL with DATABASE_URL (storage/backends.py).
        self.stores = await open_stores(database_path=settings.database_path,
                                        database_url=str(settings.database_url) if settings.database_url else None)
        self.database = self.stores.database
        self.store = self.stores.jobs
        # PostgreSQL: several processes may share the database and one of them leads (bot/core/leadership.py).
        database_url = str(settings.database_url) if settings.database_url else None
        self.coordination = coordination_for(self.stores, database_url)
        guild_settings = self.stores.guild_settings
        self.moderation = ModerationService(guild_settings)
        self.quotas = QuotaService(store=self.stores.quotas, moderation=self.moderation,
                                   policy=quota_policy(settings), clock=self.clock, metrics=self.metrics)
        secret = (settings.callback_secret.get_secret_value() if settings.callback_secret
                  else await self.stores.kv.get_or_create("callback_secret", secrets.token_urlsafe(32)))
        secret_mask.add(secret)
        self.signer = CallbackSigner(secret)
        self.session = aiohttp.ClientSession()

        listener_socket = _bind(settings.http_host, settings.http_port)
        port = listener_socket.getsockname()[1]
        local_host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
        self.listener_url = f"http://{local_host}:{port}"

        connection = connection_for(self.session, timeout_seconds=settings.provider_timeout_seconds,
                                    listener_url=self.listener_url, public_base_url=settings.public_url(""),
                                    own_key=self.sandbox_key)
        self.provider = build_provider(settings.provider, settings.provider_settings, connection)
        # A provider the bot serves itself (the sandbox), on the listener below.
        self.built_in = built_in_service(settings.provider, settings.provider_settings, connection)
        caps = self.provider.capabilities

        # One gateway connection, or the shards of SHARD_IDS (SHARD_COUNT set): the same bot either way.
        self.bot = build_bot(settings, guild_ready_timeout=self.guild_ready_timeout, command_records=self.stores.kv)
        self.publisher = DiscordPublisher(self.bot)
        self.alerts = Alerts(alert_sinks(settings, self.bot), self.clock,  # ALERT_CHANNEL_ID, ALERT_WEBHOOK_URL
                             notes=self.stores.kv)
        archive = settings.public_base_url is not None
        # Result downloads have sessions of their own, checked at connect time (bot/downloads). The sandbox's
        # clip is read from the package: its listener on loopback is not a place downloads may go.
        self.downloads = SafeVideoSource(
            AddressPolicy(settings.download_allow_networks),
            local_files=self.built_in.local_files() if self.built_in is not None else {},
        )
        self.media_archive = MediaArchive(
            settings.media_path, url_for=lambda name: settings.public_url(f"/media/{name}") or "",
            retention_days=settings.media_retention_days, max_bytes=settings.media_max_bytes,
        ) if archive else None
        # Money (bot/core/spend.py): estimates, SPEND_LIMIT_PER_DAY, reported costs, `/quota spend`.
        self.spend = SpendService(policy=spend_policy(settings), store=self.stores.spend,
                                  moderation=self.moderation, clock=self.clock, alerts=self.alerts)
        self.engine = JobEngine(
            provider=self.provider, store=self.store, quotas=self.quotas, moderation=self.moderation,
            publisher=self.publisher, video_source=self.downloads, archive=self.media_archive, clock=self.clock,
            metrics=self.metrics, callback_url=self._callback_url, alerts=self.alerts,
            member_settings=self.stores.member_settings,  # /settings: members' own defaults
            image_links=DiscordAttachmentLinks(self.bot, self.discord_cdn_bases),
            spend=self.spend,
            # Continue: each delivered clip's last frame, kept beside the media archive for as long as it.
            last_frames=LastFrames(settings.media_path / FRAMES_FOLDER, PyAVFrameReader(),
                                   retention_days=settings.media_retention_days),
            start_frames=DiscordStartFrames(self.bot),
            signals=self.coordination.signals if self.coordination is not None else None,
            settings=EngineSettings(
                max_concurrent_jobs=settings.max_concurrent_jobs, job_timeout_seconds=settings.job_timeout_seconds,
                poll_rate_per_minute=settings.poll_rate_per_minute, work_dir=settings.database_path.parent / "tmp",
                poll_schedule=self.poll_schedule, delivery_retry_delays=self.delivery_retry_delays,
            ),
        )
        self.leadership = Leadership(
            lease=self.coordination.lease if self.coordination is not None else SoleLease(),
            owner=f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}",
            lease_seconds=settings.lease_seconds, engine=self.engine, background=self.background,
            metrics=self.metrics)
        self.publisher.before_edit = self.engine.answers.answered  # status edits after the answers being prepared
        # The engine's parts, named for the listener, health and tests.
        self.dispatcher, self.tracker, self.delivery = self.engine.dispatcher, self.engine.tracker, self.engine.delivery
        self.lifecycle = self.engine.lifecycle
        self.bot.services = Services(settings=settings, engine=self.engine, publisher=self.publisher,
                                     capabilities=caps, provider_name=self.provider.name, quotas=self.quotas,
                                     moderation=self.moderation, notes=self.stores.kv,
                                     spend=self.spend, confirmations=Confirmations(
                                         store=self.stores.confirmations, engine=self.engine,
                                         threshold=settings.confirm_above_credits, clock=self.clock))

        app = build_app(WebDependencies(
            store=self.store, tracker=self.tracker, provider=self.provider, signer=self.signer,
            metrics=self.metrics, database_ok=self.stores.ping, gateway_ok=lambda: self.bot.gateway_connected,
            queue_depth=lambda: len(self.dispatcher.queue), media_dir=settings.media_path if archive else None,
            media_retention_days=settings.media_retention_days,
            metrics_token=settings.metrics_token, dead_tasks=lambda: self.background.dead,
            role=(lambda: self.leadership.role) if self.coordination is not None else None,
        ))
        if self.built_in is not None:
            self.built_in.add_routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.SockSite(self.runner, listener_socket).start()
        log.info("HTTP listener on %s (provider: %s)", self.listener_url, self.provider.name)

        await self.bot.login(settings.discord_token.get_secret_value())
        await self.alerts.restore()  # incidents the last run announced: their clear still comes
        await report_restart(self.stores.kv, self.alerts)  # a loop that died in the last run
        await self.delivery.sweep_leftovers()  # before recover() schedules any delivery
        # Leading (alone, or first on PostgreSQL): recover() and the engine's loops start here, before the gateway.
        await self.leadership.start()
        if self.media_archive is not None:
            self.background.start("media-archive", self.media_archive.upkeep())
        reader = balance_reader(self.provider)
        if reader is not None:  # Kling: its resource packs, read at most hourly (LOW_BALANCE_ALERT)
            self.background.start("provider-balance", BalanceWatch(
                reader=reader, provider_name=self.provider.name, store=self.spend.store, alerts=self.alerts,
                clock=self.clock, policy=self.spend.policy, metrics=self.metrics).run())
        if settings.job_retention_days:  # after recover(), so a missed refund is written before its job can go
            self.background.start("job-retention", JobRetention(self.store, self.clock,
                                                                settings.job_retention_days).run())
        self._gateway = asyncio.create_task(self.bot.connect(reconnect=True), name="discord-gateway")

    def _callback_url(self, job: Job) -> str | None:
        if not self.provider.capabilities.push:
            return None
        base = str(self.settings.public_base_url).rstrip("/") if self.settings.public_base_url else None
        if base is None and self.built_in is not None:
            base = self.listener_url  # the bot serves this provider itself and is reached on loopback
        return f"{base}{self.signer.path(self.provider.name, job.id)}" if base else None

    async def drain(self) -> None:
        """The first part of a graceful stop: refuse new jobs, and give submits on the wire time to be
        answered and recorded (SHUTDOWN_GRACE_SECONDS), so they are tracked after the restart."""
        self.background.stopping()
        unanswered = await self.engine.drain(self.settings.shutdown_grace_seconds)
        log.info("drained: %d submit(s) left unanswered", unanswered)

    async def stop(self) -> None:
        """Stop whatever `start` got as far as starting (it may have failed half-way)."""
        await self.background.stop()
        if self._gateway is not None:  # the gateway first, so no new interactions arrive while the rest winds down
            self._gateway.cancel()
            # asyncio.wait, not gather: a connection that ignored its cancel would hold gather (and the stop) for ever.
            _, running = await asyncio.wait({self._gateway}, timeout=STOP_STEP_SECONDS)
            if running:
                log.warning("stopping: the Discord connection did not end within %g s of being cancelled; going on",
                            STOP_STEP_SECONDS)
            elif not self._gateway.cancelled():
                self._gateway.exception()  # what it ended with is run_forever's to report, not the stop's
        # Alerts and status edits still need the bot's HTTP client, so they finish before it closes; the
        # engine first, so that no new edit is queued behind them.
        # The lease goes once the engine has stopped (a follower then takes over at once), before the database.
        closers = [("alerts", "close"), ("engine", "close"), ("leadership", "release"), ("publisher", "wait_for_edits"),
                   ("bot", "close"), ("runner", "cleanup"), ("session", "close"), ("downloads", "close"),
                   ("database", "close"), ("sole_process", "release")]
        for owner, method in closers:
            target = getattr(self, owner, None)
            if target is None:
                continue
            try:  # one part that cannot finish must not keep the others (and the process) from stopping
                async with asyncio.timeout(STOP_STEP_SECONDS):
                    await getattr(target, method)()
            except TimeoutError:
                log.warning("stopping: %s.%s did not finish within %.0f s; going on", owner, method,
                            STOP_STEP_SECONDS)
            except Exception:
                log.debug("stopping: %s.%s failed", owner, method, exc_info=True)

    async def run_forever(self) -> None:
        """Start, then run until told to stop (SIGTERM, SIGINT: drained first), until the gateway ends, or
        until a background loop dies (raises BackgroundTaskDied, so the process exits non-zero)."""
        try:
            await self.start()
            tune_for_serving()  # start-up's objects out of the collector's way (bot/gc_tuning.py)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            gateway = self._gateway
            assert gateway is not None
            told = asyncio.create_task(stop.wait())
            died = asyncio.create_task(self.background.wait_for_death())
            await asyncio.wait({gateway, told, died}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (told, died):
                waiter.cancel()
            if died.done() and not died.cancelled():
                await remember_death(self.stores.kv, self.background.dead, self.clock.now())
                raise BackgroundTaskDied(died.result())
            if told.done() and not told.cancelled():
                log.info("asked to stop: finishing submits on the wire first")
                await self.drain()
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


def main(argv: list[str] | None = None) -> None:
    """`python -m bot` and the `kling-bot` command: with a command (`kling-bot check`, ...) the operator's
    tools (bot/cli.py), without one the bot."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        raise SystemExit(cli.main(args))
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings)
    try:
        run_on(settings.event_loop, Application(settings).run_forever())  # the bot and its listener alike
    except discord.LoginFailure:
        print("Discord refused DISCORD_TOKEN: check the bot token in the Developer Portal.", file=sys.stderr)
        raise SystemExit(2) from None
    except discord.PrivilegedIntentsRequired as error:
        print(f"Discord refused a privileged intent: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except DatabaseUnavailable as error:
        print(f"Could not start: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except BackgroundTaskDied as error:
        print(f"Stopped: a background task died ({error}); restart the bot (its jobs are kept).", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as error:
        print(f"Could not start: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


