"""`/help`: privately, what the bot does, the member's credits, and how to write a good prompt."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.ports.provider import Capabilities
from bot.discord_adapter import render_quotas
from bot.discord_adapter.checks import actor_of
from bot.discord_adapter.client import KlingBot, Services
from bot.i18n import EN, Lang, interaction_lang

# The /help text: one catalogue entry a line, so a translator sees each on its own.
PROMPT_TIPS = ("help.tips.title", "help.tips.who", "help.tips.camera", "help.tips.one_scene", "help.tips.picture")


def what_it_does(caps: Capabilities, lang: Lang = EN) -> str:
    durations = lang.t("common.list_separator").join(str(d) for d in caps.durations)
    lines = [lang.t("help.intro"), lang.t("help.video", durations=durations)]
    if caps.image_input:
        lines.append(lang.t("help.picture"))
    lines += creative_lines(caps, lang)
    lines += [lang.t("help.buttons"), lang.t("help.settings"), lang.t("help.jobs")]
    return "\n".join(lines)


def creative_lines(caps: Capabilities, lang: Lang = EN) -> list[str]:
    """The creative options, each only where the provider has it."""
    lines = []
    if caps.end_image:
        lines.append(lang.t("help.end_image"))
    if caps.audio:
        lines.append(lang.t("help.audio"))
    if caps.camera is not None:
        low, high = caps.camera.strengths
        lines.append(lang.t("help.camera", low=low, high=high))
    if caps.storyboard is not None:
        lines.append(lang.t("help.storyboard", shots=caps.storyboard.max_shots))
    return lines


def prompt_tips(lang: Lang = EN) -> str:
    return "\n".join(lang.t(key) for key in PROMPT_TIPS)


class HelpCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.services: Services = bot.services

    @app_commands.command(name="help", description="What this bot does, your credits, and prompt tips")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def help(self, interaction: discord.Interaction) -> None:
        balance = await self.services.quotas.show(actor_of(interaction))
        policy, caps = self.services.quotas.policy, self.services.capabilities
        lang = interaction_lang(interaction)
        credits = render_quotas.balance_text(balance, own=True, multipliers=policy.multipliers,
                                             audio_multiplier=policy.audio_multiplier if caps.audio else None,
                                             lang=lang)
        text = "\n\n".join((what_it_does(self.services.capabilities, lang), credits, prompt_tips(lang)))
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(HelpCog(bot))
