"""What `/show` may post again, in words for the member: only a finished video that has a post in its channel."""

from __future__ import annotations

from bot.core.models import DeliveryOutcome, Job, JobStatus

UNKNOWN_TO_SHOW = ("I know no video with that id in this server. Pick one from the suggestions as you type, "
                   "or see `/jobs`.")
NOT_YOURS_TO_SHOW = "You can show only your own videos; moderators can show any video of this server."
NOT_MADE_YET = "That video is not made yet: it is posted here when it is done. Try `/show` again after that."
NOT_SHOWABLE = {
    JobStatus.QUEUED: NOT_MADE_YET,
    JobStatus.SUBMITTED: NOT_MADE_YET,
    JobStatus.PROCESSING: NOT_MADE_YET,
    JobStatus.COMPLETED: "That video is finished and being posted right now. Try `/show` again in a moment.",
    JobStatus.FAILED: "That video was not made (it failed and was refunded), so there is nothing to show.",
}
SENT_PRIVATELY = "That video was sent by direct message, so there is no post of it to show here."
NEVER_POSTED = "That video could not be posted anywhere, so there is nothing to show."


def not_showable(job: Job) -> str | None:
    """Why `job` cannot be posted again (None: it can): not delivered yet, failed, or never posted in a channel,
    so there is no post whose video a new post could show."""
    if job.status is not JobStatus.DELIVERED:
        return NOT_SHOWABLE[job.status]
    if job.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE:
        return SENT_PRIVATELY
    if job.delivery_outcome not in (DeliveryOutcome.ATTACHED, DeliveryOutcome.LINKED) or not job.result_message_id:
        return NEVER_POSTED
    return None
