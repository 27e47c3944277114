"""The job engine: one owner for a job's whole path.

    submit -> intake (validate, rules, charge) -> status message -> dispatcher (fair queue) -> provider
    callback or poll -> tracker (the one update path) -> delivery -> publisher

It builds the dispatcher, tracker, delivery and lifecycle from the ports it is given, and is what the edges
call: a cog calls one method (`submit`, `cancel`, `recent`, ...), the HTTP listener hands callbacks to
`tracker`, the application calls `recover`, `run`, `drain` and `close` (through `lead`, bot/core/leadership.py).

Several processes on one database (`signals` given): every process accepts jobs, cancels them and records
callbacks; only the leader runs the dispatcher, the poll loop and delivery (bot/core/leadership.py says why).
A follower tells the leader what it did (a job queued, completed, failed at the provider, cancelled) by a job
signal, and the leader also sweeps the database (bot/core/other_processes.py), because signals can be lost: the
sweep is what makes it correct, the signals only make it fast.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.core.alerts import Alerts
from bot.core.answers_first import Answer, AnswersFirst
from bot.core.background import BackgroundTasks
from bot.core.clock import Clock
from bot.core.continuing import CANNOT_CONTINUE_MESSAGE, Continuations, LastFrames, continuable
from bot.core.delivery import POST_RETRY_DELAYS, Delivery
from bot.core.dispatcher import Dispatcher
from bot.core.errors import InvalidRequest, NotAllowed
from bot.core.eta import START, Estimates, QueueSnapshot
from bot.core.incidents import Incidents
from bot.core.jobs import JobIntake, Submission
from bot.core.leadership import Role
from bot.core.lifecycle import JobLifecycle
from bot.core.log_context import bind_job
from bot.core.media_archive import MediaArchive
from bot.core.member_settings import MemberSettingsService
from bot.core.messages import Message, english_names
from bot.core.metrics import CreditKind, Metrics
from bot.core.models import Job, JobStatus
from bot.core.moderation import Actor, ModerationService
from bot.core.other_processes import OtherProcesses
from bot.core.ports.frames import StartFrames
from bot.core.ports.image_links import ImageLinks
from bot.core.ports.leadership import JobSignal, JobSignals
from bot.core.ports.provider import Provider
from bot.core.ports.publisher import Publisher
from bot.core.ports.repositories import JobEvent, JobRepository, MemberSettingsRepository
from bot.core.ports.video_source import VideoSource
from bot.core.quotas import QuotaService
from bot.core.ratelimit import RateLimiters
from bot.core.schedule import poll_delay
from bot.core.showing import NOT_YOURS_TO_SHOW_MESSAGE, UNKNOWN_TO_SHOW_MESSAGE, not_showable
from bot.core.slots import ProviderSlots
from bot.core.spend import SpendService
from bot.core.tracker import JobTracker, PollSchedule

log = logging.getLogger(__name__)

UNCERTAIN_AFTER_RESTART = Message("failure.uncertain_after_restart")
NOT_STARTED_MESSAGE = Message("failure.not_started")
START_FRAME_NOT_SHOWN = Message("failure.start_frame_not_shown")
STOPPED_BEFORE_START_FRAME = Message("failure.stopped_before_start_frame")
ALREADY_AT_PROVIDER_MESSAGE = Message("cancel.already_at_provider")
NOT_YOURS_MESSAGE = Message("cancel.not_yours")
UNKNOWN_JOB = Message("error.unknown_job")
# The English texts under their former names (tests and logs compare them).
__getattr__ = english_names(__name__, {"NOT_STARTED_REASON": NOT_STARTED_MESSAGE,
                                       "ALREADY_AT_PROVIDER": ALREADY_AT_PROVIDER_MESSAGE,
                                       "NOT_YOURS": NOT_YOURS_MESSAGE})

# Shows a new job's public status message (the queue position it should show, None: going out at once; and its
# estimated start, None: none) and returns the message's id (None when the edge cannot tell). Raises when the
# message could not be shown.
ShowStatus = Callable[[Job, int | None, datetime | None], Awaitable[int | None]]
# Beyond this many waiting jobs a new job's first status message shows its position alone (working out its
# estimate walks the whole queue); the dispatcher's next refresh of positions adds the estimate.
ESTIMATE_AT_ONCE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class JobDetails:
    """A job and its event log (oldest first), for a member's Details."""

    job: Job
    events: list[JobEvent]


class JobNotStarted(Exception):
    """The job was accepted but its status message (or a Continue's start frame on it: `start_frame`) could not
    be shown, so it was failed before it was queued: never sent to the provider. `refunded` is False only when
    even the refund failed."""

    def __init__(self, job: Job, *, refunded: bool, start_frame: bool = False) -> None:
        super().__init__(f"job {job.id} not started")
        self.job = job
        self.refunded = refunded
        self.start_frame = start_frame


@dataclass(frozen=True, slots=True)
class EngineSettings:
    max_concurrent_jobs: int
    job_timeout_seconds: float
    poll_rate_per_minute: int | None  # None: the provider's documented limit
    work_dir: Path  # scratch space for downloads
    poll_schedule: PollSchedule = poll_delay
    delivery_retry_delays: tuple[float, ...] = POST_RETRY_DELAYS


class JobEngine:
    def __init__(
        self, *, provider: Provider, store: JobRepository, quotas: QuotaService, moderation: ModerationService,
        publisher: Publisher, video_source: VideoSource, archive: MediaArchive | None, clock: Clock,
        metrics: Metrics, settings: EngineSettings, callback_url: Callable[[Job], str | None],
        member_settings: MemberSettingsRepository,
        alerts: Alerts | None = None, image_links: ImageLinks | None = None, spend: SpendService | None = None,
        last_frames: LastFrames | None = None, start_frames: StartFrames | None = None,
        signals: JobSignals | None = None,
    ) -> None:
        # None: the only process on its database, always the leader. Given: a follower until `lead`.
        self.signals = signals
        self.role = Role(signals)
        self.spend = spend  # money: estimates, the daily limit and reported costs (bot/core/spend.py)
        self.provider = provider
        self.image_links = image_links  # None: earlier jobs' image links are sent again as stored
        self.store = store
        self.quotas = quotas
        self.moderation = moderation
        self.publisher = publisher
        self.clock = clock
        self.callback_url = callback_url
        self.metrics = metrics
        rate = provider.capabilities.rate_limit
        calls, per_seconds = ((settings.poll_rate_per_minute, 60.0) if settings.poll_rate_per_minute
                              else (rate.calls, rate.per_seconds))
        limiter = RateLimiters(clock).for_key(provider.rate_key, calls, per_seconds)
        # Estimated start and finish (bot/core/eta.py), for /queue and shown in the status messages.
        self.estimates = Estimates(store=store, provider_name=provider.name, expected_seconds=provider.expected_seconds,
                                   clock=clock, slots=settings.max_concurrent_jobs)
        self.lifecycle = JobLifecycle(store, publisher, clock, metrics, eta_of=self.estimates.finish_to_show,
                                      spend=spend.policy if spend is not None else None)
        self.slots = ProviderSlots(settings.max_concurrent_jobs)
        self.answers = AnswersFirst()
        # What the parts report to the operator (bot/core/incidents.py); only logged when no alert sink is set.
        self.incidents = Incidents(alerts or Alerts((), clock), provider.name, clock)
        self.delivery = Delivery(
            lifecycle=self.lifecycle, publisher=publisher, source=video_source, clock=clock, metrics=metrics,
            work_dir=settings.work_dir, archive=archive, retry_delays=settings.delivery_retry_delays,
            disk=self.incidents.disk,
        )
        self.tracker = JobTracker(
            provider=provider, lifecycle=self.lifecycle, delivery=self.delivery, slots=self.slots, limiter=limiter,
            clock=clock, metrics=metrics, timeout_seconds=settings.job_timeout_seconds,
            schedule=settings.poll_schedule, incidents=self.incidents.provider, role=self.role,
        )
        self.dispatcher = Dispatcher(
            provider=provider, lifecycle=self.lifecycle, tracker=self.tracker, slots=self.slots, clock=clock,
            metrics=metrics, callback_url=callback_url, give_up_after=settings.job_timeout_seconds,
            submit_limiter=limiter if rate.includes_submit else None, incidents=self.incidents,
            estimates=self.estimates, before_edits=self.answers.answered,
        )
        self.member_settings = MemberSettingsService(member_settings, provider.capabilities, clock)
        self.intake = JobIntake(store=store, capabilities=provider.capabilities, provider_name=provider.name,
                                clock=clock, quotas=quotas, moderation=moderation, spend=spend)
        # Continue (bot/core/continuing.py): only where the provider starts from an image and both edges are given.
        self.continuations = (
            Continuations(frames=last_frames, start_frames=start_frames, store=store, intake=self.intake, clock=clock)
            if last_frames is not None and start_frames is not None and continuable(provider.capabilities) else None
        )
        self.delivery.continuations = self.continuations  # keeps each delivered clip's last frame
        # What the leader does for the other processes: act on their signals, sweep for what a lost one left.
        self.others = OtherProcesses(
            store=store, dispatcher=self.dispatcher, tracker=self.tracker, delivery=self.delivery, clock=clock,
            provider_name=provider.name, queue=lambda job: self._queue(job, shown_position=None),
            abandon=lambda job: self._abandon(job, STOPPED_BEFORE_START_FRAME),
        )

    # -- a member's job ---------------------------------------------------------------------------------
    async def submit(self, submission: Submission, show_status: ShowStatus) -> Job:
        """Accept (or refuse with a UserFacingError: nothing charged), show the public status message, and
        only then queue the job, so a job whose message could not be shown is refunded and never reaches
        the provider (JobNotStarted). All of it happens before any provider call. Options the member left
        empty take their defaults from /settings here, the one place, before the intake checks them."""
        answer = self.answers.begin()  # until the answer is out, status edits wait (bot/core/answers_first.py)
        try:
            submission = await self.member_settings.apply(submission)
            job = await self.intake.accept(submission)  # charged from here on
            self.metrics.credits(CreditKind.RESERVE, job.cost)
            with bind_job(job):  # every line about the job from here on names it, also in the tasks started here
                return await self._start(job, show_status, answer)
        finally:
            answer.done()

    async def _start(self, job: Job, show_status: ShowStatus, answer: Answer) -> Job:
        position = self._expected_position()
        eta = await self._expected_start(job) if position is not None else None
        try:
            message_id = await show_status(job, position, eta)
        except Exception:
            answer.done()
            log.warning("the status message could not be shown; the job is not started", exc_info=True)
            raise JobNotStarted(job, refunded=await self._abandon(job)) from None
        answer.done()
        if message_id is not None:
            await self._attach_status_message(job, message_id)
        if job.parent_job_id is not None:
            await self._show_start_frame(job)
        try:
            await self._queue(job, shown_position=position, answer=answer)
        except Exception:  # the member sees a queued job, which is true: recover() queues it at the next start
            log.exception("the job could not be queued now; it is queued again at the next start")
        return job

    async def resubmit(self, job_id: str, show_status: ShowStatus, *, user_id: int, channel_id: int,
                       prompt: str | None = None) -> Job:
        """An earlier job's settings again, for whoever asks (charged to them), with a new prompt when given:
        Re-roll and Remix. Like `submit`, with UserFacingError when the earlier job is unknown or its images can
        no longer be had (their links are renewed first: `image_links`)."""
        earlier = await self.get(job_id)
        submission = self.intake.resubmission(earlier, user_id=user_id, channel_id=channel_id or earlier.channel_id,
                                              prompt=prompt)
        end = (submission.checked_end_image_url,) if submission.checked_end_image_url else ()
        if (submission.checked_image_urls or end) and self.image_links is not None:
            # Before anything is charged: Discord's links to the images expire (ImageUnavailable says so).
            urls = await self.image_links.refresh((*submission.checked_image_urls, *end))
            starts = urls[:len(submission.checked_image_urls)]
            submission = dataclasses.replace(submission, checked_image_urls=starts,
                                             checked_end_image_url=urls[-1] if end else None)
        return await self.submit(submission, show_status)

    async def continue_from(self, job_id: str, show_status: ShowStatus, *, guild_id: int, user_id: int,
                            channel_id: int, prompt: str) -> Job:
        """Continue: the earlier clip's last frame starts a new job with `prompt` and the earlier settings, for
        whoever asks (charged to them, like `submit`). Refused with InvalidRequest, nothing charged, when the
        frame is not kept or the provider cannot start from an image (bot/core/continuing.py)."""
        earlier = await self.get(job_id)
        if self.continuations is None:
            raise InvalidRequest(CANNOT_CONTINUE_MESSAGE)
        submission = await self.continuations.submission(
            earlier, guild_id=guild_id, user_id=user_id, channel_id=channel_id or earlier.channel_id, prompt=prompt)
        return await self.submit(submission, show_status)

    async def ready_to_continue(self, job_id: str, *, guild_id: int) -> Job:
        """The job a Continue form is opened for; InvalidRequest (nothing charged) when it cannot be continued,
        so the member hears it before typing a prompt. `continue_from` checks again."""
        earlier = await self.get(job_id)
        if self.continuations is None:
            raise InvalidRequest(CANNOT_CONTINUE_MESSAGE)
        await self.continuations.check(earlier, guild_id=guild_id)
        return earlier

    async def _show_start_frame(self, job: Job) -> None:
        """A Continue's start frame on its status message, its link the job's start image; when that fails the
        job is refunded and not started (JobNotStarted)."""
        try:
            assert self.continuations is not None
            await self.continuations.show_start_frame(job)
        except Exception:
            log.warning("the start frame could not be shown; the job is not started", exc_info=True)
            raise JobNotStarted(job, refunded=await self._abandon(job, START_FRAME_NOT_SHOWN),
                                start_frame=True) from None

    async def get(self, job_id: str) -> Job:
        """A job by id; InvalidRequest (shown to the member) when the bot no longer knows it."""
        job = await self.store.get(job_id)
        if job is None:
            raise InvalidRequest(UNKNOWN_JOB)
        return job

    async def queue(self) -> QueueSnapshot:
        """What is at the provider and what waits, in the order the dispatcher sends it, with estimated start
        and finish times (/queue). Covers every server: they share the provider's slots. A follower does not hold
        the queue: it reads the jobs from the database, waiting ones oldest first (close to the leader's order)."""
        if self.role.following:
            at_provider = await self.store.with_status((JobStatus.SUBMITTED, JobStatus.PROCESSING))
            return await self.estimates.snapshot(at_provider, await self.store.with_status((JobStatus.QUEUED,)))
        return await self.estimates.snapshot(self.dispatcher.at_provider(), self.dispatcher.waiting())

    async def recent(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        return await self.store.recent_for_user(guild_id, user_id, limit)

    async def details(self, job_id: str, actor: Actor) -> JobDetails:
        """Everything about one job of the actor's server (its result post is public there, so anyone in the
        server may read it); InvalidRequest for another server's or an unknown job."""
        job = await self.store.get(job_id)
        if job is None or job.guild_id != actor.guild_id:
            raise InvalidRequest(UNKNOWN_JOB)
        return JobDetails(job, await self.store.events(job_id))

    async def show(self, job_id: str, actor: Actor) -> Job:
        """A finished job to post again in the actor's server: their own, or any of the server for a moderator;
        another server's never (it is answered as unknown, so ids of other servers are not confirmed). Raises
        InvalidRequest or NotAllowed with words for the member."""
        job = await self.store.get(job_id.strip().lower())
        if job is None or job.guild_id != actor.guild_id:
            raise InvalidRequest(UNKNOWN_TO_SHOW_MESSAGE)
        if job.user_id != actor.user_id and not await self.moderation.is_moderator(actor):
            raise NotAllowed(NOT_YOURS_TO_SHOW_MESSAGE)
        refusal = not_showable(job)
        if refusal is not None:
            raise InvalidRequest(refusal)
        return job

    async def cancel(self, job_id: str, actor: Actor) -> Job:
        """Cancel a queued job: out of the queue, refunded, never submitted. Its requester or a moderator
        may; a job already at the provider cannot be stopped (raises NotAllowed saying so)."""
        job = await self.get(job_id)
        with bind_job(job):
            return await self._cancel(job, actor)

    async def _cancel(self, job: Job, actor: Actor) -> Job:
        job_id = job.id
        if job.guild_id != actor.guild_id:
            raise NotAllowed("cancel.other_server")
        if job.user_id != actor.user_id and not await self.moderation.is_moderator(actor):
            raise NotAllowed(NOT_YOURS_MESSAGE)
        # Only a job still in the queue is safe to cancel: once the dispatcher has taken it, a submit may be
        # on the wire, and cancelling then could leave a paid video nobody tracks.
        if job.status is not JobStatus.QUEUED:
            raise NotAllowed(ALREADY_AT_PROVIDER_MESSAGE if job.status is not JobStatus.FAILED
                             else Message("cancel.already_stopped"))
        claimed = False
        if not self.dispatcher.withdraw(job_id):
            if self.signals is None:  # one process: not in its queue means taken for submission
                raise NotAllowed(ALREADY_AT_PROVIDER_MESSAGE)
            # Several processes: the queue is the leader's. Claiming the job the way the dispatcher does before a
            # submit decides in the database: if the cancel wins, the leader's dispatcher skips the job.
            if not await self.store.claim_submit(job_id, self.clock.now(), attempts=job.attempts):
                raise NotAllowed(ALREADY_AT_PROVIDER_MESSAGE)
            claimed = True
        failed = await self.lifecycle.fail(job_id, JobStatus.QUEUED,
                                           Message("failure.cancelled", {"by": f"<@{actor.user_id}>"}),
                                           detail=f"cancelled by {actor.user_id}",
                                           **({"submitting_since": None} if claimed else {}))
        if failed is None:  # cannot happen while it was in the queue; said plainly if it ever does
            raise NotAllowed("cancel.moved_on")
        if claimed:
            await self.role.tell_leader(JobSignal.CANCELLED, job_id)  # out of the leader's queue and positions
        return failed

    def _expected_position(self) -> int | None:
        """The queue position a job accepted now will most likely get (None: it goes out at once), for its
        status message, which is shown before the job is queued: the dispatcher's rule, job at the back. A
        follower does not know the leader's queue: its jobs show "Queued" until the leader shows their place."""
        if self.role.following:
            return None
        position = len(self.dispatcher.queue) + 1
        return position if position > self.slots.limit - self.slots.in_use else None

    async def _expected_start(self, job: Job) -> datetime | None:
        """The estimated start a job accepted now shows in its first status message (bot/core/eta.py), with the
        job at the back of the queue like `_expected_position`; None when not estimated now."""
        if len(self.dispatcher.queue) > ESTIMATE_AT_ONCE_LIMIT:
            return None
        try:
            typical = await self.estimates.typical()
        except Exception:
            log.warning("could not read the recent generation times; no estimate shown", exc_info=True)
            return None
        planned = self.estimates.plan_with(typical, self.dispatcher.at_provider(), [*self.dispatcher.waiting(), job])
        return self.estimates.to_show(job.id, START, planned[job.id].start)[0]

    async def _queue(self, job: Job, *, shown_position: int | None, answer: Answer | None = None) -> None:
        if self.role.following:  # the leader queues it (and its sweep finds it should the signal be lost)
            await self.role.tell_leader(JobSignal.QUEUED, job.id)
            return
        position = self.dispatcher.enqueue(job)
        if position is not None and position != shown_position:
            # Its place is not the one its message shows (the fair queue put it elsewhere, or other jobs came
            # meanwhile). While other answers are being prepared the edit waits for them: the position refresher
            # makes it (bot/core/answers_first.py). A job queued without an answer of its own (a follower's, or
            # recovered) waits only for answers being prepared right now.
            others = not self.answers.quiet(answer) if answer is not None else self.answers.preparing > 0
            if others:
                self.dispatcher.correct_position(job.id, shown_position)
            else:
                await self.dispatcher.show_queued(job, position, self.estimates.shown(job.id, START))

    async def _abandon(self, job: Job, reason: Message = NOT_STARTED_MESSAGE) -> bool:
        """Fail a charged job that was never queued, refunding it; False when even that failed."""
        try:
            await self.lifecycle.fail(job.id, JobStatus.QUEUED, reason, detail=f"not started: {reason}")
        except Exception:
            log.exception("could not refund a job that was never started")
            return False
        return True

    async def _attach_status_message(self, job: Job, message_id: int) -> None:
        """Remember where the job's status is shown; a job that moved on meanwhile is shown as it is now."""
        job.status_message_id = message_id
        await self.store.update(job.id, self.clock.now(), status_message_id=message_id)
        current = await self.store.get(job.id)
        if current is not None and current.status is not JobStatus.QUEUED:
            await self.lifecycle.announce(current)

    # -- the bot's own life -------------------------------------------------------------------------------
    async def recover(self) -> dict[str, int]:
        """Pick up where the last run stopped: nothing in flight is lost, nothing is sent twice. Returns
        how many jobs went which way."""
        unfinished = await self.store.with_status(
            (JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.PROCESSING, JobStatus.COMPLETED)
        )
        counts = {"queued": 0, "tracking": 0, "delivering": 0, "uncertain": 0, "cancelled": 0}
        for job in unfinished:
            with bind_job(job):
                if job.status is JobStatus.COMPLETED:
                    counts["delivering"] += 1  # the video exists, whichever provider made it
                    self.delivery.schedule(job)
                elif job.provider != self.provider.name:
                    counts["cancelled"] += 1
                    await self.lifecycle.fail(job.id, job.status, Message("failure.provider_switched", {
                        "old": job.provider, "new": self.provider.name}))
                elif job.status is JobStatus.QUEUED and job.submitting_since is not None:
                    counts["uncertain"] += 1
                    if await self.lifecycle.fail(job.id, JobStatus.QUEUED, UNCERTAIN_AFTER_RESTART,
                                                 detail="needs reconciliation: restarted during submit",
                                                 submitting_since=None):
                        self.incidents.reconciliation.job_needs_reconciliation(job.id)
                elif job.status is JobStatus.QUEUED and job.parent_job_id is not None and not job.request.image_urls:
                    counts["cancelled"] += 1  # a Continue stopped before its start frame was shown: never sent
                    await self._abandon(job, STOPPED_BEFORE_START_FRAME)
                elif job.status is JobStatus.QUEUED:
                    counts["queued"] += 1
                    self.dispatcher.enqueue(job)
                else:
                    counts["tracking"] += 1
                    self.dispatcher.resumed_at_provider(job)
                    self.tracker.track(job, callback_expected=self.callback_url(job) is not None, resumed=True)
        if unfinished:
            log.info("resumed unfinished jobs: %s", counts)
        await self.quotas.refund_missed()  # failed before a stop, with the refund not yet written
        return counts

    def run(self, background: BackgroundTasks) -> None:
        """Start the engine's loops, watched by `background`."""
        background.start("dispatcher", self.dispatcher.run())
        background.start("poll-loop", self.tracker.run())

    # -- leading, with several processes on one database (bot/core/leadership.py) -------------------------
    async def lead(self, background: BackgroundTasks) -> None:
        """Become the process that dispatches, polls and delivers: pick up every unfinished job (`recover`),
        start the loops, and, with several processes, hear their signals and sweep for what a lost signal
        left behind. Listening starts after `recover` has read the jobs: what is announced before is in them
        or found by the first sweep."""
        self.role.leading = True
        await self.recover()
        self.run(background)
        if self.signals is not None:
            background.start("job-signals", self.signals.listen(self.others.on_signal))
            background.start("leader-sweep", self.others.sweep_forever())

    def stop_leading(self) -> None:
        """This process is no longer sure it leads and is about to stop: send nothing more, deliver nothing
        more that a follower's callback finishes."""
        self.role.leading = False
        self.dispatcher.stop_sending()

    async def drain(self, grace: float) -> int:
        """The first part of a graceful stop: refuse new jobs, and give submits on the wire up to `grace`
        seconds to be answered and recorded. Returns how many were still unanswered."""
        self.intake.stop_accepting()
        return await self.dispatcher.drain(grace)

    async def close(self) -> None:
        for part in (self.dispatcher, self.tracker, self.delivery):
            try:
                await part.close()
            except Exception:
                log.exception("closing the job engine's %s failed", part.__class__.__name__)
