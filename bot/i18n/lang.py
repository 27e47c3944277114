"""A language to write in: the interaction's locale for replies, the server's preferred locale for posts.

The process has one active catalogue (the shipped files unless `activate` names another folder's, as tests
of other languages do); a `Lang` looks its texts up there when it renders, so module-level defaults such as
`EN` follow whichever catalogue is active."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import discord

from bot.core.messages import Message
from bot.i18n.catalogue import ENGLISH, Catalogue

_active: Catalogue | None = None


@cache
def _shipped() -> Catalogue:
    return Catalogue()


def active() -> Catalogue:
    return _active if _active is not None else _shipped()


def activate(catalogue: Catalogue | None) -> None:
    """Use `catalogue` from now on (None: the shipped one again)."""
    global _active
    _active = catalogue


@dataclass(frozen=True, slots=True)
class Lang:
    """Texts in one Discord locale (falling back to English where the catalogue has no such language)."""

    locale: str = ENGLISH

    @property
    def language(self) -> str:
        """The catalogue language these texts come from (en-US where none matches the locale)."""
        return active().language(self.locale)

    def t(self, key: str, /, **params: Any) -> str:
        return active().text(self.locale, key, params)

    def template(self, key: str) -> str:
        """The text with its placeholders unfilled."""
        return active().template(self.locale, key)

    def render(self, message: Message) -> str:
        return active().render(message, self.locale)


EN = Lang(ENGLISH)


def interaction_lang(interaction: discord.Interaction[Any]) -> Lang:
    """For a reply to the member who interacted: their Discord client's language."""
    return Lang(str(interaction.locale.value if interaction.locale else ENGLISH))


def guild_lang(guild: discord.Guild | None) -> Lang:
    """For posts everyone in a server sees: the server's preferred locale (English outside a server)."""
    if guild is None:
        return EN
    return Lang(str(guild.preferred_locale.value))


def interaction_guild_lang(interaction: discord.Interaction[Any]) -> Lang:
    """For a public post made in answer to an interaction: the server's language, not the member's."""
    locale = interaction.guild_locale
    return Lang(str(locale.value)) if locale is not None else guild_lang(interaction.guild)
