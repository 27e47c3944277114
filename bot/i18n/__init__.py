"""Localization: the message catalogue (catalogue.py), the language of an interaction or a server (lang.py),
the translator of command names and descriptions (commands.py), and failure reasons read back (failures.py).

Importing this package installs the English renderer behind `str(message)` (bot/core/messages.py)."""

from __future__ import annotations

from bot.core import messages
from bot.i18n.catalogue import ENGLISH, Catalogue
from bot.i18n.lang import EN, Lang, activate, active, guild_lang, interaction_guild_lang, interaction_lang

messages.install_english(lambda message: active().render(message, ENGLISH))

__all__ = ["EN", "ENGLISH", "Catalogue", "Lang", "activate", "active", "guild_lang", "interaction_guild_lang",
           "interaction_lang"]
