"""ALLOWED_GUILD_IDS: only the operator's servers may spend the provider account.

Anyone can add a public bot to their own server and become its moderator there, so the list is enforced
twice: the bot leaves any other server as soon as the gateway shows it (start-up and joins), and every
interaction from elsewhere (commands, autocomplete, buttons, modals) is refused before its callback runs,
in case a leave failed or an interaction arrives first.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord

from bot.discord_adapter.errors import reply_privately
from bot.i18n import EN, interaction_lang

log = logging.getLogger(__name__)

NOT_ENABLED_KEY = "guilds.not_enabled"
NOT_ENABLED_OUTSIDE_SERVERS_KEY = "guilds.not_enabled_outside_servers"
NOT_ENABLED = EN.t(NOT_ENABLED_KEY)  # the English text, for tests and logs


def is_allowed(allowed: frozenset[int], guild_id: int | None) -> bool:
    """An empty list allows every server; a set list allows only its servers (and no DMs)."""
    return not allowed or (guild_id is not None and guild_id in allowed)


def allowed_of(client: Any) -> frozenset[int]:
    settings = getattr(client, "settings", None)
    return frozenset(getattr(settings, "allowed_guild_ids", frozenset()))


async def allowed_here(interaction: discord.Interaction[Any]) -> bool:
    """True when the interaction comes from an allowed server; otherwise answers it with a private refusal
    (an empty list for autocomplete) and returns False, so nothing runs, is charged or is submitted."""
    if is_allowed(allowed_of(interaction.client), interaction.guild_id):
        return True
    log.info("refused an interaction from server %s (user %s): not on ALLOWED_GUILD_IDS",
             interaction.guild_id, interaction.user.id)
    if interaction.type is discord.InteractionType.autocomplete:
        if not interaction.response.is_done():
            try:
                await interaction.response.autocomplete([])
            except discord.HTTPException as exc:
                log.info("could not answer an autocomplete from a server that is not allowed (%s)", exc)
        return False
    key = NOT_ENABLED_KEY if interaction.guild_id is not None else NOT_ENABLED_OUTSIDE_SERVERS_KEY
    await reply_privately(interaction, interaction_lang(interaction).t(key))
    return False


class AllowedServersOnly:
    """Mixin for every button, select and modal of the bot (first among the bases): discord.py calls
    `interaction_check` before the callback and drops the interaction when it returns False."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        return await allowed_here(interaction)


async def leave_unless_allowed(client: discord.Client, guild: discord.Guild, *, when: str) -> bool:
    """Leave `guild` if it is not on the list; True when it left. `when` says why we are looking ("at
    start-up", "on joining") for the log."""
    allowed = allowed_of(client)
    if is_allowed(allowed, guild.id):
        return False
    log.warning("leaving server %s (%r) %s: it is not on ALLOWED_GUILD_IDS", guild.id, guild.name, when)
    try:
        await guild.leave()
    except discord.NotFound:
        return True  # already gone
    except discord.HTTPException as exc:
        log.error("could not leave server %s (%r): %s %s; its interactions are still refused",
                  guild.id, guild.name, exc.status, exc.text)
        return False
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.error("could not leave server %s (%r): %s; its interactions are still refused",
                  guild.id, guild.name, exc.__class__.__name__)
        return False
    return True
