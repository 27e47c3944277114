"""`kling-bot refund JOB` and `kling-bot grant GUILD USER AMOUNT`: the operator's credit changes, written to
the same ledger as everything else (refunds at most once per job; a grant counts in the current period)."""

from __future__ import annotations

from bot.admin.database import existing_stores
from bot.admin.output import AdminError
from bot.config import Settings, quota_policy
from bot.core.clock import SystemClock
from bot.core.models import ACTIVE
from bot.core.moderation import ModerationService
from bot.core.ports.repositories import LedgerEntry, LedgerKind
from bot.core.quotas import QuotaService, period_at
from storage.backends import Stores

OPERATOR = None  # the ledger's actor for the operator's changes: not a Discord member
REFUND_DETAIL = "refunded by the operator"
GRANT_DETAIL = "granted by the operator"


async def refund(settings: Settings, job_id: str) -> int:
    clock = SystemClock()
    async with existing_stores(settings) as stores:
        job = await stores.jobs.get(job_id)
        if job is None:
            raise AdminError(f"there is no job {job_id}: `kling-bot jobs` lists them")
        refunded = await stores.quotas.refund(job_id, clock.now(), REFUND_DETAIL)
        charge = await stores.admin.charge(job_id)
    who = f"member {job.user_id} on server {job.guild_id}"
    if refunded is not None:
        print(f"refunded {refunded} credits for job {job_id} ({who}, {job.status.value})")
        if job.status in ACTIVE:
            print(f"  the job is still {job.status.value}: if it finishes, the member gets the video as well")
    elif charge.reserved is None:
        print(f"job {job_id} ({who}) was never charged: nothing to refund")
    else:
        at = charge.refunded_at.strftime("%Y-%m-%d %H:%M UTC") if charge.refunded_at else "earlier"
        print(f"job {job_id} ({who}) was already refunded ({charge.refunded} credits, {at}): nothing changed")
    return 0


async def grant(settings: Settings, guild_id: int, user_id: int, amount: int) -> int:
    clock = SystemClock()
    period = period_at(clock.now(), settings.quota_period)
    entry = LedgerEntry(LedgerKind.GRANT, guild_id, period.key, clock.now(), user_id=user_id, actor_id=OPERATOR,
                        amount=amount, detail=GRANT_DETAIL)
    async with existing_stores(settings) as stores:
        await stores.quotas.append(entry)  # the operator's own grant: no moderator of the server is involved
        balance = await _quotas(stores, settings).balance(guild_id, user_id)
    print(f"granted {amount} credits to member {user_id} on server {guild_id} for {period.word} "
          f"(the period from {period.key}); they have {balance.remaining} of {balance.allowance} credits left")
    return 0


def _quotas(stores: Stores, settings: Settings) -> QuotaService:
    return QuotaService(store=stores.quotas, moderation=ModerationService(stores.guild_settings),
                        policy=quota_policy(settings), clock=SystemClock())
