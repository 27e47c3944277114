"""The one place app-command errors are answered: member-facing ones privately with their message,
everything else logged with a generic apology (never a traceback or a secret in Discord)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.core.errors import UserFacingError
from bot.core.moderation import BlockedWord
from bot.discord_adapter.text import inline_code

log = logging.getLogger(__name__)

# Only for failures before anything was charged: the one generic answer. A job that was charged and then
# could not start is refunded and answered with NOT_STARTED (or NOT_REFUNDED when even the refund failed).
APOLOGY = "Something went wrong on our side and nothing was charged. Please try again in a moment."
NOT_STARTED = ("Your video was not started: Discord did not take the bot's status message. "
               "Nothing was charged; please try again in a moment.")
NOT_REFUNDED = ("Your video was not started, but something went wrong on our side while giving your credits "
                "back. Ask a moderator to check job {job_id} in `/quota history`.")


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    try:
        if interaction.response.is_done():
            if not interaction.is_expired():
                await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.info("could not tell the member about an error (%s)", exc)


async def handle_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    await answer_error(interaction, error)


async def answer_error(interaction: discord.Interaction, error: Exception) -> None:
    """Answer any error from a command, button or modal."""
    original = getattr(error, "original", error)
    if isinstance(original, BlockedWord):  # the entry is a moderator's text: shown so it cannot format anything
        await reply_privately(interaction, BlockedWord.TEMPLATE.format(word=inline_code(original.word)))
    elif isinstance(original, UserFacingError):
        await reply_privately(interaction, str(original))
    elif isinstance(error, app_commands.CheckFailure):
        await reply_privately(interaction, str(error) or "You are not allowed to use this command here.")
    elif isinstance(error, app_commands.TransformerError):
        await reply_privately(interaction, f"`{error.value}` is not a valid value for this option.")
    else:
        source = interaction.command.qualified_name if interaction.command else interaction.data
        log.error("interaction %s failed", source, exc_info=original)
        await reply_privately(interaction, APOLOGY)
