"""A failure reason stored before messages were (migration 0011), read back as the message it was made from.

Jobs failed since then keep their reason as a message (`Job.failure`); older ones have only the English text
(`Job.last_error`). To show such a reason on a status message in the server's language, the text is matched
against the English templates of the reasons the core records (bot/core/lifecycle.py `fail`), and their
parameters are taken back out. A reason that matches none (older wording, another component's words) is shown
as stored: in English, never wrong."""

from __future__ import annotations

import re
from functools import cache
from string import Formatter

from bot.core.errors import MEMBER_WORDS
from bot.core.messages import Message
from bot.i18n.catalogue import ENGLISH, Catalogue
from bot.i18n.lang import active

# The reasons the core fails a job with (bot/core/engine.py, dispatcher.py, tracker.py, delivery.py, errors.py).
FAILURE_KEYS = (
    "failure.cancelled", "failure.not_started", "failure.uncertain_submit", "failure.uncertain_after_restart",
    "failure.timed_out", "failure.refused_link", "failure.refused_content", "failure.provider_switched",
    "provider.words", "provider.words_with_detail",
)
# Placeholders that hold another message: the keys they may hold.
NESTED = {"words": tuple(MEMBER_WORDS.values())}
# Placeholders that hold a mention the bot made itself: shown as a mention, everything else escaped.
MENTIONS = frozenset({"by"})


def failure_message(reason: str) -> Message | None:
    """The message `reason` (English, as stored) was made from, or None."""
    for key, pattern in _patterns(active()):
        found = pattern.fullmatch(reason)
        if found is not None:
            params: dict[str, object] = {}
            for name, value in found.groupdict().items():
                params[name] = _nested(active(), name, value) if name in NESTED else value
            return Message(key, params)
    return None


def _nested(catalogue: Catalogue, name: str, text: str) -> Message:
    for key in NESTED[name]:
        if catalogue.text(ENGLISH, key) == text:
            return Message(key)
    raise ValueError(text)  # the pattern only matches the texts above


@cache
def _patterns(catalogue: Catalogue) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((key, _pattern(catalogue, catalogue.template(ENGLISH, key))) for key in FAILURE_KEYS)


def _pattern(catalogue: Catalogue, template: str) -> re.Pattern[str]:
    parts = []
    for literal, name, _, _ in Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name in NESTED:
            texts = sorted((catalogue.text(ENGLISH, key) for key in NESTED[name]), key=len, reverse=True)
            parts.append(f"(?P<{name}>{'|'.join(map(re.escape, texts))})")
        else:
            parts.append(f"(?P<{name}>.*?)")
    return re.compile("".join(parts), re.DOTALL)
