"""One reading, for every adapter, of a provider's words about a refusal or a failure: does it say the
content was blocked (a filter, a safety or moderation rule), or that the generation itself failed?

Providers word this freely ("risk control", "NSFW", "RAI filtered", "content policy violation"), so the
test is a list of stems; one list, so that a word learnt from one provider helps with the others.
"""

from __future__ import annotations

import re

from bot.core.ports.provider import ErrorKind

BLOCKED_WORDS = re.compile(
    r"\brai\b|risk|nsfw|content|safety|moderat|policy|blocked|sensitive|violat|prohibit", re.IGNORECASE
)


def says_blocked(text: str | None) -> bool:
    return bool(text) and BLOCKED_WORDS.search(text or "") is not None


def failure_kind(text: str | None) -> ErrorKind:
    """A failed job: blocked content, or a generation that failed."""
    return ErrorKind.CONTENT_BLOCKED if says_blocked(text) else ErrorKind.GENERATION_FAILED
