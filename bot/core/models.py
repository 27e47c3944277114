"""The job and its lifecycle: one status enum, and every allowed transition in one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # accepted, waiting for a provider slot
    SUBMITTED = "submitted"  # the provider accepted it
    PROCESSING = "processing"  # the provider reports work in progress
    COMPLETED = "completed"  # a video URL is known, not yet posted
    DELIVERED = "delivered"  # posted (or its delivery outcome is final)
    FAILED = "failed"


IN_FLIGHT = (JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.PROCESSING)
# What counts against MAX_ACTIVE_JOBS_PER_USER: in flight, or finished and not yet posted.
ACTIVE = (*IN_FLIGHT, JobStatus.COMPLETED)

# from -> the statuses it may move to. The store enforces these with conditional updates.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.SUBMITTED, JobStatus.FAILED}),
    JobStatus.SUBMITTED: frozenset({JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED}),
    # COMPLETED -> FAILED: the provider's link was refused (not a place or not a video the bot takes).
    JobStatus.COMPLETED: frozenset({JobStatus.DELIVERED, JobStatus.FAILED}),
    JobStatus.DELIVERED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    return new in TRANSITIONS[current]


class DeliveryOutcome(enum.StrEnum):
    ATTACHED = "attached"  # the video was uploaded into the channel
    LINKED = "linked"  # too large: a link was posted instead
    DIRECT_MESSAGE = "direct_message"  # the channel refused; the requester got a DM
    UNDELIVERABLE = "undeliverable"  # neither channel nor DM worked


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """What a member asked for, in provider-neutral terms."""

    prompt: str
    duration: int
    aspect: str
    mode: str
    negative_prompt: str | None = None
    audio: bool = False
    image_urls: tuple[str, ...] = ()


@dataclass(slots=True)
class Job:
    """One generation, as the store holds it."""

    id: str
    guild_id: int
    channel_id: int
    user_id: int
    request: VideoRequest
    provider: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    cost: int = 0
    status_message_id: int | None = None
    provider_job_id: str | None = None
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    attempts: int = 0
    submitting_since: datetime | None = None
    last_error: str | None = None
    video_url: str | None = None
    delivery_outcome: DeliveryOutcome | None = None
    result_message_id: int | None = None
    deliver_by_dm: bool = False  # the member's wish when the job was accepted: the video goes to their DMs
    extra: dict[str, str] = field(default_factory=dict)
