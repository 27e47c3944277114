"""segmind: Kling O3 through segmind's async v2 API at `api.segmind.com`
(seeds/segmind-kling-o3-text2video.txt, PROVIDERS.md "segmind").

Poll only: segmind sends no webhooks for model inference. A job is submitted, its status polled, and once
COMPLETED its result fetched from a second route that holds the video URL.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime
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
    StoryboardSupport,
    SubmitResult,
)
from bot.providers.content import failure_kind, says_blocked
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

DEFAULT_BASE_URL = "https://api.segmind.com"
TEXT_PATH = "/v2/kling-o3-text2video"
IMAGE_PATH = "/v2/kling-o3-image2video"
STATUS_PATH = "/v2/requests/{id}/status"
RESULT_PATH = "/v2/requests/{id}"

STATES = {
    "QUEUED": ProviderState.PENDING,
    "PROCESSING": ProviderState.PROCESSING,
    "COMPLETED": ProviderState.COMPLETED,
    "FAILED": ProviderState.FAILED,
}

# Content and RAI blocks come back as an ordinary FAILED; only the error text tells them apart.
# segmind's 429 names the moment the window reopens instead of sending Retry-After.
RESET_HEADER = "x-rate-limit-reset-at-utc"
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".m4v")

CAPABILITIES = Capabilities(
    durations=tuple(range(3, 16)),
    modes=("std", "pro"),
    push=False,
    # 50 requests a minute is the Pro plan; free plans get 5. POLL_RATE_PER_MINUTE overrides this.
    rate_limit=RateLimit(calls=50, per_seconds=60),
    max_images=1,  # `image_url`, the first frame (image2video); the last frame is the end image
    negative_prompt=True,
    audio=True,  # `generate_audio`
    mode_labels={"std": "Standard", "pro": "Pro"},
    end_image=True,  # image2video's optional `end_image_url`; `image_url` is required there
    # `multi_prompt`: prompts with durations. segmind gives no limits of its own; the model's (Kling O3) are
    # at most 6 shots adding up to a length it makes (3-15 s). No shortest shot is given: 1 s.
    storyboard=StoryboardSupport(max_shots=6, min_shot_seconds=1, totals=tuple(range(3, 16))),
)


class RequestQueued(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    request_id: str
    status: str = "QUEUED"


class RequestState(BaseModel):
    """The status answer, and the result answer (which adds `output`)."""

    model_config = ConfigDict(extra="ignore")
    status: str
    output: Any = None
    error: Any = None


class SegmindProvider(KeyedAdapter):
    """Adapter for segmind's Kling O3 text-to-video and image-to-video (async v2)."""

    name = "segmind"
    capabilities = CAPABILITIES

    def __init__(
        self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL,
        *, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(api_key)
        # segmind rejects a bearer token: the key goes in its own header.
        self._http = ProviderHttp(session, base_url, fixed({"x-api-key": api_key}), timeout)

    def build_payload(self, request: VideoRequest) -> dict[str, Any]:
        # `prompt` is required even with `multi_prompt`; for a storyboard it is the shots' text.
        payload: dict[str, Any] = {"prompt": request.prompt}
        if request.image_urls or request.end_image_url:
            # image2video takes its frame's shape, so no aspect ratio.
            if request.image_urls:
                payload["image_url"] = request.image_urls[0]
            if request.end_image_url:
                payload["end_image_url"] = request.end_image_url
        else:
            payload["aspect_ratio"] = request.aspect
        if request.shots:
            payload["multi_prompt"] = [{"prompt": shot.prompt, "duration": str(shot.duration)}
                                       for shot in request.shots]
            payload["shot_type"] = "customize"  # segmind's default, said so a changed default cannot surprise
        payload["duration"] = str(request.duration)
        payload["mode"] = request.mode
        payload["generate_audio"] = request.audio
        if request.negative_prompt:
            payload["negative_prompt"] = request.negative_prompt
        return payload

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult:
        path = IMAGE_PATH if request.image_urls or request.end_image_url else TEXT_PATH
        answer = await self._http.request("POST", path, json_body=self.build_payload(request))
        if not answer.ok:
            raise self._error(answer, submit=True)
        try:
            queued = RequestQueued.model_validate(answer.body)
        except ValidationError as exc:
            # It answered 2xx, so a billable request may exist that we cannot name: never resubmit.
            raise unreadable_create("submit answer") from exc
        return SubmitResult(queued.request_id, STATES.get(queued.status, ProviderState.PENDING))

    async def status(self, provider_job_id: str) -> ProviderUpdate:
        answer = await self._http.request("GET", STATUS_PATH.format(id=provider_job_id))
        update = self._read(answer, provider_job_id)
        if update.state is not ProviderState.COMPLETED:
            return update
        # The status answer only says COMPLETED; the video URL is in the result.
        result = await self._http.request("GET", RESULT_PATH.format(id=provider_job_id))
        return self._read(result, provider_job_id, result=True)

    async def check_key(self) -> KeyCheck:
        """`kling-bot check`: the status of a request that cannot exist (404: the key was accepted)."""
        return await probe_status(self.status)

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        raise MalformedCallback("segmind sends no webhooks for model inference")

    def expected_seconds(self, request: VideoRequest) -> float:
        # segmind quotes ~153 s for its default (5 s, pro); longer clips take proportionally longer.
        return (60.0 + 18.0 * request.duration) * (1.0 if request.mode == "pro" else 0.8)

    def _read(self, answer: HttpAnswer, provider_job_id: str, *, result: bool = False) -> ProviderUpdate:
        """A status or result answer as an update. A FAILED request answers 422 on both routes."""
        body = answer.body
        if answer.status == 422 and isinstance(body, dict) and body.get("status") == "FAILED":
            return _failed(provider_job_id, body.get("error"))
        if not answer.ok:
            raise self._error(answer)
        try:
            read = RequestState.model_validate(body)
            state = STATES[read.status]
        except (ValidationError, KeyError) as exc:
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "unreadable status answer", retryable=True) from exc
        if state is ProviderState.FAILED:
            return _failed(provider_job_id, read.error)
        if state is ProviderState.COMPLETED and result:
            url = find_video_url(read.output)
            if url is None:
                return ProviderUpdate(
                    provider_job_id, ProviderState.FAILED,
                    error_kind=ErrorKind.GENERATION_FAILED, error_detail="completed without a video URL",
                )
            return ProviderUpdate(provider_job_id, state, video_url=url)
        return ProviderUpdate(provider_job_id, state)

    def _error(self, answer: HttpAnswer, *, submit: bool = False) -> ProviderError:
        error = _error(answer)
        if submit and error.kind is ErrorKind.NOT_FOUND:
            # At submit a 404 is the model or route, not an expired request: the operator's configuration.
            error = ProviderError(ErrorKind.MISCONFIGURED, error.detail, status=error.status)
        return redact(error, self._key)


def _failed(provider_job_id: str, error: Any) -> ProviderUpdate:
    detail = detail_text(error) or None
    kind = failure_kind(detail)
    return ProviderUpdate(provider_job_id, ProviderState.FAILED, error_kind=kind, error_detail=detail)


def find_video_url(output: Any) -> str | None:
    """`output` is a URL or some structure holding one: the first video-looking URL, else the first URL."""
    urls = list(_urls(output))
    for url in urls:
        if url.split("?", 1)[0].lower().endswith(VIDEO_SUFFIXES):
            return url
    return urls[0] if urls else None


def _urls(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("https://", "http://")):
            yield text
    elif isinstance(value, dict):
        for item in value.values():
            yield from _urls(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _urls(item)


def _error(answer: HttpAnswer) -> ProviderError:
    body = answer.body
    if isinstance(body, dict):
        detail = detail_text(body.get("error") or body.get("detail") or body.get("message") or body)
    else:
        detail = detail_text(body)
    status = answer.status
    if status == 406:
        return ProviderError(ErrorKind.INSUFFICIENT_CREDITS, detail, status=status)
    if status == 429:
        retry_after = seconds_until(answer.headers.get(RESET_HEADER))
        error = status_error(answer, detail)
        return ProviderError(
            ErrorKind.RATE_LIMITED, detail, retryable=True, status=status,
            retry_after=retry_after if retry_after is not None else error.retry_after,
        )
    if status in (400, 422) and says_blocked(detail):
        return ProviderError(ErrorKind.CONTENT_BLOCKED, detail, status=status)
    return status_error(answer, detail)


def seconds_until(value: str | None, now: float | None = None) -> float | None:
    """Seconds from now to a UTC moment given as ISO 8601, an HTTP date, or epoch seconds or milliseconds."""
    if not value:
        return None
    now = time.time() if now is None else now
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        moment = _parse_moment(text)
        if moment is None:
            return None
        at = moment.timestamp()
    else:
        if number < 1e9:  # not a moment at all: a count of seconds
            return max(0.0, number)
        at = number / 1000 if number > 1e11 else number
    return max(0.0, at - now)


def _parse_moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SegmindSettings(ProviderSettings):
    segmind_api_key: SecretStr
    segmind_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


DESCRIPTOR = ProviderDescriptor("segmind", "segmind (Kling O3)", SegmindSettings, CAPABILITIES,
                                build_with_key(SegmindProvider, "segmind_api_key", "segmind_base_url"))
