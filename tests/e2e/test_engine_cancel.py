"""The engine's cancel: a queued job leaves the queue refunded and is never sent; one already at the
provider cannot be stopped there; only its requester or a moderator may cancel it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.engine import ALREADY_AT_PROVIDER, NOT_YOURS
from bot.core.errors import NotAllowed
from bot.core.models import JobStatus
from bot.core.moderation import Actor
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, GUILD, MANAGE_GUILD, settle


async def test_cancel_takes_a_queued_job_out_refunded_and_never_sent(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, max_concurrent_jobs=1)
    app = await harness.start()
    try:
        first = await harness.job_for(await harness.video("holds the only slot"))
        first = await harness.wait_status(first.id, JobStatus.SUBMITTED)
        queued = await harness.job_for(await harness.video("waits", user_id=BOB))
        moderated = await harness.job_for(await harness.video("waits too", user_id=BOB))

        with pytest.raises(NotAllowed, match=NOT_YOURS):
            await app.engine.cancel(queued.id, Actor(GUILD, ALICE, permissions=0))
        with pytest.raises(NotAllowed) as at_provider:
            await app.engine.cancel(first.id, Actor(GUILD, ALICE, permissions=0))
        assert str(at_provider.value) == ALREADY_AT_PROVIDER

        cancelled = await app.engine.cancel(queued.id, Actor(GUILD, BOB, permissions=0))
        assert cancelled.status is JobStatus.FAILED and f"Cancelled by <@{BOB}>" in (cancelled.last_error or "")
        by_moderator = await app.engine.cancel(moderated.id, Actor(GUILD, ALICE, permissions=MANAGE_GUILD))
        assert f"Cancelled by <@{ALICE}>" in (by_moderator.last_error or "")
        assert await harness.sql("SELECT job_id, kind FROM quota_ledger WHERE user_id = ? ORDER BY id", BOB) == [
            (queued.id, "reserve"), (moderated.id, "reserve"), (queued.id, "refund"), (moderated.id, "refund")]

        runblob.set_state(first.provider_job_id or "", "completed")  # the slot frees up
        await harness.wait_status(first.id, JobStatus.DELIVERED)
        await settle(0.3)
        assert runblob.submit_calls == 1  # neither cancelled job went out
        with pytest.raises(NotAllowed, match="already stopped"):
            await app.engine.cancel(queued.id, Actor(GUILD, BOB, permissions=0))
    finally:
        await harness.stop()
