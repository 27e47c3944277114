"""kling: Kuaishou's official Kling API at `api-singapore.klingai.com` (PROVIDERS.md "kling"; Kling's
developer docs: "API Reference" > "Video Generation" and "General Information" > "Error codes").

The task models, status words and business codes here are Kling's own; cometapi relays the same task API
and reuses them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, SecretStr, ValidationError

from bot.core.camera import AXES, CAMERA_MOVES, COMBINED_MOVES, SIMPLE_MOVES
from bot.core.models import CameraMove, VideoRequest
from bot.providers.base import (
    AccountBalance,
    CameraSupport,
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
    StoryboardSupport,
    SubmitResult,
)
from bot.providers.content import failure_kind
from bot.providers.descriptor import Connection, ProviderDescriptor, ProviderSettings
from bot.providers.http import (
    DEFAULT_TIMEOUT,
    HttpAnswer,
    ProviderHttp,
    detail_text,
    redact,
    status_error,
    unreadable_create,
)
from bot.providers.key_check import probe_status
from bot.providers.kling_jwt import KlingToken

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
CREATE_PATH = "/v1/videos/{kind}"
QUERY_PATH = "/v1/videos/{kind}/{task_id}"
# Kling's "Account Information Inquiry": the account's resource packs and what remains of each. Free to call.
# It lists the packs bought between `start_time` and `end_time` (ms): a year back covers annual packs. Only
# packs with status `online` can be spent (the others are `toBeOnline`, `expired`, `runOut`); Kling's docs note
# the remaining quantity may lag by hours.
COSTS_PATH = "/account/costs"
COSTS_LOOKBACK_MS = 365 * 24 * 3600 * 1000
MODEL_NAME = "kling-v3"

TEXT2VIDEO = "text2video"
IMAGE2VIDEO = "image2video"

STATES = {
    "submitted": ProviderState.PENDING,
    "processing": ProviderState.PROCESSING,
    "succeed": ProviderState.COMPLETED,
    "failed": ProviderState.FAILED,
}


# Kling's business codes -> (kind, retryable). 1303: the account's concurrent tasks are all taken; a
# slot frees only when one of them ends, so it is a reason to wait, never a failed job.
BUSINESS_CODES: dict[int, tuple[ErrorKind, bool]] = {
    1000: (ErrorKind.MISCONFIGURED, False),  # authentication failed
    1001: (ErrorKind.MISCONFIGURED, False),  # Authorization empty
    1002: (ErrorKind.MISCONFIGURED, False),  # Authorization invalid
    1003: (ErrorKind.MISCONFIGURED, False),  # token not yet valid (clock skew)
    1004: (ErrorKind.MISCONFIGURED, False),  # token expired
    1100: (ErrorKind.MISCONFIGURED, False),  # account abnormal
    1101: (ErrorKind.INSUFFICIENT_CREDITS, False),  # account in arrears (post-paid)
    1102: (ErrorKind.INSUFFICIENT_CREDITS, False),  # resource pack used up or expired (pre-paid)
    1103: (ErrorKind.MISCONFIGURED, False),  # no permission for this API or model
    1200: (ErrorKind.INVALID_REQUEST, False),
    1201: (ErrorKind.INVALID_REQUEST, False),  # a parameter is wrong; `message` says which
    1202: (ErrorKind.MISCONFIGURED, False),  # wrong HTTP method: our path, not the member's input
    1203: (ErrorKind.NOT_FOUND, False),  # no such resource (a task, or at create a model)
    1300: (ErrorKind.CONTENT_BLOCKED, False),  # platform policy
    1301: (ErrorKind.CONTENT_BLOCKED, False),  # content safety policy
    1302: (ErrorKind.RATE_LIMITED, True),  # requests too fast
    1303: (ErrorKind.RATE_LIMITED, True),  # concurrency of the resource pack full
    1304: (ErrorKind.MISCONFIGURED, False),  # IP allow-list
    5000: (ErrorKind.PROVIDER_DOWN, True),
    5001: (ErrorKind.PROVIDER_DOWN, True),  # maintenance
    5002: (ErrorKind.PROVIDER_DOWN, True),  # internal timeout, backlog
}
TOKEN_CODES = {1003, 1004}  # the token's time window was refused: sign a new one next time
CONCURRENCY_FULL = 1303
CONCURRENCY_RETRY_SECONDS = 30.0  # generation takes minutes, so asking again within seconds is wasted

# Kling's `camera_control`: a simple move's one non-zero `config` field ranges over [-10, 10]; a member picks
# the direction with the preset and the strength 1-10. Kling's reference does not list which models take
# camera control: the bot offers it with kling-v3, and Kling's own refusal (code 1201) is shown if a model
# does not. `image_tail` and `camera_control` cannot be used together (Kling's image2video reference).
CAMERA = CameraSupport(moves=tuple(CAMERA_MOVES), strengths=(1, 10), default_strength=5, with_end_image=False)
# Kling's multi-shot: `multi_prompt` holds 1 to 6 shots whose durations add up to the task's `duration`
# (3-15 s). The reference gives no shortest shot; 1 s, the smallest duration a shot can be given, is the floor.
STORYBOARD = StoryboardSupport(max_shots=6, min_shot_seconds=1, totals=tuple(range(3, 16)))

CAPABILITIES = Capabilities(
    durations=tuple(range(3, 16)),
    modes=("std", "pro"),
    push=True,
    # Kling publishes no per-minute limit for queries (they do not hold a concurrency slot); 60 a minute
    # is a polite default. POLL_RATE_PER_MINUTE overrides it.
    rate_limit=RateLimit(calls=60, per_seconds=60),
    max_images=1,  # `image`, the first frame; the last frame (`image_tail`) is the end image
    image_types=frozenset({"image/jpeg", "image/png"}),
    max_image_bytes=10 * 1024 * 1024,
    negative_prompt=True,
    audio=True,  # `sound`: kling-v2-6 and later
    mode_labels={"std": "Standard (720p)", "pro": "Pro (1080p)"},
    end_image=True,
    end_image_alone=True,  # image2video wants `image` or `image_tail`, at least one
    camera=CAMERA,
    storyboard=STORYBOARD,
)


# -- Kling's task API, shared with cometapi -------------------------------------------------------------
class TaskVideo(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    url: str
    id: str | None = None
    duration: str | None = None


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="ignore")
    videos: list[TaskVideo] = []


class TaskInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    external_task_id: str | None = None


class KlingTask(BaseModel):
    """The query answer's `data`; callbacks carry the same fields."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    task_id: str
    task_status: str
    task_status_msg: str | None = None
    task_info: TaskInfo | None = None
    task_result: TaskResult | None = None
    # What the task finally took from the account's resource packs, in units (a decimal string), not money.
    # Kling's docs do not say in which statuses it appears; it is read wherever it is.
    final_unit_deduction: str | None = None


class KlingAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    code: str = "0"
    message: str | None = None
    data: KlingTask | None = None

    @property
    def succeeded(self) -> bool:
        return self.code in ("0", "success")


def kind_for(request: VideoRequest) -> str:
    return IMAGE2VIDEO if request.image_urls or request.end_image_url else TEXT2VIDEO


def encode_job_id(kind: str, task_id: str) -> str:
    """The query path needs the kind, so image tasks carry it in our job id; text tasks keep the bare id."""
    return task_id if kind == TEXT2VIDEO else f"{kind}:{task_id}"


def decode_job_id(provider_job_id: str) -> tuple[str, str]:
    kind, sep, task_id = provider_job_id.partition(":")
    if sep and kind == IMAGE2VIDEO:
        return kind, task_id
    return TEXT2VIDEO, provider_job_id


def new_external_id(kind: str) -> str:
    """Callbacks do not say which endpoint a task came from; they echo `external_task_id`, so it names
    the kind (Kling wants it unique per account)."""
    return f"{kind}-{uuid.uuid4().hex}"


def kind_from_external(external_id: str | None) -> str:
    return IMAGE2VIDEO if external_id and external_id.startswith(IMAGE2VIDEO + "-") else TEXT2VIDEO


def task_payload(request: VideoRequest, callback_url: str | None, *, model_name: str) -> dict[str, Any]:
    """The create body for text2video or image2video (which takes no aspect ratio: the image sets it)."""
    kind = kind_for(request)
    payload: dict[str, Any] = {"model_name": model_name}
    if request.shots:
        # With `multi_shot` Kling ignores `prompt`: the shots are the prompt.
        payload["multi_shot"] = True
        payload["shot_type"] = "customize"  # the member's own shots ("intelligence" lets Kling cut the prompt)
        payload["multi_prompt"] = [
            {"index": index, "prompt": shot.prompt, "duration": str(shot.duration)}
            for index, shot in enumerate(request.shots, start=1)
        ]
    else:
        payload["prompt"] = request.prompt
    if request.image_urls:
        payload["image"] = request.image_urls[0]
    if request.end_image_url:
        payload["image_tail"] = request.end_image_url
    if request.camera is not None:
        payload["camera_control"] = camera_control(request.camera)
    if request.negative_prompt:
        payload["negative_prompt"] = request.negative_prompt
    payload["mode"] = request.mode
    payload["duration"] = str(request.duration)
    if kind == TEXT2VIDEO:
        payload["aspect_ratio"] = request.aspect
    payload["sound"] = "on" if request.audio else "off"
    if callback_url:
        payload["callback_url"] = callback_url
    payload["external_task_id"] = new_external_id(kind)
    return payload


def camera_control(move: CameraMove) -> dict[str, Any]:
    """Kling's `camera_control`: a combined move by its type alone; a simple move with all six `config` fields,
    only its own axis non-zero."""
    if move.name in COMBINED_MOVES:
        return {"type": move.name}
    preset = SIMPLE_MOVES[move.name]
    config = dict.fromkeys(AXES, 0)
    config[str(preset.axis)] = preset.direction * (move.strength or CAMERA.default_strength)
    return {"type": "simple", "config": config}


def task_update(task: KlingTask, provider_job_id: str) -> ProviderUpdate:
    """Raises KeyError for a status word Kling does not use."""
    state = STATES[task.task_status]
    if state is ProviderState.COMPLETED:
        videos = task.task_result.videos if task.task_result else []
        if not videos:
            return ProviderUpdate(
                provider_job_id, ProviderState.FAILED,
                error_kind=ErrorKind.GENERATION_FAILED, error_detail="succeeded without a video",
            )
        return ProviderUpdate(provider_job_id, state, video_url=videos[0].url,
                              reported_cost=units_of(task.final_unit_deduction))
    if state is not ProviderState.FAILED:
        return ProviderUpdate(provider_job_id, state, reported_cost=units_of(task.final_unit_deduction))
    message = task.task_status_msg or ""
    kind = failure_kind(message)
    return ProviderUpdate(provider_job_id, state, error_kind=kind, error_detail=message or None)


def units_of(deduction: str | None) -> ReportedCost | None:
    """`final_unit_deduction` as a cost in units; None when absent, empty or unreadable."""
    try:
        amount = Decimal((deduction or "").strip())
    except InvalidOperation:
        return None
    return ReportedCost(amount, units=True) if amount.is_finite() and amount >= 0 else None


class ResourcePack(BaseModel):
    model_config = ConfigDict(extra="ignore")
    resource_pack_name: str | None = None
    remaining_quantity: Decimal = Decimal(0)
    status: str | None = None


class AccountCosts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    resource_pack_subscribe_infos: list[ResourcePack] = []


class AccountCostsAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    code: str = "0"
    data: AccountCosts | None = None


def remaining_units(answer: HttpAnswer) -> AccountBalance:
    """The units left in the account's spendable (`online`) resource packs."""
    try:
        parsed = AccountCostsAnswer.model_validate(answer.body)
    except ValidationError as exc:
        raise ProviderError(ErrorKind.PROVIDER_DOWN, "unreadable account answer", retryable=True) from exc
    packs = parsed.data.resource_pack_subscribe_infos if parsed.data else []
    return AccountBalance(sum((p.remaining_quantity for p in packs if p.status == "online"), Decimal(0)), units=True)


def callback_update(body: bytes, provider: str) -> ProviderUpdate:
    try:
        task = KlingTask.model_validate_json(body)
        kind = kind_from_external(task.task_info.external_task_id if task.task_info else None)
        return task_update(task, encode_job_id(kind, task.task_id))
    except (ValidationError, KeyError) as exc:
        raise MalformedCallback(f"not a {provider} task callback") from exc


def code_error(answer: HttpAnswer, code: int | None, message: Any) -> ProviderError:
    """A Kling business code (in an error answer, or in a 200 answer with a non-zero `code`)."""
    detail = f"{detail_text(message)} (code {code})" if message else f"code {code}"
    entry = BUSINESS_CODES.get(code) if code is not None else None
    if entry is None:
        if not answer.ok:
            return status_error(answer, detail)
        if code is not None and 5000 <= code < 6000:
            return ProviderError(ErrorKind.PROVIDER_DOWN, detail, retryable=True, status=answer.status)
        return ProviderError(ErrorKind.INVALID_REQUEST, detail, status=answer.status)
    kind, retryable = entry
    retry_after = CONCURRENCY_RETRY_SECONDS if code == CONCURRENCY_FULL else None
    return ProviderError(kind, detail, retryable=retryable, retry_after=retry_after, status=answer.status)


def for_submit(error: ProviderError) -> ProviderError:
    """At create, "not found" is a model or route that does not exist: the operator's configuration."""
    if error.kind is not ErrorKind.NOT_FOUND:
        return error
    return ProviderError(ErrorKind.MISCONFIGURED, error.detail, status=error.status)


def business_code(body: Any) -> int | None:
    code = body.get("code") if isinstance(body, dict) else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def query_update(
    answer: HttpAnswer, provider_job_id: str, error: Callable[[HttpAnswer], ProviderError]
) -> ProviderUpdate:
    """A 2xx query answer as an update; a non-zero `code` in it is an error like any other."""
    try:
        parsed = KlingAnswer.model_validate(answer.body)
    except ValidationError as exc:
        raise ProviderError(ErrorKind.PROVIDER_DOWN, "unreadable status answer", retryable=True) from exc
    if not parsed.succeeded:
        raise error(answer)
    if parsed.data is None:
        raise ProviderError(ErrorKind.PROVIDER_DOWN, "status answer without a task", retryable=True)
    try:
        return task_update(parsed.data, provider_job_id)
    except KeyError as exc:
        raise ProviderError(ErrorKind.PROVIDER_DOWN, f"unknown task status {exc}", retryable=True) from exc


def _error(answer: HttpAnswer) -> ProviderError:
    body = answer.body
    if isinstance(body, dict) and "code" in body:
        return code_error(answer, business_code(body), body.get("message"))
    return status_error(answer, detail_text(body))


# -- the adapters -------------------------------------------------------------------------------------
class KlingTaskProvider(KeyedAdapter):
    """Kling's task protocol: create a text2video or image2video task, query it, read its callbacks.
    The official API and gateways that relay it (cometapi) differ only in how a request is authorized,
    where the routes live and how errors are wrapped: `_request`, the paths and `_error`."""

    name: str
    capabilities: Capabilities
    create_path: str
    query_path: str
    model_name = MODEL_NAME

    def build_payload(self, request: VideoRequest, callback_url: str | None) -> dict[str, Any]:
        return task_payload(request, callback_url, model_name=self.model_name)

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult:
        kind = kind_for(request)
        payload = self.build_payload(request, callback_url)
        answer = await self._request("POST", self.create_path.format(kind=kind), payload)
        if not answer.ok:
            raise for_submit(self._error(answer))
        try:
            parsed = KlingAnswer.model_validate(answer.body)
        except ValidationError as exc:
            # It answered 2xx, so a task may exist that we cannot name: never resubmit.
            raise unreadable_create() from exc
        if not parsed.succeeded:
            raise for_submit(self._error(answer))
        if parsed.data is None:
            raise ProviderError(ErrorKind.PROVIDER_DOWN, "create answer without a task", maybe_started=True)
        state = STATES.get(parsed.data.task_status, ProviderState.PENDING)
        return SubmitResult(encode_job_id(kind, parsed.data.task_id), state)

    async def status(self, provider_job_id: str) -> ProviderUpdate:
        kind, task_id = decode_job_id(provider_job_id)
        answer = await self._request("GET", self.query_path.format(kind=kind, task_id=task_id))
        if not answer.ok:
            raise self._error(answer)
        return query_update(answer, provider_job_id, self._error)

    async def check_key(self) -> KeyCheck:
        """`kling-bot check`: the query of a task that cannot exist (code 1203, not found: the key was
        accepted). The official API and cometapi alike."""
        return await probe_status(self.status)

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        return callback_update(body, self.name)

    def expected_seconds(self, request: VideoRequest) -> float:
        # Kling v3 renders in roughly 1-5 minutes, growing with length; pro takes about half as long again.
        return (60.0 + 15.0 * request.duration) * (1.5 if request.mode == "pro" else 1.0)

    async def _request(self, method: str, path: str, body: Any = None) -> HttpAnswer:
        raise NotImplementedError

    def _error(self, answer: HttpAnswer) -> ProviderError:
        raise NotImplementedError


class KlingProvider(KlingTaskProvider):
    """Adapter for the official Kling API (text2video and image2video with `kling-v3`)."""

    name = "kling"
    capabilities = CAPABILITIES
    create_path = CREATE_PATH
    query_path = QUERY_PATH

    def __init__(
        self, session: aiohttp.ClientSession, access_key: str, secret_key: str, base_url: str = DEFAULT_BASE_URL,
        *, now: Callable[[], float] = time.time, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(access_key)
        self._secret_key = secret_key
        self._now = now
        self._token = KlingToken(access_key, secret_key, now=now)
        self._http = ProviderHttp(session, base_url, lambda: {"Authorization": f"Bearer {self._token.token()}"},
                                  timeout)

    async def _request(self, method: str, path: str, body: Any = None) -> HttpAnswer:
        return await self._http.request(method, path, json_body=body)

    async def balance(self) -> AccountBalance:
        """The units left in the account's resource packs (`GET /account/costs`, free of charge)."""
        end = int(self._now() * 1000)
        answer = await self._request("GET", f"{COSTS_PATH}?start_time={end - COSTS_LOOKBACK_MS}&end_time={end}")
        if not answer.ok or business_code(answer.body) not in (0, None):
            raise self._error(answer)
        return remaining_units(answer)

    def _error(self, answer: HttpAnswer) -> ProviderError:
        token = self._token.current or ""
        if answer.status == 401 or business_code(answer.body) in TOKEN_CODES:
            self._token.invalidate()
        return redact(_error(answer), self._key, self._secret_key, token)


class KlingSettings(ProviderSettings):
    kling_access_key: SecretStr
    kling_secret_key: SecretStr
    kling_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


def _build(settings: ProviderSettings, connection: Connection) -> KlingProvider:
    assert isinstance(settings, KlingSettings)
    return KlingProvider(connection.session, settings.kling_access_key.get_secret_value(),
                         settings.kling_secret_key.get_secret_value(), str(settings.kling_base_url),
                         timeout=connection.timeout)


DESCRIPTOR = ProviderDescriptor("kling", "Kling official API", KlingSettings, CAPABILITIES, _build)
