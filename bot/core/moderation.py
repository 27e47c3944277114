"""Moderation: who is a moderator, the prompt blocklist, the channels where /video may be used, and the channels
whose results are posted as spoilers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core import text_match
from bot.core.errors import InvalidRequest, NotAllowed
from bot.core.messages import Message, english_names
from bot.core.ports.repositories import GuildSettings, GuildSettingsRepository

log = logging.getLogger(__name__)

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
WORD_LIMIT = 100  # characters in one blocklist entry
BLOCKLIST_LIMIT = 500  # entries per server

NOT_A_MODERATOR_MESSAGE = Message("error.not_a_moderator")
__getattr__ = english_names(__name__, {"NOT_A_MODERATOR": NOT_A_MODERATOR_MESSAGE})


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
    """The form a blocklist entry is stored and shown in (case folded, invisible characters removed, runs of
    spaces as one). Entries are compared through `text_match`, which also folds look-alike letters."""
    return text_match.tidy(word)


def find_blocked_word(text: str, words: Iterable[str]) -> str | None:
    """The first blocklist entry that appears in `text` as a whole word (or whole phrase), whatever the case,
    look-alike letters or invisible characters: `cat` matches "A Cat!", also with a zero-width space inside or
    a Cyrillic "a", but not "category"."""
    return text_match.first_whole_match(text, text_match.keyed(tuple(words)))


class BlockedWord(NotAllowed):
    """A prompt holds a blocklist entry. `word` is the entry as stored, for the Discord side to show safely."""

    KEY = "error.blocked_word"  # its {word}: the entry in a code span (bot/discord_adapter/errors.py)

    def __init__(self, word: str) -> None:
        super().__init__(self.KEY, word=f"`{word}`")
        self.word = word


def channel_refusal(channel_id: int, allowed: tuple[int, ...]) -> Message | None:
    """Why /video may not be used in this channel, or None when it may."""
    if not allowed or channel_id in allowed:
        return None
    return Message("error.video_channels", {"channels": ", ".join(f"<#{c}>" for c in allowed)})


class ModerationService:
    """Per-server rules that apply before anything is charged, and the settings moderators change."""

    def __init__(self, guilds: GuildSettingsRepository) -> None:
        self.guilds = guilds

    async def check_submission(self, guild_id: int, channel_id: int, texts: Iterable[str | None]) -> None:
        """Raise NotAllowed when the channel is not a video channel or a text holds a blocked word."""
        settings = await self.guilds.get(guild_id)
        refusal = channel_refusal(channel_id, settings.video_channels)
        if refusal:
            raise NotAllowed(refusal)
        entries = text_match.keyed(settings.blocked_words)  # cached while the list does not change
        for text in texts:
            word = text_match.first_whole_match(text or "", entries)
            if word is not None:
                raise BlockedWord(word)

    async def is_moderator(self, actor: Actor) -> bool:
        if actor.permissions & (MANAGE_GUILD | ADMINISTRATOR):
            return True  # no database read for the common case
        return is_moderator(actor, (await self.guilds.get(actor.guild_id)).mod_role_id)

    async def require_moderator(self, actor: Actor) -> None:
        if not await self.is_moderator(actor):
            raise NotAllowed(NOT_A_MODERATOR_MESSAGE)

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self.guilds.get(guild_id)

    # -- blocklist ---------------------------------------------------------------------------------
    async def block_word(self, actor: Actor, word: str) -> tuple[str, bool]:
        """Add a word or phrase; returns it normalized, and False when it (or an entry that blocks exactly
        the same prompts, such as a look-alike spelling) was already listed."""
        await self.require_moderator(actor)
        normalized = _checked_word(word)
        listed = (await self.guilds.get(actor.guild_id)).blocked_words
        same = _same_entries(listed, normalized)
        if same:
            return same[0], False
        if len(listed) >= BLOCKLIST_LIMIT:
            raise InvalidRequest("error.blocklist_full", limit=BLOCKLIST_LIMIT)
        added = await self.guilds.add_blocked_word(actor.guild_id, normalized)
        log.info("guild %s: %s blocked %r", actor.guild_id, actor.user_id, normalized)
        return normalized, added

    async def unblock_word(self, actor: Actor, word: str) -> tuple[str, bool]:
        """Remove a word or phrase, however it is spelled: every entry that blocks the same prompts goes."""
        await self.require_moderator(actor)
        normalized = _checked_word(word)
        listed = (await self.guilds.get(actor.guild_id)).blocked_words
        removed = False
        for entry in _same_entries(listed, normalized) or (normalized,):
            removed = await self.guilds.remove_blocked_word(actor.guild_id, entry) or removed
        log.info("guild %s: %s unblocked %r", actor.guild_id, actor.user_id, normalized)
        return normalized, removed

    # -- channels ----------------------------------------------------------------------------------
    async def allow_channel(self, actor: Actor, channel_id: int) -> bool:
        await self.require_moderator(actor)
        added = await self.guilds.add_video_channel(actor.guild_id, channel_id)
        log.info("guild %s: %s allowed /video in %s", actor.guild_id, actor.user_id, channel_id)
        return added

    async def remove_channel(self, actor: Actor, channel_id: int) -> bool:
        await self.require_moderator(actor)
        removed = await self.guilds.remove_video_channel(actor.guild_id, channel_id)
        log.info("guild %s: %s removed %s from the video channels", actor.guild_id, actor.user_id, channel_id)
        return removed

    async def set_spoiler_channel(self, actor: Actor, channel_id: int, spoiler: bool) -> bool:
        """Results posted in this channel are spoilers (or no longer); False when that was already so."""
        await self.require_moderator(actor)
        changed = await self.guilds.set_spoiler_channel(actor.guild_id, channel_id, spoiler)
        log.info("guild %s: %s set spoiler results %s in %s", actor.guild_id, actor.user_id,
                 "on" if spoiler else "off", channel_id)
        return changed

    async def is_spoiler_channel(self, guild_id: int, channel_id: int) -> bool:
        return channel_id in (await self.guilds.get(guild_id)).spoiler_channels

    # -- moderator role ----------------------------------------------------------------------------
    async def set_mod_role(self, actor: Actor, role_id: int | None) -> None:
        await self.require_moderator(actor)
        if role_id == actor.guild_id:  # Discord gives @everyone the server's id
            raise InvalidRequest("error.modrole_everyone")
        await self.guilds.set_mod_role(actor.guild_id, role_id)
        log.info("guild %s: %s set the moderator role to %s", actor.guild_id, actor.user_id, role_id)


def _same_entries(listed: tuple[str, ...], word: str) -> tuple[str, ...]:
    """The listed entries that block exactly what `word` blocks (entries stored before look-alikes were folded
    may differ in spelling)."""
    key = text_match.match_key(word)
    return tuple(entry for entry, entry_key in text_match.keyed(listed) if entry_key == key)


def _checked_word(word: str) -> str:
    normalized = normalize_word(word)
    if not normalized or not text_match.match_key(normalized):
        raise InvalidRequest("error.blocklist_empty_word")
    if len(normalized) > WORD_LIMIT:
        raise InvalidRequest("error.blocklist_word_too_long", limit=WORD_LIMIT)
    return normalized
