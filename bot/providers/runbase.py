"""runbase: Kling 3.0 (`kling/kling-3.0`) through runbase's runs API at `runbase.net`
(seeds/runbase-kling-3.0.txt, PROVIDERS.md "runbase").

Poll only: no webhooks are documented. The cost is taken at create and refunded in full when a run fails.
"""

from __future__ import annotations

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

DEFAULT_BASE_URL = "https://runbase.net"
RUNS_PATH = "/api/v1/runs"
RUN_PATH = "/api/v1/runs/{id}"
MODEL = "kling/kling-3.0"

# Our mode names -> runbase's words (it spells 4K in capitals).
WIRE_MODES = {"std": "std", "pro": "pro", "4k": "4K"}

STATES = {
    "pending": ProviderState.PENDING,
    "processing": ProviderState.PROCESSING,
    "succeeded": ProviderState.COMPLETED,
    "failed": ProviderState.FAILED,
}

# runbase's error `code` -> (kind, retryable). USAGE_EXCEEDED shares 429 with RATE_LIMITED but is a quota:
# waiting seconds does not lift it.
ERROR_CODES: dict[str, tuple[ErrorKind, bool]] = {
    "invalid_input": (ErrorKind.INVALID_REQUEST, False),
    "model_not_found": (ErrorKind.MISCONFIGURED, False),  # the model id was retired: not the member's input
    "invalid_api_key": (ErrorKind.MISCONFIGURED, False),
    "insufficient_balance": (ErrorKind.INSUFFICIENT_CREDITS, False),
    "api_key_spend_limit_exceeded": (ErrorKind.INSUFFICIENT_CREDITS, False),
    "ip_not_allowed": (ErrorKind.MISCONFIGURED, False),
    "run_not_found": (ErrorKind.NOT_FOUND, False),
    "rate_limited": (ErrorKind.RATE_LIMITED, True),
    "usage_exceeded": (ErrorKind.INSUFFICIENT_CREDITS, False),
}

RATE_CALLS = 20
RATE_WINDOW_SECONDS = 10.0

CAPABILITIES = Capabilities(
    # The schema says only "number"; 5, 10 and 15 are the lengths Kling 3.0 is priced and offered in
    # everywhere, so a member cannot pick one that some route rejects or bills oddly.
    durations=(5, 10, 15),
    modes=("std", "pro", "4k"),
    push=False,
    # 20 requests per 10 s per key, creates and status calls together.
    rate_limit=RateLimit(calls=RATE_CALLS, per_seconds=RATE_WINDOW_SECONDS, includes_submit=True),
    max_images=1,  # `image_urls` are frame images: the first frame, then the end image as the last frame
    end_image=True,  # needs the first frame: the frames are a list in order
    # Not offered: the schema has no audio, camera or multi-shot field (the overview's "multi-shot
    # storyboarding" has no documented input).
    mode_labels={"std": "Standard (720p)", "pro": "Pro (1080p)", "4k": "4K"},
)


class RunAnswer(BaseModel):
    """The create answer and the run status share these fields; older answers name the id `run_id`."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    id: str | None = None
    run_id: str | None = None
    status: str = "pending"
    output: Any = None
    error: Any = None

    @property
    def run(self) -> str | None:
        return self.id or self.run_id


def _unwrap(body: Any) -> Any:
    # Tolerate a `{"data": {...}}` envelope around the run.
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return body


class RunbaseProvider(KeyedAdapter):
    """Adapter for runbase's runs API with the Kling 3.0 model."""

    name = "runbase"
    capabilities = CAPABILITIES

    def __init__(
        self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL,
        *, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(api_key)
        self._http = ProviderHttp(session, base_url, fixed({"Authorization": f"Bearer {api_key}"}), timeout)

    def build_payload(self, request: VideoRequest) -> dict[str, Any]:
        run_input: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect,
            "mode": WIRE_MODES[request.mode],
            "duration": request.duration,  # a number here, unlike most Kling routes
        }
        frames = [*request.image_urls, *([request.end_image_url] if request.end_image_url else [])]
        if frames:
            run_input["image_urls"] = frames
        return {"model": MODEL, "input": run_input}

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult:
        answer = await self._http.request("POST", RUNS_PATH, json_body=self.build_payload(request))
        if not answer.ok:
            raise self._error(answer, submit=True)
        try:
            run = RunAnswer.model_validate(_unwrap(answer.body))
            if run.run is None:
                raise ValueError("no run id")
        except ValueError as exc:  # pydantic's ValidationError included
            # It answered 2xx, so a paid run may exist that we cannot name: never resubmit.
            raise unreadable_create() from exc
        return SubmitResult(run.run, STATES.get(run.status, ProviderState.PENDING))

    async def status(self, provider_job_id: str) -> ProviderUpdate:
        answer = await self._http.request("GET", RUN_PATH.format(id=provider_job_id))
        if not answer.ok:
            raise self._error(answer)
        try:
            run = RunAnswer.model_validate(_unwrap(answer.body))
            state = STATES[run.status]
        except (ValidationError, KeyError) as exc:
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "unreadable status answer", retryable=True) from exc
        if state is ProviderState.COMPLETED:
            url = _first_url(run.output)
            if url is None:
                return ProviderUpdate(
                    provider_job_id, ProviderState.FAILED,
                    error_kind=ErrorKind.GENERATION_FAILED, error_detail="succeeded without an output URL",
                )
            return ProviderUpdate(provider_job_id, state, video_url=url)
        if state is ProviderState.FAILED:
            return _failed(provider_job_id, run.error)
        return ProviderUpdate(provider_job_id, state)

    async def check_key(self) -> KeyCheck:
        """`kling-bot check`: the status of a run that cannot exist (run_not_found: the key was accepted)."""
        return await probe_status(self.status)

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        raise MalformedCallback("runbase documents no webhooks")

    def expected_seconds(self, request: VideoRequest) -> float:
        # Kling 3.0: roughly 1-5 minutes growing with length; pro about half as long again, 4K about double.
        factor = {"std": 1.0, "pro": 1.5, "4k": 2.0}.get(request.mode, 1.0)
        return (60.0 + 15.0 * request.duration) * factor

    def _error(self, answer: HttpAnswer, *, submit: bool = False) -> ProviderError:
        error = _error(answer)
        if submit and error.kind is ErrorKind.NOT_FOUND:
            # At create a 404 is a route that does not exist: the base URL, not a lost run.
            error = ProviderError(ErrorKind.MISCONFIGURED, error.detail, status=error.status)
        return redact(error, self._key)


def _first_url(output: Any) -> str | None:
    urls = output.get("urls") if isinstance(output, dict) else output
    if isinstance(urls, str):
        urls = [urls]
    if isinstance(urls, list):
        return next((url for url in urls if isinstance(url, str) and url), None)
    return None


def _failed(provider_job_id: str, error: Any) -> ProviderUpdate:
    if isinstance(error, dict):
        words = f"{error.get('message') or ''} {error.get('code') or ''}"
        detail = detail_text(error.get("message") or error.get("code") or error)
    else:
        detail = words = detail_text(error)
    kind = failure_kind(words)
    return ProviderUpdate(provider_job_id, ProviderState.FAILED, error_kind=kind, error_detail=detail or None)


def _error(answer: HttpAnswer) -> ProviderError:
    body = answer.body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        detail = detail_text(error.get("message") or code)
    else:
        code = ""
        detail = detail_text(error if error is not None else body)
    entry = ERROR_CODES.get(code.lower())
    if entry is None:
        return status_error(answer, detail)
    kind, retryable = entry
    if kind is ErrorKind.INVALID_REQUEST and says_blocked(detail):
        kind = ErrorKind.CONTENT_BLOCKED
    retry_after = None
    if kind is ErrorKind.RATE_LIMITED:
        # A full window always clears the limit when runbase names no wait.
        retry_after = status_error(answer, detail).retry_after or RATE_WINDOW_SECONDS
    return ProviderError(kind, detail, retryable=retryable, retry_after=retry_after, status=answer.status)


class RunbaseSettings(ProviderSettings):
    runbase_api_key: SecretStr
    runbase_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


DESCRIPTOR = ProviderDescriptor("runbase", "runbase (Kling 3.0)", RunbaseSettings, CAPABILITIES,
                                build_with_key(RunbaseProvider, "runbase_api_key", "runbase_base_url"))
