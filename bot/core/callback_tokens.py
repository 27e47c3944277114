"""Callback URLs carry an HMAC of the job id, so only the provider we gave the URL to can call it."""

from __future__ import annotations

import hashlib
import hmac
import re

TOKEN_LENGTH = 40
# What the bot itself hands out; anything else in a callback URL is refused before any other work.
TOKEN_FORMAT = re.compile(r"[0-9a-f]{40}")
JOB_ID_FORMAT = re.compile(r"[0-9a-f]{16}")  # bot.core.jobs: secrets.token_hex(8)


def looks_like_token(value: str) -> bool:
    return TOKEN_FORMAT.fullmatch(value) is not None


def looks_like_job_id(value: str) -> bool:
    return JOB_ID_FORMAT.fullmatch(value) is not None


class CallbackSigner:
    def __init__(self, secret: str) -> None:
        # A keyed HMAC copied for each token rather than `hmac.digest(key, ...)`: the one-shot releases the GIL
        # around OpenSSL, and taking it back from the database thread cost the event loop about 27 µs a callback
        # (bench/PROFILE.md); a copy and a short update keep the GIL and take about 1 µs.
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def token(self, job_id: str) -> str:
        mac = self._keyed.copy()
        # surrogatepass: a job id decoded from a stranger's URL may hold lone surrogates; never raise on it.
        mac.update(job_id.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:TOKEN_LENGTH]

    def verify(self, job_id: str, token: str) -> bool:
        """Constant-time check; safe for any str (compare_digest refuses non-ASCII str, so compare bytes)."""
        expected = self.token(job_id).encode("ascii")
        return hmac.compare_digest(expected, token.encode("utf-8", "surrogatepass"))

    def path(self, provider: str, job_id: str) -> str:
        return f"/callbacks/{provider}/{job_id}/{self.token(job_id)}"
