"""What adapters share beyond the core's provider vocabulary (`bot.core.ports.provider`), which is
re-exported here so that an adapter imports everything it speaks from one place."""

from __future__ import annotations

import hashlib

from bot.core.ports.provider import (
    AccountBalance,
    CameraSupport,
    Capabilities,
    ErrorKind,
    KeyCheck,
    MalformedCallback,
    Provider,
    ProviderError,
    ProviderState,
    ProviderUpdate,
    RateLimit,
    ReportedCost,
    StoryboardSupport,
    SubmitResult,
)

__all__ = [
    "AccountBalance",
    "CameraSupport",
    "Capabilities",
    "ErrorKind",
    "KeyCheck",
    "KeyedAdapter",
    "MalformedCallback",
    "Provider",
    "ProviderError",
    "ProviderState",
    "ProviderUpdate",
    "RateLimit",
    "ReportedCost",
    "StoryboardSupport",
    "SubmitResult",
    "key_fingerprint",
]


def key_fingerprint(provider_name: str, key: str) -> str:
    """A stable, non-reversible name for an API key (rate limits are per key)."""
    return f"{provider_name}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class KeyedAdapter:
    """What every adapter holds: its name and its API key (never shown), and the name rate limits know
    the key by."""

    name: str

    def __init__(self, key: str, *, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self._key = key
        self._rate_key = key_fingerprint(self.name, key)

    @property
    def rate_key(self) -> str:
        """Identifies the API key for rate limiting, without revealing it."""
        return self._rate_key
