"""The discord.py client: loads the cogs, syncs commands, routes every command error to one handler, and
keeps the bot to the operator's servers (ALLOWED_GUILD_IDS)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core.confirmations import Confirmations
from bot.core.engine import JobEngine
from bot.core.moderation import ModerationService
from bot.core.ports.alerts import Notes
from bot.core.ports.provider import Capabilities
from bot.core.quotas import QuotaService
from bot.core.spend import SpendService
from bot.discord_adapter.allowed_guilds import allowed_here, leave_unless_allowed
from bot.discord_adapter.command_sync import SyncRecords, sync_if_changed
from bot.discord_adapter.errors import handle_command_error
from bot.discord_adapter.invite import invite_url
from bot.discord_adapter.modal_routes import ModalRoutes
from bot.discord_adapter.publisher import DiscordPublisher
from bot.discord_adapter.shards import IdentifyPacer, describe_shards
from bot.i18n.commands import CatalogueTranslator

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video", "cogs.quota", "cogs.moderation", "cogs.animate", "cogs.help", "cogs.settings", "cogs.queue",
              "cogs.continue_clip", "cogs.storyboard")

# The bot never joins voice; discord.py's warnings about missing voice libraries would only confuse.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


@dataclass
class Services:
    """What the cogs may use: services of the core, never the store or a provider directly."""

    settings: Settings
    engine: JobEngine
    publisher: DiscordPublisher
    capabilities: Capabilities
    provider_name: str
    quotas: QuotaService
    moderation: ModerationService
    notes: Notes | None = None  # small values kept across restarts (an open "Animate" form's image)
    spend: SpendService | None = None  # money: `/quota spend`
    confirmations: Confirmations | None = None  # the cost preview before expensive jobs (CONFIRM_ABOVE_CREDITS)


class AllowedServersTree(app_commands.CommandTree[Any]):
    """Every slash command, context menu and autocomplete passes here first: interactions from servers not
    on ALLOWED_GUILD_IDS get a private refusal and never reach a command."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        return await allowed_here(interaction)


class KlingBot(commands.Bot):
    services: Services

    def __init__(self, settings: Settings, *, guild_ready_timeout: float = 2.0,
                 command_records: SyncRecords | None = None, **gateway_options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, roles and the upload limit; no message content, no members
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, help_command=None,
            chunk_guilds_at_startup=False, guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(), tree_cls=AllowedServersTree,
            **gateway_options,
        )
        self.settings = settings
        self.command_records = command_records  # None: commands are synced at every start
        self.modal_routes = ModalRoutes()  # the bot's forms, answered by custom id (also after a restart)
        self.tree.error(handle_command_error)

    async def setup_hook(self) -> None:
        # Runs after login (the application id is known) and before the gateway opens.
        await self.tree.set_translator(CatalogueTranslator())  # localized names, before the sync hashes them
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.syncs_commands:
            await sync_if_changed(self.tree, self.settings.dev_guild_id, self.command_records)
        else:
            log.info("commands not synced here: the process running shard 0 syncs them")
        if self.application_id is not None:
            log.info("Invite the bot with: %s", invite_url(self.application_id))

    @property
    def syncs_commands(self) -> bool:
        """Commands are global (REST): of several processes sharing the shards, only shard 0's registers them,
        so that processes of different versions never undo each other's sync."""
        shards = self.settings.shards_here
        return shards is None or 0 in shards

    @property
    def gateway_connected(self) -> bool:
        return self.is_ready() and not self.is_closed() and self.ws is not None and self.ws.open

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.modal_routes.dispatch(interaction)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s)", self.user, len(self.guilds))

    # Each guild the gateway delivers at start-up (or after a new session) is "available"; one added while
    # connected is a "join". Either way the bot leaves it at once unless the operator allowed it.
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await leave_unless_allowed(self, guild, when="at start-up")

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await leave_unless_allowed(self, guild, when="on joining")


class ShardedKlingBot(KlingBot, commands.AutoShardedBot):
    """The same bot on one gateway connection per shard (SHARD_COUNT, SHARD_IDS): each shard receives the
    events and interactions of its own servers; REST (posting, editing) works for every server alike."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        shards = settings.shards_here
        assert settings.shard_count is not None and shards is not None, "SHARD_COUNT is set for a sharded bot"
        super().__init__(settings, shard_count=settings.shard_count, shard_ids=list(shards), **options)
        self.identify_pacer = IdentifyPacer()

    async def setup_hook(self) -> None:
        await super().setup_hook()
        shards, count = self.settings.shards_here or (), self.settings.shard_count or 1
        try:
            recommended, _, limits = await self.http.get_bot_gateway()
        except discord.GatewayNotFound:
            log.warning("could not read Discord's identify limits; starting the shards 5 s apart")
        else:
            self.identify_pacer.max_concurrency = max(1, int(limits.get("max_concurrency", 1)))
            if recommended > count:
                log.warning("Discord recommends %d shards; SHARD_COUNT is %d (raise it before Discord requires it)",
                            recommended, count)
        log.info("running %s (identify concurrency %d)", describe_shards(tuple(shards), count),
                 self.identify_pacer.max_concurrency)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.identify_pacer.wait(shard_id or 0)

    @property
    def gateway_connected(self) -> bool:
        """Every shard of this process is connected (one shard down leaves its servers without answers)."""
        running = self.shards
        return (self.is_ready() and not self.is_closed() and len(running) == len(self.settings.shards_here or ())
                and not any(shard.is_closed() for shard in running.values()))

    async def on_shard_ready(self, shard_id: int) -> None:
        servers = sum(1 for guild in self.guilds if guild.shard_id == shard_id)
        log.info("shard %d of %s ready with %d server(s)", shard_id, self.shard_count, servers)


def build_bot(settings: Settings, **options: Any) -> KlingBot:
    """One unsharded connection (SHARD_COUNT unset), or the shards of SHARD_IDS on one connection each."""
    if settings.shard_count is None:
        return KlingBot(settings, **options)
    return ShardedKlingBot(settings, **options)
