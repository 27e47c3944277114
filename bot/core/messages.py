"""Member-facing words as data: a catalogue key and its named parameters, turned into text at the edge.

The core decides *what* to tell a member; the edge (bot/i18n) decides how it reads in the member's language.
A `Message` carries the key of a catalogue entry (bot/i18n/locales/en-US.toml) and the values of its
`{placeholders}`. A value may be plain (a number, a word), another `Message` (rendered in the same language:
"Resets in {wait}." with the wait in words) or `Choices` (joined with the language's "or": "5, 10 or 15").

`str(message)` is English, through the renderer the edge installs when bot/i18n is imported (every entry point
imports it: the bot, the admin CLI, the tests), so logs, the stored failure reason, the admin CLI and
`str(error)` read as they always did. Without an installed renderer (a script using only the core) `str` shows
the key and its parameters: honest, if not pretty. Failure reasons are stored as both: the English text
(`Job.last_error`, for the admin CLI and the ledger) and the message itself (`Job.failure`, JSON through
`to_json`/`from_json`), so a status message can show the reason in its server's language.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Choices:
    """Values a member may choose from, shown as "5, 10 or 15" in the member's language."""

    items: tuple[str, ...]

    @classmethod
    def of(cls, values: Iterable[object]) -> Choices:
        return cls(tuple(str(value) for value in values))


@dataclass(frozen=True, slots=True)
class Message:
    """One catalogue entry to show, with the values of its placeholders."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return _english(self)


def msg(key: str, **params: Any) -> Message:
    return Message(key, params)


def _unrendered(message: Message) -> str:
    params = ", ".join(f"{name}={value}" for name, value in message.params.items())
    return f"{message.key}({params})" if params else message.key


_english: Callable[[Message], str] = _unrendered


def install_english(render: Callable[[Message], str]) -> None:
    """The edge's English renderer, used by `str(message)` everywhere in the process."""
    global _english
    _english = render


def to_json(message: Message) -> str:
    """For storage: a message and its parameters (nested messages and choices included) as JSON."""
    return json.dumps(_encode(message), ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Message:
    decoded = _decode(json.loads(text))
    if not isinstance(decoded, Message):
        raise ValueError("not a stored message")
    return decoded


def _encode(value: Any) -> Any:
    if isinstance(value, Message):
        return {"key": value.key, "params": {name: _encode(v) for name, v in value.params.items()}}
    if isinstance(value, Choices):
        return {"choices": list(value.items)}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "key" in value:
        return Message(value["key"], {name: _decode(v) for name, v in value.get("params", {}).items()})
    if isinstance(value, dict) and "choices" in value:
        return Choices(tuple(value["choices"]))
    return value


def english_names(module: str, names: Mapping[str, Message]) -> Callable[[str], str]:
    """A module-level `__getattr__` that gives the English text of a module's messages under their constant
    names, for code and tests that compare texts (`NOT_YOURS == reply`); the module itself raises the
    messages, so a member reads them in their language."""

    def __getattr__(name: str) -> str:
        if name in names:
            return str(names[name])
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
