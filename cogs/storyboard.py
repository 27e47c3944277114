"""`/storyboard`: a multi-shot video in one generation, where the provider makes them (its capabilities say).

Discord does not let `/video` be both a command with options and a group of subcommands, so the storyboard is
its own command. Its options are the video's settings (shape, quality, sound, each only where the provider
offers a choice); the shots are written in the form it opens, one a line (`5: a cat jumps onto the table`),
since a form holds at most five inputs and a storyboard up to six shots. The form's custom id carries the
settings (bot/discord_adapter/modal_routes.py), so a form opened before a restart works after it. When the
shots cannot be used, the member gets the reason and their own text back, to fix and send again.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import UserFacingError
from bot.core.jobs import PROMPT_LIMIT, Submission
from bot.core.messages import Choices
from bot.core.ports.provider import Capabilities, StoryboardSupport
from bot.core.storyboard import EXAMPLE, parse_shots, storyboard_text
from bot.discord_adapter.built_commands import CommandOptions, Handler, server_command
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.errors import answer_error, reply_privately
from bot.discord_adapter.modal_routes import FormValues, send_form
from bot.discord_adapter.render import copyable
from bot.i18n import EN, Lang, interaction_lang
from cogs.video import start_job

STORYBOARD_FORM = r"kb:storyboard:(?P<aspect>\d{1,2}x\d{1,2}):(?P<mode>[a-z0-9]{1,8}|-):(?P<audio>[01-])"
UNSET = "-"  # an option left empty: the member's /settings default applies


def build_storyboard_command(caps: Capabilities, handler: Handler) -> app_commands.Command[Any, ..., None]:
    """`/storyboard` with the settings the provider offers a choice of."""
    options = CommandOptions()
    options.aspect_option(caps, "Shape of the video (empty: your /settings default)")
    options.mode_option(caps, "Quality (higher quality costs more credits)", lambda m: caps.mode_labels.get(m, m))
    options.audio_option(caps, "Generate sound with the video")
    return server_command("storyboard", "A video of several shots, written one a line", handler, options)


def form_id(aspect: str | None, mode: str | None, audio: bool | None) -> str:
    encoded_audio = UNSET if audio is None else str(int(audio))
    return f"kb:storyboard:{(aspect or '16:9').replace(':', 'x')}:{mode or UNSET}:{encoded_audio}"


def storyboard_form(support: StoryboardSupport, custom_id: str, lang: Lang = EN) -> discord.ui.Modal:
    form = discord.ui.Modal(title=lang.t("storyboard.form.title"), custom_id=custom_id)
    rules = lang.t("storyboard.form.rules", shots=support.max_shots, choices=Choices.of(support.totals))
    form.add_item(discord.ui.Label(text=lang.t("storyboard.form.shots"), description=rules[:100],
                                   component=discord.ui.TextInput(
                                       custom_id="shots", style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT,
                                       placeholder=lang.t("storyboard.form.example", example=EXAMPLE))))
    return form


class StoryboardCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.services: Services = bot.services
        self.support = self.services.capabilities.storyboard
        self.command = (build_storyboard_command(self.services.capabilities, self.storyboard)
                        if self.support is not None else None)

    async def cog_load(self) -> None:
        if self.command is not None:  # providers without storyboards do not offer it
            self.bot.tree.add_command(self.command)
            self.bot.modal_routes.add(STORYBOARD_FORM, self.submitted)

    async def cog_unload(self) -> None:
        if self.command is not None:
            self.bot.tree.remove_command(self.command.name)
            self.bot.modal_routes.remove(STORYBOARD_FORM)

    async def storyboard(self, interaction: discord.Interaction, options: dict[str, Any]) -> None:
        assert self.support is not None  # the command exists only then
        aspect = options.get("aspect")
        await send_form(interaction, storyboard_form(
            self.support, form_id(aspect, options.get("mode"), options.get("audio")), interaction_lang(interaction)))

    async def submitted(self, interaction: discord.Interaction, match: re.Match[str], values: FormValues) -> None:
        text = values.get("shots")
        text = text if isinstance(text, str) else ""
        audio = None if match["audio"] == UNSET else match["audio"] == "1"
        try:
            shots = parse_shots(text)
            submission = Submission(
                guild_id=interaction.guild_id or 0, channel_id=interaction.channel_id or 0,
                user_id=interaction.user.id, prompt=storyboard_text(shots), aspect=match["aspect"].replace("x", ":"),
                mode=None if match["mode"] == UNSET else match["mode"], audio=audio, shots=shots,
            )
            await start_job(self.services, interaction, submission)
        except UserFacingError as error:  # refused, nothing charged: the reason, then the member's own text back
            await answer_error(interaction, error)
            if text.strip():
                kept = interaction_lang(interaction).t("storyboard.kept")
                await reply_privately(interaction, f"{kept}\n{copyable(text)}")


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(StoryboardCog(bot))
