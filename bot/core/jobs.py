"""Intake: what a member asked for, checked against the provider's capabilities and the server's rules,
and accepted as a queued job with its charge taken in the same transaction."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.clock import Clock
from bot.core.errors import InvalidRequest, NotAllowed
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.moderation import ModerationService
from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import JobRepository
from bot.core.quotas import QuotaService

log = logging.getLogger(__name__)

PROMPT_LIMIT = 2500
RESTARTING = "The bot is restarting for an update. Nothing was charged; please try again in a minute."


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image a member attached, as Discord describes it (checked before anything is charged)."""

    url: str
    content_type: str | None
    size: int
    filename: str


@dataclass(frozen=True, slots=True)
class Submission:
    guild_id: int
    channel_id: int
    user_id: int
    prompt: str
    # None (left empty): the member's default from /settings, else the provider's first choice (the engine
    # fills these in before the intake: bot/core/member_settings.py).
    duration: int | None = None
    aspect: str | None = None
    mode: str | None = None
    negative_prompt: str | None = None
    audio: bool | None = None
    images: tuple[ImageInput, ...] = ()
    checked_image_urls: tuple[str, ...] = ()  # an earlier job's images (re-roll, remix), checked back then
    deliver_by_dm: bool | None = None  # the finished video goes to the member's DMs


def new_job_id() -> str:
    return secrets.token_hex(8)


class JobIntake:
    """Without `quotas` nothing is charged; without `moderation` no server rules apply. The engine always
    passes both."""

    def __init__(
        self, *, store: JobRepository, capabilities: Capabilities, provider_name: str, clock: Clock,
        quotas: QuotaService | None = None, moderation: ModerationService | None = None,
    ) -> None:
        self.store = store
        self.capabilities = capabilities
        self.provider_name = provider_name
        self.clock = clock
        self.quotas = quotas
        self.moderation = moderation
        self.accepting = True

    def build_request(self, submission: Submission) -> VideoRequest:
        """Check a submission against the provider's capabilities; raises InvalidRequest saying what to fix."""
        caps = self.capabilities
        prompt = submission.prompt.strip()
        if not prompt:
            raise InvalidRequest("The prompt is empty. Describe the video you want.")
        if len(prompt) > PROMPT_LIMIT:
            raise InvalidRequest(
                f"The prompt is {len(prompt):,} characters long; the limit is {PROMPT_LIMIT:,}. "
                "Shorten it and try again."
            )
        duration = caps.durations[0] if submission.duration is None else submission.duration
        aspect = submission.aspect or caps.aspects[0]
        if duration not in caps.durations:
            raise InvalidRequest(f"Duration must be one of {listing(caps.durations)} seconds.")
        if aspect not in caps.aspects:
            raise InvalidRequest(f"Aspect ratio must be one of {listing(caps.aspects)}.")
        mode = submission.mode or caps.modes[0]
        if mode not in caps.modes:
            raise InvalidRequest(f"Mode must be one of {listing(caps.modes)}.")
        negative = (submission.negative_prompt or "").strip() or None
        if negative and not caps.negative_prompt:
            raise InvalidRequest("This server's video provider does not take a negative prompt.")
        if negative and len(negative) > PROMPT_LIMIT:
            raise InvalidRequest(f"The negative prompt is longer than {PROMPT_LIMIT:,} characters.")
        if submission.audio and not caps.audio:
            raise InvalidRequest("This server's video provider cannot generate audio.")
        self._check_images(submission.images, len(submission.checked_image_urls))
        return VideoRequest(
            prompt=prompt, duration=duration, aspect=aspect, mode=mode,
            negative_prompt=negative, audio=bool(submission.audio),
            image_urls=(*submission.checked_image_urls, *(image.url for image in submission.images)),
        )

    def _check_images(self, images: tuple[ImageInput, ...], already_checked: int) -> None:
        caps = self.capabilities
        if not images and not already_checked:
            return
        if not caps.image_input:
            raise InvalidRequest("This server's video provider cannot start from an image. Send the prompt alone.")
        if len(images) + already_checked > caps.max_images:
            raise InvalidRequest(f"At most {caps.max_images} image(s) can be used.")
        for image in images:
            kind = (image.content_type or "").split(";")[0].strip().lower()
            if kind not in caps.image_types:
                allowed = listing(sorted(t.removeprefix("image/").upper() for t in caps.image_types))
                raise InvalidRequest(f"`{image.filename}` is not a supported image. Use {allowed}.")
            if image.size > caps.max_image_bytes:
                raise InvalidRequest(
                    f"`{image.filename}` is {image.size / 1024 / 1024:.1f} MB; "
                    f"images can be at most {caps.max_image_bytes // (1024 * 1024)} MB."
                )

    async def accept(self, submission: Submission) -> Job:
        """Validate, apply the server's rules, and record the job as queued with its charge reserved in the
        same transaction. Raises a UserFacingError (nothing charged) when it cannot be accepted. Nothing
        goes to the provider until the engine queues it."""
        if not self.accepting:
            raise NotAllowed(RESTARTING)
        request = self.build_request(submission)
        if self.moderation is not None:
            await self.moderation.check_submission(
                submission.guild_id, submission.channel_id, (request.prompt, request.negative_prompt)
            )
        now = self.clock.now()
        job = Job(
            id=new_job_id(), guild_id=submission.guild_id, channel_id=submission.channel_id,
            user_id=submission.user_id, request=request, provider=self.provider_name, status=JobStatus.QUEUED,
            created_at=now, updated_at=now, cost=self.quotas.cost(request) if self.quotas is not None else 0,
            deliver_by_dm=bool(submission.deliver_by_dm),
        )
        await self.store.insert(job, self.quotas.charge_for(job) if self.quotas is not None else None)
        return job

    def stop_accepting(self) -> None:
        """Refuse new jobs from now on (the bot is stopping)."""
        self.accepting = False

    def resubmission(self, job: Job, *, user_id: int, channel_id: int, prompt: str | None = None) -> Submission:
        """The same settings as an earlier job, for another member or with a new prompt (re-roll, remix). Every
        video setting is given, so the asker's own defaults do not change them; only where the video is
        delivered (`deliver_by_dm`) is left to the asker's settings."""
        request = job.request
        return Submission(
            guild_id=job.guild_id, channel_id=channel_id, user_id=user_id,
            prompt=request.prompt if prompt is None else prompt, duration=request.duration, aspect=request.aspect,
            mode=request.mode, negative_prompt=request.negative_prompt, audio=request.audio,
            checked_image_urls=request.image_urls,
        )


def listing(values: Iterable[object]) -> str:
    """"5, 10 or 15": choices in a sentence a member reads."""
    items = [str(v) for v in values]
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else "".join(items)
