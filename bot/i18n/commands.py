"""Command, option and choice names and descriptions in every shipped language, through discord.py's
`app_commands.Translator` (set on the tree in the client's setup_hook, before the commands are synced).

The English text in the code stays the default; each translation comes from the catalogue under a key made
from where the text sits, so the code needs no keys of its own:
  "cmd.<command path>.name" / ".description"             ("cmd.quota.show.description")
  "cmd.<command path>.option.<option>.name" / ".description"
  "menu.<menu name>.name"                                  (context menus: "menu.animate_this.name")
  choices: the key given with `locale_str(text, key=..., **params)`, else "choice.label.<text>"
           ("choice.label.standard_720p").
A language without the key gives no localization: Discord shows the English default.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n.catalogue import ENGLISH
from bot.i18n.lang import Lang, active

# What Discord accepts as a command or option name (its own pattern), and the lengths it allows.
NAME = re.compile(r"^[-_\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
NAME_LIMIT, DESCRIPTION_LIMIT, CHOICE_LIMIT = 32, 100, 100


def slug(text: str) -> str:
    """"Standard (720p)" -> "standard_720p": a key part from a name or label."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def command_path(command: Any) -> str:
    return ".".join(slug(part) for part in command.qualified_name.split())


def key_of(string: app_commands.locale_str, context: app_commands.TranslationContextTypes) -> str | None:
    """The catalogue key of a command text, from where it sits (see the module docstring)."""
    data: Any = context.data
    where = context.location
    if where in (Where.command_name, Where.command_description):
        if isinstance(data, app_commands.ContextMenu):
            return f"menu.{slug(data.name)}.name" if where is Where.command_name else None
        part = "name" if where is Where.command_name else "description"
        return f"cmd.{command_path(data)}.{part}"
    if where in (Where.group_name, Where.group_description):
        part = "name" if where is Where.group_name else "description"
        return f"cmd.{command_path(data)}.{part}"
    if where in (Where.parameter_name, Where.parameter_description):
        part = "name" if where is Where.parameter_name else "description"
        return f"cmd.{command_path(data.command)}.option.{data.name}.{part}"
    if where is Where.choice_name:
        if "key" in string.extras:
            return str(string.extras["key"])
        # A label of words ("Standard (720p)"); "16:9" and other symbols need no translation.
        return f"choice.label.{slug(string.message)}" if any(c.isalpha() for c in string.message) else None
    return None


class CatalogueTranslator(app_commands.Translator):
    """Texts for Discord's command localizations from the active catalogue (bot/i18n/lang.py)."""

    def __init__(self) -> None:
        self.asked: set[str] = set()  # every key Discord's payload asked for (the catalogue tests read it)

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        key = key_of(string, context)
        if key is None:
            return None
        self.asked.add(key)
        catalogue = active()
        language = catalogue.language(locale)
        if language == ENGLISH or not catalogue.has(language, key):
            return None  # Discord shows the English default
        params = {name: value for name, value in string.extras.items() if name != "key"}
        return catalogue.text(language, key, params)


def choice_text(lang: Lang, label: str) -> str:
    """A choice's label ("Zoom in", "Standard (720p)") where a member reads it outside a command's choice list (a
    menu, a settings line), from the same catalogue entry the Translator gives Discord; as written without one."""
    key = f"choice.label.{slug(label)}"
    return lang.t(key) if any(c.isalpha() for c in label) and active().has(ENGLISH, key) else label
