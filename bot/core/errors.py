"""Errors a member sees, and plain words for what went wrong at the provider."""

from __future__ import annotations

from bot.core.ports.provider import ErrorKind


class UserFacingError(Exception):
    """Bad input or a refusal: shown to the member privately, nothing charged, nothing submitted."""


class InvalidRequest(UserFacingError):
    pass


class NotAllowed(UserFacingError):
    pass


class QuotaExceeded(UserFacingError):
    pass


MEMBER_WORDS: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "The provider refused the request",
    ErrorKind.CONTENT_BLOCKED: "The provider's content filter blocked this prompt or image. Try rewording it",
    ErrorKind.INSUFFICIENT_CREDITS: (
        "The server's video account is out of credits. A server admin needs to top it up"
    ),
    ErrorKind.RATE_LIMITED: "The video provider is busy right now. Please try again in a few minutes",
    ErrorKind.PROVIDER_DOWN: "The video provider is not answering right now. Please try again later",
    ErrorKind.MISCONFIGURED: (
        "The bot's provider account is misconfigured, so nothing could be generated. "
        "The bot's operator has been told"
    ),
    ErrorKind.NOT_FOUND: "The provider lost track of this job",
    ErrorKind.GENERATION_FAILED: "The provider could not generate this video",
}


def explain(kind: ErrorKind, detail: str | None = None) -> str:
    """One sentence a member understands. Only provider details that help the member are included:
    validation messages and failure codes, never anything about the account."""
    words = MEMBER_WORDS[kind]
    if detail and kind in (ErrorKind.INVALID_REQUEST, ErrorKind.GENERATION_FAILED, ErrorKind.CONTENT_BLOCKED):
        return f"{words}: {detail[:300]}."
    return f"{words}."
