"""Moderation: who is a moderator, the prompt blocklist, and the channels where /video may be used."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.errors import InvalidRequest, NotAllowed
from storage.guild_settings import GuildSettings, GuildSettingsStore

log = logging.getLogger(__name__)

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
WORD_LIMIT = 100  # characters in one blocklist entry
BLOCKLIST_LIMIT = 500  # entries per server

NOT_A_MODERATOR = (
    "Only moderators can do this: members with the Manage Server permission, or with the moderator role "
    "set by `/moderation modrole`."
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking, as Discord describes them: their permission bits and role ids in the server."""

    guild_id: int
    user_id: int
    permissions: int
    role_ids: frozenset[int] = frozenset()


def is_moderator(actor: Actor, mod_role_id: int | None) -> bool:
    """Manage Server (or Administrator, which implies it), or the server's moderator role."""
    if actor.permissions & (MANAGE_GUILD | ADMINISTRATOR):
        return True
    return mod_role_id is not None and mod_role_id in actor.role_ids


def normalize_word(word: str) -> str:
    """Blocklist entries are compared case-insensitively, with runs of spaces as one."""
    return " ".join(word.split()).casefold()


def find_blocked_word(text: str, words: Iterable[str]) -> str | None:
    """The first blocklist entry that appears in `text` as a whole word (or whole phrase), ignoring case:
    `cat` matches "A Cat!" but not "category"."""
    folded = " ".join(text.split()).casefold()
    for word in words:
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded):
            return word
    return None


def channel_refusal(channel_id: int, allowed: tuple[int, ...]) -> str | None:
    """Why /video may not be used in this channel, or None when it may."""
    if not allowed or channel_id in allowed:
        return None
    return f"Videos can be made in {', '.join(f'<#{c}>' for c in allowed)}."


class ModerationService:
    """Per-server rules that apply before anything is charged, and the settings moderators change."""

    def __init__(self, guilds: GuildSettingsStore) -> None:
        self.guilds = guilds

    async def check_submission(self, guild_id: int, channel_id: int, texts: Iterable[str | None]) -> None:
        """Raise NotAllowed when the channel is not a video channel or a text holds a blocked word."""
        settings = await self.guilds.get(guild_id)
        refusal = channel_refusal(channel_id, settings.video_channels)
        if refusal:
            raise NotAllowed(refusal)
        for text in texts:
            word = find_blocked_word(text or "", settings.blocked_words)
            if word is not None:
                raise NotAllowed(f"Your prompt contains a blocked word: `{word}`.")

    async def is_moderator(self, actor: Actor) -> bool:
        if actor.permissions & (MANAGE_GUILD | ADMINISTRATOR):
            return True  # no database read for the common case
        return is_moderator(actor, (await self.guilds.get(actor.guild_id)).mod_role_id)

    async def require_moderator(self, actor: Actor) -> None:
        if not await self.is_moderator(actor):
            raise NotAllowed(NOT_A_MODERATOR)

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self.guilds.get(guild_id)

    # -- blocklist ---------------------------------------------------------------------------------
    async def block_word(self, actor: Actor, word: str) -> tuple[str, bool]:
        """Add a word or phrase; returns it normalized, and False when it was already listed."""
        normalized = _checked_word(word)
        if len((await self.guilds.get(actor.guild_id)).blocked_words) >= BLOCKLIST_LIMIT:
            raise InvalidRequest(f"The blocklist is full ({BLOCKLIST_LIMIT} entries). Remove some first.")
        added = await self.guilds.add_blocked_word(actor.guild_id, normalized)
        log.info("guild %s: %s blocked %r", actor.guild_id, actor.user_id, normalized)
        return normalized, added

    async def unblock_word(self, actor: Actor, word: str) -> tuple[str, bool]:
        normalized = _checked_word(word)
        removed = await self.guilds.remove_blocked_word(actor.guild_id, normalized)
        log.info("guild %s: %s unblocked %r", actor.guild_id, actor.user_id, normalized)
        return normalized, removed

    # -- channels ----------------------------------------------------------------------------------
    async def allow_channel(self, actor: Actor, channel_id: int) -> bool:
        added = await self.guilds.add_video_channel(actor.guild_id, channel_id)
        log.info("guild %s: %s allowed /video in %s", actor.guild_id, actor.user_id, channel_id)
        return added

    async def remove_channel(self, actor: Actor, channel_id: int) -> bool:
        removed = await self.guilds.remove_video_channel(actor.guild_id, channel_id)
        log.info("guild %s: %s removed %s from the video channels", actor.guild_id, actor.user_id, channel_id)
        return removed

    # -- moderator role ----------------------------------------------------------------------------
    async def set_mod_role(self, actor: Actor, role_id: int | None) -> None:
        if role_id == actor.guild_id:  # Discord gives @everyone the server's id
            raise InvalidRequest("@everyone cannot be the moderator role: every member would be a moderator.")
        await self.guilds.set_mod_role(actor.guild_id, role_id)
        log.info("guild %s: %s set the moderator role to %s", actor.guild_id, actor.user_id, role_id)


def _checked_word(word: str) -> str:
    normalized = normalize_word(word)
    if not normalized:
        raise InvalidRequest("Give a word or phrase to block.")
    if len(normalized) > WORD_LIMIT:
        raise InvalidRequest(f"A blocklist entry can be at most {WORD_LIMIT} characters long.")
    return normalized
