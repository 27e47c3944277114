"""The Kling API's bearer token: a JWT (RFC 7519) signed HS256 with the account's secret key.

Built with the standard library so the bot needs no JWT dependency for three base64 segments and one
HMAC. Kling's docs: payload `{iss: ACCESS_KEY, exp: now + 1800, nbf: now - 5}`, header
`{"alg": "HS256", "typ": "JWT"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

TOKEN_LIFETIME = 1800.0
NOT_BEFORE_SLACK = 5.0  # Kling's own example backdates nbf a little, for clock skew
RENEW_BEFORE = 300.0  # sign a new token this long before the old one expires, so none dies in flight

HEADER = {"alg": "HS256", "typ": "JWT"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_jwt(payload: dict[str, Any], secret: str) -> str:
    segments = [
        b64url(json.dumps(HEADER, separators=(",", ":")).encode()),
        b64url(json.dumps(payload, separators=(",", ":")).encode()),
    ]
    signing_input = ".".join(segments).encode("ascii")
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{segments[0]}.{segments[1]}.{b64url(signature)}"


class KlingToken:
    """Signs tokens and reuses each until it is close to expiry."""

    def __init__(
        self, access_key: str, secret_key: str, *, now: Callable[[], float] = time.time,
        lifetime: float = TOKEN_LIFETIME, renew_before: float = RENEW_BEFORE,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._now = now
        self._lifetime = lifetime
        self._renew_before = renew_before
        self._token: str | None = None
        self._expires = 0.0

    @property
    def current(self) -> str | None:
        """The token last handed out (to mask it in error details), if any."""
        return self._token

    def token(self) -> str:
        now = self._now()
        if self._token is None or now >= self._expires - self._renew_before:
            issued = int(now)
            self._expires = issued + self._lifetime
            payload = {"iss": self._access_key, "exp": int(self._expires), "nbf": int(issued - NOT_BEFORE_SLACK)}
            self._token = encode_jwt(payload, self._secret_key)
        return self._token

    def invalidate(self) -> None:
        """Forget the cached token (Kling called it expired or not yet valid): the next call signs afresh."""
        self._token = None
