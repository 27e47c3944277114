"""Callback URLs carry an HMAC of the job id, so only the provider we gave the URL to can call it."""

from __future__ import annotations

import hashlib
import hmac


class CallbackSigner:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def token(self, job_id: str) -> str:
        return hmac.digest(self._key, job_id.encode(), hashlib.sha256).hex()[:40]

    def verify(self, job_id: str, token: str) -> bool:
        return hmac.compare_digest(self.token(job_id), token)

    def path(self, provider: str, job_id: str) -> str:
        return f"/callbacks/{provider}/{job_id}/{self.token(job_id)}"
