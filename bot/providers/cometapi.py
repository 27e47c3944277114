"""cometapi: Kling through the `api.cometapi.com` gateway (seeds/cometapi-kling-text2video.txt, PROVIDERS.md).

cometapi relays Kling's own task API under `/kling`: the task models, status words and business codes
are Kling's (bot/providers/kling.py). What differs here: a plain bearer key, the path prefix, and the
gateway's own error envelope `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from pydantic import ValidationError

from bot.core.models import VideoRequest
from bot.providers.base import (
    Capabilities,
    ErrorKind,
    ProviderError,
    ProviderState,
    ProviderUpdate,
    RateLimit,
    SubmitResult,
    key_fingerprint,
)
from bot.providers.http import DEFAULT_TIMEOUT, HttpAnswer, ProviderHttp, detail_text, redact, status_error
from bot.providers.kling import (
    CONTENT_WORDS,
    STATES,
    KlingAnswer,
    business_code,
    callback_update,
    code_error,
    decode_job_id,
    encode_job_id,
    for_submit,
    kind_for,
    query_update,
    task_payload,
)

DEFAULT_BASE_URL = "https://api.cometapi.com"
CREATE_PATH = "/kling/v1/videos/{kind}"
QUERY_PATH = "/kling/v1/videos/{kind}/{task_id}"
MODEL_NAME = "kling-v3"

# The gateway reports an empty wallet in words and codes of its own, not with 402.
CREDIT_WORDS = re.compile(r"insufficient|balance|credit", re.IGNORECASE)

CAPABILITIES = Capabilities(
    durations=(5, 10),
    modes=("std", "pro"),
    push=True,
    # cometapi publishes no per-key limit for task queries; 60 a minute is a polite default that
    # POLL_RATE_PER_MINUTE overrides.
    rate_limit=RateLimit(calls=60, per_seconds=60),
    max_images=2,  # `image` (first frame) and the optional `image_tail` (last frame)
    image_types=frozenset({"image/jpeg", "image/png"}),
    max_image_bytes=10 * 1024 * 1024,
    negative_prompt=True,
    audio=True,
    mode_labels={"std": "Standard (720p)", "pro": "Pro (1080p)"},
)


class CometapiProvider:
    """Adapter for cometapi's Kling routes (text2video and image2video)."""

    name = "cometapi"
    capabilities = CAPABILITIES

    def __init__(
        self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL,
        *, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._key = api_key
        self._key_id = key_fingerprint(self.name, api_key)
        self._http = ProviderHttp(
            session, base_url, {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}, timeout
        )

    @property
    def rate_key(self) -> str:
        return self._key_id

    def build_payload(self, request: VideoRequest, callback_url: str | None) -> dict[str, Any]:
        return task_payload(request, callback_url, model_name=MODEL_NAME)

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult:
        kind = kind_for(request)
        answer = await self._http.request(
            "POST", CREATE_PATH.format(kind=kind), json_body=self.build_payload(request, callback_url)
        )
        if not answer.ok:
            raise for_submit(self._error(answer))
        try:
            parsed = KlingAnswer.model_validate(answer.body)
        except ValidationError as exc:
            # It answered 2xx, so a task may exist that we cannot name: never resubmit.
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "unreadable create answer", maybe_started=True) from exc
        if not parsed.succeeded:
            raise for_submit(self._error(answer))
        if parsed.data is None:
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "create answer without a task", maybe_started=True)
        state = STATES.get(parsed.data.task_status, ProviderState.PENDING)
        return SubmitResult(encode_job_id(kind, parsed.data.task_id), state)

    async def status(self, provider_job_id: str) -> ProviderUpdate:
        kind, task_id = decode_job_id(provider_job_id)
        answer = await self._http.request("GET", QUERY_PATH.format(kind=kind, task_id=task_id))
        if not answer.ok:
            raise self._error(answer)
        return query_update(answer, provider_job_id, self._error)

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        return callback_update(body, self.name)

    def expected_seconds(self, request: VideoRequest) -> float:
        # Kling v3 behind a gateway: roughly 1-5 minutes, growing with length; pro about half as long again.
        return (60.0 + 15.0 * request.duration) * (1.5 if request.mode == "pro" else 1.0)

    def _error(self, answer: HttpAnswer) -> ProviderError:
        return redact(_error(answer), self._key)


def _error(answer: HttpAnswer) -> ProviderError:
    body = answer.body
    if isinstance(body, dict) and "code" in body and "error" not in body:
        # Kling's own answer, relayed (a 200 with a non-zero `code`, or an upstream error status).
        return code_error(answer, business_code(body), body.get("message"))
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        detail = detail_text(error.get("message") or error)
        words = " ".join(str(error.get(field) or "") for field in ("message", "type", "code"))
    else:
        detail = detail_text(error if error is not None else body)
        words = detail
    if answer.status == 402 or (CREDIT_WORDS.search(words) and answer.status in (400, 403, 429)):
        return ProviderError(ErrorKind.INSUFFICIENT_CREDITS, detail, status=answer.status)
    if answer.status == 400 and CONTENT_WORDS.search(words):
        return ProviderError(ErrorKind.CONTENT_BLOCKED, detail, status=answer.status)
    return status_error(answer, detail)
