"""The message catalogue: every member-facing text, per language, in one TOML file per locale.

TOML rather than JSON because a translator reads only the file: TOML keeps a comment next to each entry (what
the text is for, where it shows), JSON cannot; Python reads it with the standard library (tomllib). Each file
is a flat table: "key" = "text with {named} placeholders" (str.format fields; `{count:,}` groups digits).

Discord locales map onto catalogue locales: English variants to en-US, es-419 (Latin American Spanish) to es-ES,
and zh-TW (Traditional Chinese) to English: Simplified characters are not what a Traditional Chinese reader
expects, and English is the honest default until a zh-TW catalogue ships. Unknown or missing locales get
English, and so does a key a translation lacks (tests/unit/test_catalogue.py keeps any from shipping).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from string import Formatter
from typing import Any

from bot.core.messages import Choices, Message

ENGLISH = "en-US"
# The catalogues the bot ships: one file per locale in LOCALES_DIR, `<locale>.toml`. Add a locale here when its
# file lands; tests/unit/test_catalogue.py checks this list against the files and each file against English.
SHIPPED_LOCALES: tuple[str, ...] = ("en-US", "zh-CN", "es-ES", "pt-BR", "de", "ja", "ru")
# Every locale the project translates into (Discord's codes); the ones not shipped yet are English for now.
PLANNED_LOCALES: tuple[str, ...] = ("en-US", "zh-CN", "es-ES", "pt-BR", "de", "ja", "ru")
LOCALES_DIR = Path(__file__).with_name("locales")
# Discord locales that read another catalogue's language (see the module docstring).
ALIASES: dict[str, str] = {"en-GB": ENGLISH, "es-419": "es-ES", "zh-TW": ENGLISH}


KEY_SHAPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")


class MissingMessage(KeyError):
    """A key no catalogue holds: a typo in the code (tests/unit/test_catalogue.py finds these first)."""


def placeholders(text: str) -> set[str]:
    """The names of the `{placeholders}` of a text ("{count:,}" -> "count")."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in Formatter().parse(text) if name}


def load_file(path: Path) -> dict[str, str]:
    with path.open("rb") as file:
        entries = tomllib.load(file)
    wrong = [key for key, value in entries.items() if not isinstance(value, str)]
    if wrong:
        raise ValueError(f"{path.name}: not a flat table of texts (quote dotted keys): {', '.join(wrong[:5])}")
    return entries


class Catalogue:
    """The texts of every locale found in `folder` (`<locale>.toml`), English required."""

    def __init__(self, folder: Path = LOCALES_DIR) -> None:
        self.folder = folder
        self.texts: dict[str, dict[str, str]] = {
            path.stem: load_file(path) for path in sorted(folder.glob("*.toml"))
        }
        if ENGLISH not in self.texts:
            raise FileNotFoundError(f"{folder / (ENGLISH + '.toml')} is missing: English is every text's fallback")
        self.english = self.texts[ENGLISH]

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def language(self, locale: object) -> str:
        """The catalogue locale a Discord locale (a `discord.Locale` or its code; None) reads."""
        code = str(getattr(locale, "value", locale) or ENGLISH)
        code = ALIASES.get(code, code)
        return code if code in self.texts else ENGLISH

    def discord_locales(self, language: str) -> tuple[str, ...]:
        """The Discord locales that read `language` (itself and its aliases)."""
        return (language, *(alias for alias, target in ALIASES.items() if target == language))

    def template(self, locale: object, key: str) -> str:
        language = self.language(locale)
        text = self.texts[language].get(key)
        if text is None:
            text = self.english.get(key)
            if text is None:
                raise MissingMessage(key)
        return text

    def has(self, language: str, key: str) -> bool:
        return key in self.texts.get(language, {})

    def text(self, locale: object, key: str, params: Mapping[str, Any] | None = None) -> str:
        """The text of `key` in `locale`, its placeholders filled. Parameters that are messages or choices are
        rendered in the same locale; member text must come escaped already (bot/discord_adapter/text.py)."""
        template = self.template(locale, key)
        if not params:
            return template if "{" not in template else template.format()
        return template.format(**{name: self._value(locale, value) for name, value in params.items()})

    def render(self, message: Message, locale: object = ENGLISH) -> str:
        if message.key not in self.english and not KEY_SHAPE.fullmatch(message.key):
            # A sentence raised as it is (`InvalidRequest("Some English words.")`), from code not converted to
            # the catalogue yet: shown as written, in English. A key-shaped typo still raises MissingMessage.
            return message.key
        return self.text(locale, message.key, message.params)

    def _value(self, locale: object, value: Any) -> Any:
        if isinstance(value, Message):
            return self.render(value, locale)
        if isinstance(value, Choices):
            items = list(value.items)
            if len(items) < 2:
                return "".join(items)
            return self.text(locale, "common.choices", {"first": self.text(locale, "common.list_separator").join(
                items[:-1]), "last": items[-1]})
        return value
