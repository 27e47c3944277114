"""The one place app-command errors are answered: member-facing ones privately with their message, in the
member's language (their Discord client's locale), everything else logged with a generic apology (never a
traceback or a secret in Discord)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.core.errors import UserFacingError
from bot.core.moderation import BlockedWord
from bot.discord_adapter.text import inline_code
from bot.i18n import EN, interaction_lang

log = logging.getLogger(__name__)

# Only for failures before anything was charged: the one generic answer. A job that was charged and then
# could not start is refunded and answered with NOT_STARTED (or NOT_REFUNDED when even the refund failed).
# Keys of the catalogue (bot/i18n/locales); the constants below are their English texts, for tests and logs.
APOLOGY_KEY = "error.apology"
NOT_STARTED_KEY = "error.not_started"
START_FRAME_NOT_SHOWN_KEY = "error.start_frame_not_shown"
NOT_REFUNDED_KEY = "error.not_refunded"  # {job_id}
APOLOGY = EN.t(APOLOGY_KEY)
NOT_STARTED = EN.t(NOT_STARTED_KEY)
NOT_REFUNDED = EN.template(NOT_REFUNDED_KEY)


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
    lang = interaction_lang(interaction)
    if isinstance(original, BlockedWord):  # the entry is a moderator's text: shown so it cannot format anything
        await reply_privately(interaction, lang.t(BlockedWord.KEY, word=inline_code(original.word)))
    elif isinstance(original, UserFacingError):
        await reply_privately(interaction, lang.render(original.message))
    elif isinstance(error, app_commands.CheckFailure):
        message = getattr(error, "message", None)  # the bot's own checks carry their message (checks.py)
        await reply_privately(interaction, lang.render(message) if message is not None
                              else str(error) or lang.t("error.not_allowed_here"))
    elif isinstance(error, app_commands.TransformerError):
        await reply_privately(interaction, lang.t("error.invalid_option_value", value=error.value))
    else:
        source = interaction.command.qualified_name if interaction.command else interaction.data
        log.error("interaction %s failed", source, exc_info=original)
        await reply_privately(interaction, lang.t(APOLOGY_KEY))
