"""What `/show` may post again, in words for the member: only a finished video that has a post in its channel."""

from __future__ import annotations

from bot.core.messages import Message, english_names
from bot.core.models import DeliveryOutcome, Job, JobStatus

UNKNOWN_TO_SHOW_MESSAGE = Message("show.unknown")
NOT_YOURS_TO_SHOW_MESSAGE = Message("show.not_yours")
NOT_MADE_YET_MESSAGE = Message("show.not_made_yet")
NOT_SHOWABLE = {
    JobStatus.QUEUED: NOT_MADE_YET_MESSAGE,
    JobStatus.SUBMITTED: NOT_MADE_YET_MESSAGE,
    JobStatus.PROCESSING: NOT_MADE_YET_MESSAGE,
    JobStatus.COMPLETED: Message("show.being_posted"),
    JobStatus.FAILED: Message("show.failed"),
}
SENT_PRIVATELY = Message("show.sent_privately")
NEVER_POSTED = Message("show.never_posted")
__getattr__ = english_names(__name__, {"UNKNOWN_TO_SHOW": UNKNOWN_TO_SHOW_MESSAGE,
                                       "NOT_YOURS_TO_SHOW": NOT_YOURS_TO_SHOW_MESSAGE,
                                       "NOT_MADE_YET": NOT_MADE_YET_MESSAGE})


def not_showable(job: Job) -> Message | None:
    """Why `job` cannot be posted again (None: it can): not delivered yet, failed, or never posted in a channel,
    so there is no post whose video a new post could show."""
    if job.status is not JobStatus.DELIVERED:
        return NOT_SHOWABLE[job.status]
    if job.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE:
        return SENT_PRIVATELY
    if job.delivery_outcome not in (DeliveryOutcome.ATTACHED, DeliveryOutcome.LINKED) or not job.result_message_id:
        return NEVER_POSTED
    return None
