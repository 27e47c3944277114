"""The cost preview in Discord (CONFIRM_ABOVE_CREDITS): a private message with the cost in credits, what the
member has left after it, and Confirm / Cancel buttons. Nothing is charged or queued until Confirm.

The buttons carry the token of the start held in the database (bot/core/confirmations.py), so they work after a
restart; Confirm takes it once (a second click is told it was already used) and starts it the usual way.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.core.confirmations import CONFIRM_TTL_SECONDS, CostPreview, PendingStart
from bot.discord_adapter.allowed_guilds import AllowedServersOnly
from bot.discord_adapter.bot_permissions import cannot_post_here
from bot.discord_adapter.client import Services
from bot.discord_adapter.errors import answer_error
from bot.i18n import EN, Lang, interaction_lang


def preview_text(preview: CostPreview, lang: Lang = EN) -> str:
    minutes = round(CONFIRM_TTL_SECONDS / 60)
    return "\n".join((
        lang.t("confirm.preview", cost=preview.cost, available=preview.available,
               period=lang.render(preview.period.word_message), remaining=preview.remaining_after),
        lang.t("confirm.until", minutes=minutes)))


async def confirm_first(services: Services, interaction: discord.Interaction, start: PendingStart) -> bool:
    """Ask the member to confirm before a start that costs more than CONFIRM_ABOVE_CREDITS. True when asked
    (nothing started: Confirm starts it); False when it goes ahead now (no confirmation needed, or it would be
    refused anyway, and the usual path says why)."""
    confirmations = services.confirmations
    if confirmations is None or not confirmations.threshold or cannot_post_here(interaction) is not None:
        return False
    if start.submission is not None:
        preview = await confirmations.preview(start.submission)
    else:
        assert start.rerun_of is not None
        preview = await confirmations.preview_rerun(start.rerun_of, user_id=start.user_id,
                                                    channel_id=start.channel_id, prompt=start.prompt)
    if preview is None or not preview.fits:
        return False
    if start.submission is not None:
        start = PendingStart(start.user_id, start.channel_id, submission=preview.submission)
    token = await confirmations.hold(interaction.guild_id or 0, start)
    lang = interaction_lang(interaction)
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmButton(token, lang))
    view.add_item(DropButton(token, lang))
    await interaction.response.send_message(preview_text(preview, lang), view=view, ephemeral=True)
    return True


class ConfirmButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                    template=r"kb:confirm:(?P<token>[0-9a-f]{16})"):
    def __init__(self, token: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("confirm.button.confirm"), emoji="✅",
                                           style=discord.ButtonStyle.success, custom_id=f"kb:confirm:{token}"))
        self.token = token

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ConfirmButton:
        return cls(match["token"])

    async def callback(self, interaction: discord.Interaction) -> None:
        # Here, not at the top: cogs.video imports this module for `confirm_first`.
        from cogs.video import rerun_now, start_now

        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            assert services.confirmations is not None
            start = await services.confirmations.take(self.token, guild_id=interaction.guild_id or 0,
                                                      user_id=interaction.user.id)
            if start.submission is not None:
                await start_now(services, interaction, start.submission)
            else:
                assert start.rerun_of is not None
                await rerun_now(services, interaction, start.rerun_of, prompt=start.prompt)
        except Exception as error:
            await answer_error(interaction, error)


class DropButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=r"kb:unconfirm:(?P<token>[0-9a-f]{16})"):
    def __init__(self, token: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("confirm.button.cancel"), style=discord.ButtonStyle.secondary,
                                           custom_id=f"kb:unconfirm:{token}"))
        self.token = token

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> DropButton:
        return cls(match["token"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            if services.confirmations is not None:
                await services.confirmations.drop(self.token)
            await interaction.response.edit_message(content=interaction_lang(interaction).t("confirm.cancelled"),
                                                    view=None)
        except Exception as error:
            await answer_error(interaction, error)


BUTTONS = (ConfirmButton, DropButton)
