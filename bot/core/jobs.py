"""Intake: what a member asked for, checked against the provider's capabilities and the server's rules,
and accepted as a queued job with its charge taken in the same transaction."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from bot.core.clock import Clock
from bot.core.creative import camera_move, check_end_image, check_storyboard
from bot.core.errors import InvalidRequest, NotAllowed
from bot.core.messages import Choices
from bot.core.models import Job, JobStatus, Shot, VideoRequest
from bot.core.moderation import ModerationService
from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import JobRepository
from bot.core.quotas import QuotaService
from bot.core.spend import SpendLimitReached, SpendService
from bot.core.storyboard import parse_shots, storyboard_text

log = logging.getLogger(__name__)

PROMPT_LIMIT = 2500
RESTARTING = "error.restarting"


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
    end_image: ImageInput | None = None  # the last frame
    checked_end_image_url: str | None = None  # an earlier job's last frame (re-roll, remix)
    camera: str | None = None  # a move in bot/core/camera.py
    camera_strength: int | None = None  # a simple move's strength (None: the provider's default)
    # A storyboard: the job's duration is the shots' sum and its prompt their text, one shot a line
    # (`prompt` and `duration` above are not used then).
    shots: tuple[Shot, ...] = ()
    # Continue (bot/core/continuing.py): the job whose last frame starts this one (its link is added once the
    # status message shows the frame; counted as an image here), and the result post the new result replies to.
    continues: str | None = None
    reply_to_message_id: int | None = None


def new_job_id() -> str:
    return secrets.token_hex(8)


class JobIntake:
    """Without `quotas` nothing is charged; without `moderation` no server rules apply. The engine always
    passes both."""

    def __init__(
        self, *, store: JobRepository, capabilities: Capabilities, provider_name: str, clock: Clock,
        quotas: QuotaService | None = None, moderation: ModerationService | None = None,
        spend: SpendService | None = None,
    ) -> None:
        self.spend = spend  # None: no money is estimated or limited
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
        prompt = storyboard_text(submission.shots) if submission.shots else submission.prompt.strip()
        if not prompt:
            raise InvalidRequest("error.prompt_empty")
        if len(prompt) > PROMPT_LIMIT:
            raise InvalidRequest("error.prompt_too_long", length=len(prompt), limit=PROMPT_LIMIT)
        duration = caps.durations[0] if submission.duration is None else submission.duration
        images = (*submission.images, *((submission.end_image,) if submission.end_image else ()))
        if submission.shots:
            duration = check_storyboard(caps, submission.shots, has_images=bool(
                images or submission.checked_image_urls or submission.checked_end_image_url))
        aspect = submission.aspect or caps.aspects[0]
        if duration not in caps.durations and not submission.shots:
            raise InvalidRequest("error.duration_choices", choices=Choices.of(caps.durations))
        if aspect not in caps.aspects:
            raise InvalidRequest("error.aspect_choices", choices=Choices.of(caps.aspects))
        mode = submission.mode or caps.modes[0]
        if mode not in caps.modes:
            raise InvalidRequest("error.mode_choices", choices=Choices.of(caps.modes))
        negative = (submission.negative_prompt or "").strip() or None
        if negative and not caps.negative_prompt:
            raise InvalidRequest("error.no_negative_prompt")
        if negative and len(negative) > PROMPT_LIMIT:
            raise InvalidRequest("error.negative_prompt_too_long", limit=PROMPT_LIMIT)
        if submission.audio and not caps.audio:
            raise InvalidRequest("error.no_audio")
        image_urls = (*submission.checked_image_urls, *(image.url for image in submission.images))
        end_image_url = submission.checked_end_image_url or (submission.end_image.url if submission.end_image
                                                             else None)
        if end_image_url is not None:
            check_end_image(caps, has_start=bool(image_urls))
        # The end image is checked like the others (type, size), but it is not one of the provider's
        # `max_images`: counted apart.
        self._check_images(submission.images,
                           len(submission.checked_image_urls) + (1 if submission.continues else 0))
        if submission.end_image is not None:
            self._check_images((submission.end_image,), 0)
        camera = camera_move(caps, submission.camera, submission.camera_strength,
                             has_end_image=end_image_url is not None, storyboard=bool(submission.shots))
        return VideoRequest(
            prompt=prompt, duration=duration, aspect=aspect, mode=mode,
            negative_prompt=negative, audio=bool(submission.audio), image_urls=image_urls,
            end_image_url=end_image_url, camera=camera, shots=submission.shots,
        )

    def _check_images(self, images: tuple[ImageInput, ...], already_checked: int) -> None:
        caps = self.capabilities
        if not images and not already_checked:
            return
        if not caps.image_input:
            raise InvalidRequest("error.no_image_input")
        if len(images) + already_checked > caps.max_images:
            raise InvalidRequest("error.too_many_images", count=caps.max_images)
        for image in images:
            kind = (image.content_type or "").split(";")[0].strip().lower()
            if kind not in caps.image_types:
                allowed = Choices.of(sorted(t.removeprefix("image/").upper() for t in caps.image_types))
                raise InvalidRequest("error.image_type", filename=image.filename, choices=allowed)
            if image.size > caps.max_image_bytes:
                raise InvalidRequest("error.image_too_large", filename=image.filename,
                                     size=image.size / 1024 / 1024, limit=caps.max_image_bytes // (1024 * 1024))

    async def accept(self, submission: Submission) -> Job:
        """Validate, apply the server's rules, and record the job as queued with its charge reserved in the
        same transaction. Raises a UserFacingError (nothing charged) when it cannot be accepted. Nothing
        goes to the provider until the engine queues it."""
        if not self.accepting:
            raise NotAllowed(RESTARTING)
        request = self.build_request(submission)
        if self.moderation is not None:
            await self.moderation.check_submission(
                submission.guild_id, submission.channel_id,
                (request.prompt, request.negative_prompt, *(shot.prompt for shot in request.shots)),
            )
        now = self.clock.now()
        job = Job(
            id=new_job_id(), guild_id=submission.guild_id, channel_id=submission.channel_id,
            user_id=submission.user_id, request=request, provider=self.provider_name, status=JobStatus.QUEUED,
            created_at=now, updated_at=now, cost=self.quotas.cost(request) if self.quotas is not None else 0,
            deliver_by_dm=bool(submission.deliver_by_dm),
            parent_job_id=submission.continues, reply_to_message_id=submission.reply_to_message_id,
        )
        spend = self.spend.charge_for(job) if self.spend is not None else None
        try:
            await self.store.insert(job, self.quotas.charge_for(job) if self.quotas is not None else None, spend)
        except SpendLimitReached as refusal:
            if self.spend is not None:
                self.spend.refused(refusal)
            raise
        if self.spend is not None:
            self.spend.accepted(job)
        return job

    def stop_accepting(self) -> None:
        """Refuse new jobs from now on (the bot is stopping)."""
        self.accepting = False

    def resubmission(self, job: Job, *, user_id: int, channel_id: int, prompt: str | None = None) -> Submission:
        """The same settings as an earlier job, for another member or with a new prompt (re-roll, remix). Every
        video setting is given, so the asker's own defaults do not change them; only where the video is
        delivered (`deliver_by_dm`) is left to the asker's settings."""
        request = job.request
        camera = request.camera
        shots = request.shots
        if shots and prompt is not None:
            shots = parse_shots(prompt)  # a storyboard's Remix edits its shots, one a line
        return Submission(
            guild_id=job.guild_id, channel_id=channel_id, user_id=user_id,
            prompt=request.prompt if prompt is None else prompt, duration=request.duration, aspect=request.aspect,
            mode=request.mode, negative_prompt=request.negative_prompt, audio=request.audio,
            checked_image_urls=request.image_urls, checked_end_image_url=request.end_image_url,
            camera=camera.name if camera is not None else None,
            camera_strength=camera.strength if camera is not None else None, shots=shots,
        )

