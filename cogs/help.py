"""`/help`: privately, what the bot does, the member's credits, and how to write a good prompt."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.ports.provider import Capabilities
from bot.discord_adapter import render_quotas
from bot.discord_adapter.checks import actor_of
from bot.discord_adapter.client import KlingBot, Services

PROMPT_TIPS = (
    "**Prompt tips**\n"
    "- Say who or what is in the shot, what happens, and where: *a red fox trots through fresh snow at dawn*.\n"
    "- Add the camera and the light: *slow dolly-in, low angle, golden hour, soft mist*.\n"
    "- One scene per video works best; a short clip has room for one action.\n"
    "- Starting from a picture? Describe the motion, not the picture: *the waves roll in, hair moves in the wind*."
)


def what_it_does(caps: Capabilities) -> str:
    durations = ", ".join(str(d) for d in caps.durations)
    lines = [
        "**Kling video bot**: short AI videos, made for you and posted in the channel.",
        f"- `/video`: describe a video ({durations} seconds). The bot posts its progress, then the video.",
    ]
    if caps.image_input:
        lines.append("- Attach a picture to `/video`, or right-click any message with a picture → "
                     "**Apps → Animate with Kling**, to bring it to life.")
    lines += [
        "- Under a finished video: **Re-roll** makes another take, **Remix** changes the prompt, **Details** "
        "shows everything about it and the `/video` line that makes it again. **Cancel** on a waiting video "
        "takes it out of the queue, refunded.",
        "- `/settings`: your defaults for `/video` (and videos by direct message). `/queue`: what is being made "
        "and when yours should start.",
        "- `/jobs`: your recent videos. `/show`: post one of yours again. `/quota show`: your credits.",
    ]
    return "\n".join(lines)


class HelpCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.services: Services = bot.services

    @app_commands.command(name="help", description="What this bot does, your credits, and prompt tips")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def help(self, interaction: discord.Interaction) -> None:
        balance = await self.services.quotas.show(actor_of(interaction))
        credits = render_quotas.balance_text(balance, own=True, multipliers=self.services.quotas.policy.multipliers)
        text = "\n\n".join((what_it_does(self.services.capabilities), credits, PROMPT_TIPS))
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(HelpCog(bot))
