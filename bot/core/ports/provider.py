"""The provider vocabulary: what every adapter (`bot/providers/`) speaks to the core.

The core owns these words; adapters implement `Provider` and raise `ProviderError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bot.core.models import VideoRequest


class ProviderState(enum.StrEnum):
    """A provider's job status, mapped from its own words."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ErrorKind(enum.StrEnum):
    """The few kinds of provider failure the rest of the bot understands."""

    INVALID_REQUEST = "invalid_request"
    CONTENT_BLOCKED = "content_blocked"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    RATE_LIMITED = "rate_limited"  # also: provider busy, account concurrency full
    PROVIDER_DOWN = "provider_down"  # 5xx, connection refused, timeouts
    MISCONFIGURED = "misconfigured"  # 401/403: the operator's key or account
    NOT_FOUND = "not_found"  # the provider no longer knows the job
    GENERATION_FAILED = "generation_failed"  # the provider tried and failed


class ProviderError(Exception):
    """A provider call failed.

    `retryable`: the same call may succeed later (429, 5xx, timeouts).
    `maybe_started`: for a submit, the provider may have started a billable job anyway (the request was
    sent and no answer came back), so it must not be sent again.
    """

    def __init__(
        self,
        kind: ErrorKind,
        detail: str = "",
        *,
        retryable: bool = False,
        maybe_started: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.maybe_started = maybe_started
        self.retry_after = retry_after
        self.status = status


class MalformedCallback(ValueError):
    """A callback body that does not parse as this provider's webhook payload."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `calls` requests in any `per_seconds` window, per API key."""

    calls: int
    per_seconds: float
    includes_submit: bool = False  # runbase counts creates and status calls together


@dataclass(frozen=True, slots=True)
class CameraSupport:
    """Camera moves a provider takes: names from bot/core/camera.py, and the strength range of a simple move."""

    moves: tuple[str, ...]
    strengths: tuple[int, int] = (1, 10)
    default_strength: int = 5
    with_end_image: bool = False  # Kling: `image_tail` and `camera_control` cannot be used together


@dataclass(frozen=True, slots=True)
class StoryboardSupport:
    """A multi-shot video in one generation: at most `max_shots` shots of at least `min_shot_seconds` each,
    adding up to one of `totals` seconds."""

    max_shots: int
    min_shot_seconds: int
    totals: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter supports; `/video`'s options and validation come from this."""

    durations: tuple[int, ...]
    modes: tuple[str, ...]
    push: bool
    rate_limit: RateLimit
    aspects: tuple[str, ...] = ("16:9", "9:16", "1:1")
    max_images: int = 0
    image_types: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp"})
    max_image_bytes: int = 10 * 1024 * 1024
    negative_prompt: bool = False
    audio: bool = False
    mode_labels: dict[str, str] = field(default_factory=dict)
    end_image: bool = False  # a last frame, apart from the start image
    end_image_alone: bool = False  # the last frame may come without a start image (Kling's image2video)
    camera: CameraSupport | None = None
    storyboard: StoryboardSupport | None = None

    @property
    def image_input(self) -> bool:
        return self.max_images > 0


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """Whether the provider accepts the operator's key (`kling-bot check`), in words for the operator."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class ReportedCost:
    """What the provider says a job cost: money in the account's currency (runblob's `price`), or, with
    `units`, units of the provider's own (Kling's `final_unit_deduction`: resource-pack units, not money)."""

    amount: Decimal
    units: bool = False


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """What is left on the provider account, in money or (with `units`) in the provider's own units."""

    amount: Decimal
    units: bool = False


class BalanceReader(Protocol):
    """An adapter that can read its account's balance (Kling: `GET /account/costs`). Optional: adapters without
    one simply have no `balance` method (bot/core/spend.py `balance_reader`)."""

    async def balance(self) -> AccountBalance: ...


@dataclass(frozen=True, slots=True)
class SubmitResult:
    provider_job_id: str
    state: ProviderState = ProviderState.PENDING
    reported_cost: ReportedCost | None = None  # when the create answer says what the job costs


@dataclass(frozen=True, slots=True)
class ProviderUpdate:
    """What the provider says about one job, from a status call or a callback."""

    provider_job_id: str
    state: ProviderState
    video_url: str | None = None
    error_kind: ErrorKind | None = None
    error_detail: str | None = None
    reported_cost: ReportedCost | None = None  # when the provider says what the job cost


class Provider(Protocol):
    """A video provider account. Adapters live in `bot/providers/<name>.py`."""

    name: str
    capabilities: Capabilities

    @property
    def rate_key(self) -> str:
        """Identifies the API key for rate limiting, without revealing it."""
        ...

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult: ...

    async def status(self, provider_job_id: str) -> ProviderUpdate: ...

    async def check_key(self) -> KeyCheck:
        """One harmless call that tells whether the provider accepts the key (nothing is created or billed)."""
        ...

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        """Parse a webhook body; raises MalformedCallback when it is not one."""
        ...

    def expected_seconds(self, request: VideoRequest) -> float:
        """A rough generation time, used to hold back safety-net polls while callbacks are expected."""
        ...
