"""cometapi: Kling through the `api.cometapi.com` gateway (seeds/cometapi-kling-text2video.txt, PROVIDERS.md).

cometapi relays Kling's own task API under `/kling`: the task models, status words and business codes
are Kling's (bot/providers/kling.py). What differs here: a plain bearer key, the path prefix, and the
gateway's own error envelope `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import aiohttp
from pydantic import AnyHttpUrl, SecretStr

from bot.providers.base import ErrorKind, ProviderError, StoryboardSupport
from bot.providers.content import says_blocked
from bot.providers.descriptor import ProviderDescriptor, ProviderSettings, build_with_key
from bot.providers.http import (
    DEFAULT_TIMEOUT,
    HttpAnswer,
    ProviderHttp,
    detail_text,
    fixed,
    redact,
    status_error,
)
from bot.providers.kling import CAPABILITIES as KLING_CAPABILITIES
from bot.providers.kling import KlingTaskProvider, business_code, code_error

DEFAULT_BASE_URL = "https://api.cometapi.com"
CREATE_PATH = "/kling/v1/videos/{kind}"
QUERY_PATH = "/kling/v1/videos/{kind}/{task_id}"
MODEL_NAME = "kling-v3"

# The gateway reports an empty wallet in words and codes of its own, not with 402.
CREDIT_WORDS = re.compile(r"insufficient|balance|credit", re.IGNORECASE)

# Kling's capabilities, with the durations the relay offers. It publishes no per-key limit for task
# queries either, so Kling's polite default of 60 a minute stands (POLL_RATE_PER_MINUTE overrides it).
# Its text2video reference relays Kling's `sound`, `camera_control` and `multi_shot`/`multi_prompt` as they
# are, and image2video `image_tail`; a storyboard adds up to one of the relay's own durations.
CAPABILITIES = dataclasses.replace(
    KLING_CAPABILITIES, durations=(5, 10),
    storyboard=dataclasses.replace(KLING_CAPABILITIES.storyboard or StoryboardSupport(6, 1, ()), totals=(5, 10)),
)


class CometapiProvider(KlingTaskProvider):
    """Adapter for cometapi's Kling routes (text2video and image2video)."""

    name = "cometapi"
    capabilities = CAPABILITIES
    create_path = CREATE_PATH
    query_path = QUERY_PATH
    model_name = MODEL_NAME

    def __init__(
        self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL,
        *, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(api_key)
        self._http = ProviderHttp(session, base_url, fixed({"Authorization": f"Bearer {api_key}"}), timeout)

    async def _request(self, method: str, path: str, body: Any = None) -> HttpAnswer:
        return await self._http.request(method, path, json_body=body)

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
    if answer.status == 400 and says_blocked(words):
        return ProviderError(ErrorKind.CONTENT_BLOCKED, detail, status=answer.status)
    return status_error(answer, detail)


class CometapiSettings(ProviderSettings):
    cometapi_key: SecretStr
    cometapi_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


DESCRIPTOR = ProviderDescriptor("cometapi", "cometapi (Kling v3)", CometapiSettings, CAPABILITIES,
                                build_with_key(CometapiProvider, "cometapi_key", "cometapi_base_url"))
