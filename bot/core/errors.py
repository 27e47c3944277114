"""Errors a member sees, and plain words for what went wrong at the provider.

The words are catalogue messages (bot/core/messages.py): the edge shows them in the member's language;
`str(error)` is English, for logs and the admin CLI."""

from __future__ import annotations

from typing import Any

from bot.core.messages import Message
from bot.core.ports.provider import ErrorKind


class UserFacingError(Exception):
    """Bad input or a refusal: shown to the member privately, nothing charged, nothing submitted.
    Raised with a catalogue key and its parameters (`InvalidRequest("error.prompt_empty")`) or a `Message`."""

    def __init__(self, message: Message | str, /, **params: Any) -> None:
        self.message = message if isinstance(message, Message) else Message(message, params)
        super().__init__(self.message.key)

    def __str__(self) -> str:
        return str(self.message)


class InvalidRequest(UserFacingError):
    pass


class NotAllowed(UserFacingError):
    pass


class QuotaExceeded(UserFacingError):
    pass


# The catalogue key of each kind's plain words (bot/i18n/locales/en-US.toml).
MEMBER_WORDS: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "provider.invalid_request",
    ErrorKind.CONTENT_BLOCKED: "provider.content_blocked",
    ErrorKind.INSUFFICIENT_CREDITS: "provider.insufficient_credits",
    ErrorKind.RATE_LIMITED: "provider.rate_limited",
    ErrorKind.PROVIDER_DOWN: "provider.down",
    ErrorKind.MISCONFIGURED: "provider.misconfigured",
    ErrorKind.NOT_FOUND: "provider.not_found",
    ErrorKind.GENERATION_FAILED: "provider.generation_failed",
}


def explain(kind: ErrorKind, detail: str | None = None) -> Message:
    """One sentence a member understands. Only provider details that help the member are included:
    validation messages and failure codes, never anything about the account."""
    words = Message(MEMBER_WORDS[kind])
    if detail and kind in (ErrorKind.INVALID_REQUEST, ErrorKind.GENERATION_FAILED, ErrorKind.CONTENT_BLOCKED):
        return Message("provider.words_with_detail", {"words": words, "detail": detail[:300]})
    return Message("provider.words", {"words": words})
