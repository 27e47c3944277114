"""The Continue button under a result: the clip's last frame starts the next clip, with a prompt from a form.

Anyone who may use `/video` in the channel may continue anyone's clip (a scene is built together), charged to
whoever continues it, with `/video`'s own checks: the engine's `continue_from` goes through the one submit
path. The button and its form carry the job id in their custom ids, so both keep working after a restart.
Offered only where the provider can start a video from an image (bot/core/continuing.py).
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.core.continuing import continuable
from bot.core.jobs import PROMPT_LIMIT
from bot.core.models import Job
from bot.discord_adapter.allowed_guilds import AllowedServersOnly
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.errors import answer_error
from bot.discord_adapter.modal_routes import FormValues, send_form
from bot.i18n import EN, Lang, interaction_lang
from cogs.video import RESULT_BUTTONS, _status_sender, _told_if_not_started

CONTINUED = r"kb:continued:(?P<job_id>[0-9a-f]{16})"


class ContinueButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                     template=r"kb:continue:(?P<job_id>[0-9a-f]{16})"):
    """Opens the Continue form, after checking the clip's last frame is still kept (else a private answer
    saying why, nothing charged)."""

    def __init__(self, job_id: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("button.continue"), emoji="⏭️",
                                           style=discord.ButtonStyle.secondary, custom_id=f"kb:continue:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ContinueButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            job = await services.engine.ready_to_continue(self.job_id, guild_id=interaction.guild_id or 0)
            await send_form(interaction, ContinueModal(job, interaction_lang(interaction)))
        except Exception as error:
            await answer_error(interaction, error)


class ContinueModal(AllowedServersOnly, discord.ui.Modal):
    """The Continue form: the prompt for the next clip, empty, in the language of the member who opens it.
    Answered by `continue_submitted`, routed by its custom id (bot/discord_adapter/modal_routes.py), so a form
    opened before a restart works after it."""

    def __init__(self, job: Job, lang: Lang = EN) -> None:
        super().__init__(title=lang.t("continue.form.title", job_id=job.id), custom_id=f"kb:continued:{job.id}")
        self.prompt: discord.ui.TextInput[ContinueModal] = discord.ui.TextInput(
            label=lang.t("continue.form.prompt"), style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT,
            custom_id="prompt", placeholder=lang.t("continue.form.prompt_hint"))
        self.add_item(self.prompt)


async def continue_submitted(interaction: discord.Interaction, match: re.Match[str], values: FormValues) -> None:
    services: Services = interaction.client.services  # type: ignore[attr-defined]
    prompt = values.get("prompt")
    await _told_if_not_started(interaction, services.engine.continue_from(
        match["job_id"], _status_sender(interaction), guild_id=interaction.guild_id or 0,
        user_id=interaction.user.id, channel_id=interaction.channel_id or 0,
        prompt=prompt if isinstance(prompt, str) else ""))


def continue_button(job: Job, lang: Lang) -> discord.ui.Item[Any]:
    return ContinueButton(job.id, lang)


class ContinueCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.offered = continuable(bot.services.capabilities)

    async def cog_load(self) -> None:
        if self.offered:  # a provider without image input shows no button; older ones answer that it cannot be done
            RESULT_BUTTONS.append(continue_button)
        self.bot.add_dynamic_items(ContinueButton)
        self.bot.modal_routes.add(CONTINUED, continue_submitted)

    async def cog_unload(self) -> None:
        if continue_button in RESULT_BUTTONS:
            RESULT_BUTTONS.remove(continue_button)
        self.bot.remove_dynamic_items(ContinueButton)
        self.bot.modal_routes.remove(CONTINUED)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(ContinueCog(bot))
