"""`/quota`: a member's credits, and the moderators' tools for limits, grants, the pool and the ledger.

Discord applies default member permissions to a whole top-level command, and `/quota show` is for
everyone, so the moderator subcommands here are guarded by the server-side check alone.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.quotas import MAX_CREDITS
from bot.discord_adapter import render_quotas
from bot.discord_adapter.checks import actor_of, moderator_only
from bot.discord_adapter.client import KlingBot, Services

Credits = app_commands.Range[int, 0, MAX_CREDITS]
PositiveCredits = app_commands.Range[int, 1, MAX_CREDITS]


@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
class QuotaCog(commands.GroupCog, group_name="quota", group_description="Video credits: yours, and the server's"):
    def __init__(self, bot: KlingBot) -> None:
        self.services: Services = bot.services
        super().__init__()

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    def _above_ceiling(self, credits: int, whatever: str) -> str:
        """A note when a moderator sets more than the operator's ceiling lets the server use (" ..." or "")."""
        ceiling = self.services.quotas.policy.guild_ceiling
        if not ceiling or credits <= ceiling:
            return ""
        return " " + render_quotas.ceiling_note(ceiling, self.services.quotas.period().unit, whatever=whatever)

    @app_commands.command(name="show", description="Credits used and left, your limit, and when they reset")
    @app_commands.describe(user="Another member (moderators only)")
    async def show(self, interaction: discord.Interaction, user: discord.User | None = None) -> None:
        balance = await self.services.quotas.show(actor_of(interaction), user.id if user else None)
        own = balance.user_id == interaction.user.id
        await self._reply(interaction, render_quotas.balance_text(
            balance, own=own, multipliers=self.services.quotas.policy.multipliers))

    @app_commands.command(name="set", description="Moderators: a member's credit limit per period (0 stops them)")
    @app_commands.describe(user="The member", limit="Credits per period; 0 stops them from making videos")
    @moderator_only()
    async def set_limit(self, interaction: discord.Interaction, user: discord.User, limit: Credits) -> None:
        balance = await self.services.quotas.set_limit(actor_of(interaction), user.id, limit)
        stopped = " They cannot make videos until this changes." if limit == 0 else ""
        capped = self._above_ceiling(limit, "their limit says")
        await self._reply(interaction, f"<@{user.id}> now has a limit of **{limit}** credits a "
                                       f"{balance.period.unit} ({balance.used} used {balance.period.word})."
                                       f"{stopped}{capped}")

    @app_commands.command(name="grant", description="Moderators: give a member extra credits for this period")
    @app_commands.describe(user="The member", amount="Extra credits, for this period only")
    @moderator_only()
    async def grant(self, interaction: discord.Interaction, user: discord.User, amount: PositiveCredits) -> None:
        balance = await self.services.quotas.grant(actor_of(interaction), user.id, amount)
        await self._reply(interaction, f"Granted <@{user.id}> **{amount}** extra credits {balance.period.word}; "
                                       f"they have **{balance.remaining}** of {balance.allowance} left.")

    @app_commands.command(name="reset", description="Moderators: clear what a member has used this period")
    @app_commands.describe(user="The member")
    @moderator_only()
    async def reset(self, interaction: discord.Interaction, user: discord.User) -> None:
        cleared, balance = await self.services.quotas.reset(actor_of(interaction), user.id)
        await self._reply(interaction, f"Cleared **{cleared}** used credits of <@{user.id}>; they have "
                                       f"**{balance.remaining}** of {balance.allowance} left {balance.period.word}.")

    @app_commands.command(name="pool", description="Moderators: show or set the server's shared pool per period")
    @app_commands.describe(limit="Credits per period for the whole server; 0 turns the pool off")
    @moderator_only()
    async def pool(self, interaction: discord.Interaction, limit: Credits | None = None) -> None:
        actor = actor_of(interaction)
        if limit is None:
            pool = await self.services.quotas.pool(actor.guild_id)
        else:
            pool = await self.services.quotas.set_pool(actor, limit)
        await self._reply(interaction, render_quotas.pool_text(pool, changed=limit is not None))

    @app_commands.command(name="default", description="Moderators: the limit of members without their own")
    @app_commands.describe(limit="Credits per period")
    @moderator_only()
    async def default(self, interaction: discord.Interaction, limit: Credits) -> None:
        await self.services.quotas.set_default(actor_of(interaction), limit)
        unit = self.services.quotas.period().unit
        capped = self._above_ceiling(limit, "the members' limits say")
        await self._reply(interaction, f"Members without a limit of their own now have **{limit}** credits a {unit}."
                                       f"{capped}")

    @app_commands.command(name="history", description="Moderators: every credit change, newest first")
    @app_commands.describe(user="Only this member's entries", page="Page number (10 entries a page)")
    @moderator_only()
    async def history(self, interaction: discord.Interaction, user: discord.User | None = None,
                      page: app_commands.Range[int, 1, 100_000] = 1) -> None:
        history = await self.services.quotas.history(actor_of(interaction), user.id if user else None, page)
        await self._reply(interaction, render_quotas.history_text(history))


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(QuotaCog(bot))
