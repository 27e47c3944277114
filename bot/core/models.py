"""The job and its lifecycle: one status enum, and every allowed transition in one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.messages import Message


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
class CameraMove:
    """A camera move from the catalogue in bot/core/camera.py: a simple move with its strength, or a combined
    move (which has none)."""

    name: str
    strength: int | None = None


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot of a storyboard: what happens, for how many seconds."""

    prompt: str
    duration: int


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """What a member asked for, in provider-neutral terms.

    `image_urls` are the start image (first frame) and, where the provider takes them, more reference images;
    `end_image_url` is the last frame, apart from them. With `shots` (a storyboard) `duration` is their sum and
    `prompt` their text, one shot a line (bot/core/storyboard.py)."""

    prompt: str
    duration: int
    aspect: str
    mode: str
    negative_prompt: str | None = None
    audio: bool = False
    image_urls: tuple[str, ...] = ()
    end_image_url: str | None = None
    camera: CameraMove | None = None
    shots: tuple[Shot, ...] = ()


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
    last_error: str | None = None  # why it failed, in English (the admin CLI, the ledger, logs)
    failure: Message | None = None  # the same reason as a catalogue message, shown in the reader's language
    video_url: str | None = None
    delivery_outcome: DeliveryOutcome | None = None
    result_message_id: int | None = None
    deliver_by_dm: bool = False  # the member's wish when the job was accepted: the video goes to their DMs
    extra: dict[str, str] = field(default_factory=dict)
    # Continue (bot/core/continuing.py): the job whose last frame this one starts from, and that job's result
    # post, which this job's result replies to (None: it replies to its own status message).
    parent_job_id: str | None = None
    reply_to_message_id: int | None = None
