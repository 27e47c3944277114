"""`/quota`: a member's credits, and the moderators' tools for limits, grants, the pool and the ledger.

Discord applies default member permissions to a whole top-level command, and `/quota show` is for
everyone, so the moderator subcommands here are guarded by the server-side check alone.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.quotas import MAX_CREDITS
from bot.core.spend import SpendPeriod
from bot.discord_adapter import render_quotas
from bot.discord_adapter.checks import actor_of, moderator_only
from bot.discord_adapter.client import KlingBot, Services
from bot.i18n import Lang, interaction_lang

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

    def _above_ceiling(self, text: str, credits: int, key: str, lang: Lang) -> str:
        """`text`, with a note when a moderator sets more than the operator's ceiling lets the server use (`key`:
        a quota.ceiling.* text)."""
        ceiling = self.services.quotas.policy.guild_ceiling
        if not ceiling or credits <= ceiling:
            return text
        unit = lang.render(self.services.quotas.period().unit_message)
        return lang.t("common.two_sentences", first=text,
                      second=render_quotas.ceiling_note(ceiling, unit, key=key, lang=lang))

    @app_commands.command(name="show", description="Credits used and left, your limit, and when they reset")
    @app_commands.describe(user="Another member (moderators only)")
    async def show(self, interaction: discord.Interaction, user: discord.User | None = None) -> None:
        balance = await self.services.quotas.show(actor_of(interaction), user.id if user else None)
        own = balance.user_id == interaction.user.id
        policy = self.services.quotas.policy
        await self._reply(interaction, render_quotas.balance_text(
            balance, own=own, multipliers=policy.multipliers,
            audio_multiplier=policy.audio_multiplier if self.services.capabilities.audio else None,
            lang=interaction_lang(interaction)))

    @app_commands.command(name="set", description="Moderators: a member's credit limit per period (0 stops them)")
    @app_commands.describe(user="The member", limit="Credits per period; 0 stops them from making videos")
    @moderator_only()
    async def set_limit(self, interaction: discord.Interaction, user: discord.User, limit: Credits) -> None:
        balance = await self.services.quotas.set_limit(actor_of(interaction), user.id, limit)
        lang = interaction_lang(interaction)
        text = lang.t("quota.set.done", member=f"<@{user.id}>", limit=limit,
                      unit=lang.render(balance.period.unit_message), used=balance.used,
                      period=lang.render(balance.period.word_message))
        if limit == 0:
            text = lang.t("common.two_sentences", first=text, second=lang.t("quota.set.stopped"))
        await self._reply(interaction, self._above_ceiling(text, limit, "quota.ceiling.limit", lang))

    @app_commands.command(name="grant", description="Moderators: give a member extra credits for this period")
    @app_commands.describe(user="The member", amount="Extra credits, for this period only")
    @moderator_only()
    async def grant(self, interaction: discord.Interaction, user: discord.User, amount: PositiveCredits) -> None:
        balance = await self.services.quotas.grant(actor_of(interaction), user.id, amount)
        lang = interaction_lang(interaction)
        await self._reply(interaction, lang.t("quota.grant.done", member=f"<@{user.id}>", amount=amount,
                                              period=lang.render(balance.period.word_message),
                                              remaining=balance.remaining, allowance=balance.allowance))

    @app_commands.command(name="reset", description="Moderators: clear what a member has used this period")
    @app_commands.describe(user="The member")
    @moderator_only()
    async def reset(self, interaction: discord.Interaction, user: discord.User) -> None:
        cleared, balance = await self.services.quotas.reset(actor_of(interaction), user.id)
        lang = interaction_lang(interaction)
        await self._reply(interaction, lang.t("quota.reset.done", cleared=cleared, member=f"<@{user.id}>",
                                              remaining=balance.remaining, allowance=balance.allowance,
                                              period=lang.render(balance.period.word_message)))

    @app_commands.command(name="pool", description="Moderators: show or set the server's shared pool per period")
    @app_commands.describe(limit="Credits per period for the whole server; 0 turns the pool off")
    @moderator_only()
    async def pool(self, interaction: discord.Interaction, limit: Credits | None = None) -> None:
        actor = actor_of(interaction)
        if limit is None:
            pool = await self.services.quotas.pool(actor.guild_id)
        else:
            pool = await self.services.quotas.set_pool(actor, limit)
        await self._reply(interaction, render_quotas.pool_text(pool, changed=limit is not None,
                                                               lang=interaction_lang(interaction)))

    @app_commands.command(name="default", description="Moderators: the limit of members without their own")
    @app_commands.describe(limit="Credits per period")
    @moderator_only()
    async def default(self, interaction: discord.Interaction, limit: Credits) -> None:
        await self.services.quotas.set_default(actor_of(interaction), limit)
        lang = interaction_lang(interaction)
        text = lang.t("quota.default.done", limit=limit, unit=lang.render(self.services.quotas.period().unit_message))
        await self._reply(interaction, self._above_ceiling(text, limit, "quota.ceiling.default", lang))

    @app_commands.command(name="history", description="Moderators: every credit change, newest first")
    @app_commands.describe(user="Only this member's entries", page="Page number (10 entries a page)")
    @moderator_only()
    async def history(self, interaction: discord.Interaction, user: discord.User | None = None,
                      page: app_commands.Range[int, 1, 100_000] = 1) -> None:
        history = await self.services.quotas.history(actor_of(interaction), user.id if user else None, page)
        await self._reply(interaction, render_quotas.history_text(history, interaction_lang(interaction)))


    @app_commands.command(name="spend", description="Moderators: money the video account spent, by member")
    @app_commands.describe(period="Today (default), this week or this month (UTC)")
    @app_commands.choices(period=[app_commands.Choice(name="today", value="day"),
                                  app_commands.Choice(name="this week", value="week"),
                                  app_commands.Choice(name="this month", value="month")])
    @moderator_only()
    async def spend(self, interaction: discord.Interaction, period: str = "day") -> None:
        assert self.services.spend is not None, "the application wires the spend service"
        report = await self.services.spend.report(actor_of(interaction), SpendPeriod(period))
        await self._reply(interaction, render_quotas.spend_text(report, interaction_lang(interaction)))


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(QuotaCog(bot))
