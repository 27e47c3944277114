"""runblob: Kling O3 through `platform.runblob.io` (seeds/runblob-*.txt, PROVIDERS.md)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, SecretStr, ValidationError

from bot.core.models import VideoRequest
from bot.providers.base import (
    Capabilities,
    ErrorKind,
    KeyCheck,
    KeyedAdapter,
    MalformedCallback,
    ProviderError,
    ProviderState,
    ProviderUpdate,
    RateLimit,
    ReportedCost,
    SubmitResult,
)
from bot.providers.descriptor import ProviderDescriptor, ProviderSettings, build_with_key
from bot.providers.http import (
    DEFAULT_TIMEOUT,
    HttpAnswer,
    ProviderHttp,
    detail_text,
    fixed,
    redact,
    status_error,
    unreadable_create,
)
from bot.providers.key_check import probe_status

DEFAULT_BASE_URL = "https://platform.runblob.io"
GENERATE_PATH = "/v1/kling/o3-video/generate"
STATUS_PATH = "/v1/kling/o3-video/generations/{id}"

# Quality is chosen by `model` (a `mode` field appears in one doc example only: unconfirmed).
MODEL_BY_MODE = {"std": "kling_o3", "pro": "kling_o3_pro"}

STATES = {
    "pending": ProviderState.PENDING,
    "processing": ProviderState.PROCESSING,
    "completed": ProviderState.COMPLETED,
    "failed": ProviderState.FAILED,
}

# Failure codes a webhook's `message` carries.
CONTENT_CODES = {"CONTENT_POLICY_VIOLATION"}
INPUT_CODES = {"IMAGE_INACCESSIBLE", "INVALID_IMAGE"}

CAPABILITIES = Capabilities(
    durations=(5, 10, 15),
    modes=("std", "pro"),
    push=True,
    rate_limit=RateLimit(calls=60, per_seconds=60),
    # `images_url` are reference images, up to 5. runblob documents no last frame, sound (only
    # `keep_original_sound`, for a video input), camera or multi-shot field, so none of those is offered.
    max_images=5,
    image_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    max_image_bytes=10 * 1024 * 1024,
    mode_labels={"std": "Standard (720p)", "pro": "Pro (1080p)"},
)


class GenerationCreated(BaseModel):
    model_config = ConfigDict(extra="ignore")
    generation_id: str
    status: str = "pending"
    price: str | float | None = None  # what the job costs the account, a decimal string ("0.50")


class GenerationStatus(BaseModel):
    """The status answer and the webhook payload share these fields."""

    model_config = ConfigDict(extra="ignore")
    generation_id: str
    status: str
    video_url: str | None = None
    message: str | None = None
    error: str | None = None
    # The docs show `price` in the create answer only; read here too in case a status or webhook carries it.
    price: str | float | None = None


class RunblobProvider(KeyedAdapter):
    """Adapter for runblob's Kling O3 API. The sandbox reuses it, pointed at the bot's own listener."""

    capabilities = CAPABILITIES

    def __init__(
        self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL,
        *, name: str = "runblob", timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(api_key, name=name)
        self._http = ProviderHttp(session, base_url, fixed({"Authorization": f"Bearer {api_key}"}), timeout)

    def build_payload(self, request: VideoRequest, callback_url: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": str(request.duration),
            "aspect_ratio": request.aspect,
            "model": MODEL_BY_MODE[request.mode],
        }
        if request.image_urls:
            payload["images_url"] = list(request.image_urls)
        if callback_url:
            payload["callback_url"] = callback_url
        return payload

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult:
        answer = await self._http.request("POST", GENERATE_PATH, json_body=self.build_payload(request, callback_url))
        if not answer.ok:
            raise redact(_error(answer), self._key)
        try:
            created = GenerationCreated.model_validate(answer.body)
        except ValidationError as exc:
            # It answered 2xx, so a job may exist that we cannot name: never resubmit.
            raise unreadable_create() from exc
        return SubmitResult(created.generation_id, STATES.get(created.status, ProviderState.PENDING),
                            reported_cost=price_of(created.price))

    async def status(self, provider_job_id: str) -> ProviderUpdate:
        answer = await self._http.request("GET", STATUS_PATH.format(id=provider_job_id))
        if not answer.ok:
            raise redact(_error(answer), self._key)
        try:
            return _update(GenerationStatus.model_validate(answer.body))
        except (ValidationError, KeyError) as exc:
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "unreadable status answer", retryable=True) from exc

    async def check_key(self) -> KeyCheck:
        """`kling-bot check`: the status of a generation that cannot exist (404: the key was accepted)."""
        return await probe_status(self.status)

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        try:
            return _update(GenerationStatus.model_validate_json(body))
        except (ValidationError, KeyError) as exc:
            raise MalformedCallback("not a runblob webhook payload") from exc

    def expected_seconds(self, request: VideoRequest) -> float:
        # The docs' timeline: 5 s std ~2-3 min, 10 s ~3-5 min, 15 s ~5-7 min; pro +30-50 %.
        base = {5: 150.0, 10: 240.0, 15: 360.0}.get(request.duration, 240.0)
        return base * (1.4 if request.mode == "pro" else 1.0)


def price_of(price: str | float | None) -> ReportedCost | None:
    """runblob's `price`: money in the account's currency (a decimal string); None when absent or unreadable."""
    if price is None or isinstance(price, bool):
        return None
    try:
        amount = Decimal(str(price).strip())
    except InvalidOperation:
        return None
    return ReportedCost(amount) if amount.is_finite() and amount >= 0 else None


def _update(status: GenerationStatus) -> ProviderUpdate:
    state = STATES[status.status]
    if state is not ProviderState.FAILED:
        return ProviderUpdate(status.generation_id, state, video_url=status.video_url,
                              reported_cost=price_of(status.price))
    code = status.message or status.error or ""
    if code in CONTENT_CODES:
        kind = ErrorKind.CONTENT_BLOCKED
    elif code in INPUT_CODES:
        kind = ErrorKind.INVALID_REQUEST
    else:
        kind = ErrorKind.GENERATION_FAILED
    return ProviderUpdate(status.generation_id, state, error_kind=kind, error_detail=code or None)


def _error(answer: HttpAnswer) -> ProviderError:
    body = answer.body
    detail = detail_text(body.get("detail") if isinstance(body, dict) else body)
    error = status_error(answer, detail)
    if answer.status == 402 or "INSUFFICIENT_CREDITS" in detail:
        return ProviderError(ErrorKind.INSUFFICIENT_CREDITS, detail, status=answer.status)
    if "CONTENT_POLICY" in detail:
        return ProviderError(ErrorKind.CONTENT_BLOCKED, detail, status=answer.status)
    return error


class RunblobSettings(ProviderSettings):
    runblob_api_key: SecretStr
    runblob_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


DESCRIPTOR = ProviderDescriptor("runblob", "runblob (Kling O3)", RunblobSettings, CAPABILITIES,
                                build_with_key(RunblobProvider, "runblob_api_key", "runblob_base_url"))
