"""`kling-bot reconcile`: jobs the bot failed because it could not tell whether the provider started them
(the submit's answer never came). The operator looks each up in the provider's dashboard and settles it:

- `--failed`: the provider made nothing. The charge is refunded (if it was not already), once.
- `--delivered URL`: the provider did make it (and billed the account). The URL is recorded on the job.
  The job stays failed, as its member was told, and the member keeps the refund: they got nothing in
  Discord and were not at fault. Nothing is posted; share the link with them if you like.

A settled job is no longer listed.
"""

from __future__ import annotations

from bot.admin.database import existing_stores
from bot.admin.output import AdminError, clip, table, when
from bot.config import Settings
from bot.core.clock import SystemClock
from storage.admin import Settlement, SettleOutcome, Unreconciled

REASON_WIDTH = 70
HEADERS = ("id", "guild", "user", "created (UTC)", "provider", "credits", "why")


async def list_jobs(settings: Settings) -> int:
    async with existing_stores(settings) as stores:
        waiting = await stores.admin.unreconciled()
    if not waiting:
        print("no jobs need reconciliation")
        return 0
    rows = [
        (item.job.id, str(item.job.guild_id), str(item.job.user_id), when(item.job.created_at), item.job.provider,
         _credits(item), clip(item.reason, REASON_WIDTH))
        for item in waiting
    ]
    print(table(HEADERS, rows))
    print(f"{len(waiting)} job(s) need reconciliation. Look each up in the provider's dashboard, then settle it:\n"
          "  kling-bot reconcile JOB --failed          (the provider made nothing)\n"
          "  kling-bot reconcile JOB --delivered URL   (it made the video: record its link)")
    return 0


async def settle(settings: Settings, job_id: str, *, video_url: str | None) -> int:
    now = SystemClock().now()
    async with existing_stores(settings) as stores:
        store = stores.admin
        if video_url is None:
            outcome = await store.settle_failed(job_id, now)
        else:
            outcome = await store.settle_delivered(job_id, video_url, now)
    _refuse_unless_settled(job_id, outcome)
    job = outcome.job
    assert job is not None
    who = f"member {job.user_id} on server {job.guild_id}, channel {job.channel_id}"
    if video_url is None:
        credits = (f"{outcome.refunded} credits refunded now" if outcome.refunded is not None
                   else "its charge was already refunded (or it was never charged)")
        print(f"job {job_id} settled as failed at the provider ({who}); {credits}")
    else:
        print(f"job {job_id} settled as made at the provider ({who}); its link is recorded and the member keeps "
              f"the refund. Nothing was posted in Discord: share {video_url} with them if you like.")
    return 0


def _credits(item: Unreconciled) -> str:
    if item.refunded is not None:
        return f"{item.refunded} refunded"
    return "not charged" if item.reserved is None else f"{item.reserved} charged"


def _refuse_unless_settled(job_id: str, outcome: SettleOutcome) -> None:
    if outcome.result == Settlement.UNKNOWN_JOB:
        raise AdminError(f"there is no job {job_id}: `kling-bot reconcile` lists the jobs to settle")
    if outcome.result == Settlement.ALREADY:
        raise AdminError(f"job {job_id} was already reconciled ({outcome.earlier}); nothing changed")
    if outcome.result == Settlement.NOT_NEEDED:
        status = outcome.job.status.value if outcome.job else "unknown"
        raise AdminError(f"job {job_id} does not need reconciliation (it is {status}); nothing changed")
