"""`/video` end to end on the built-in sandbox: a real discord.py client, the bot's own listener."""

from __future__ import annotations

from bot.core.models import DeliveryOutcome, JobStatus
from tests.harness import ALICE, CHANNEL, BotHarness


async def test_video_is_generated_and_posted_in_the_channel(sandbox_bot: BotHarness) -> None:
    interaction = await sandbox_bot.video("a paper boat on a stormy sea", duration=10, aspect="9:16")
    response = await interaction.wait_response()
    assert response["type"] == 4
    embed = response["data"]["embeds"][0]
    assert "Queued" in embed["title"] and "paper boat" in embed["description"]
    assert not response["data"].get("flags")  # public, not ephemeral

    job = await sandbox_bot.job_for(interaction)
    delivered = await sandbox_bot.wait_status(job.id, JobStatus.DELIVERED, timeout=15)
    assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED

    [post] = sandbox_bot.results_in(CHANNEL)
    assert f"<@{ALICE}>" in post["content"]
    assert post["attachments"][0]["filename"].endswith(".mp4")
    assert post["message_reference"]["message_id"] == str(interaction.original_message_id)
    assert "Sandbox" in post["embeds"][0]["footer"]["text"]
    assert {c["custom_id"].split(":")[1] for row in post["components"] for c in row["components"]} == {
        "reroll", "remix", "details", "continue"}
    # The status message was edited to its final state with the bot's token.
    await sandbox_bot.status_reads(interaction, "Done")
    statuses = [e.to_status for e in await sandbox_bot.running.store.events(job.id) if e.to_status]
    assert statuses == [JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.COMPLETED, JobStatus.DELIVERED]


async def test_a_sandbox_failure_is_explained_and_refunded(sandbox_bot: BotHarness) -> None:
    interaction = await sandbox_bot.video("show me a failure sandbox:fail")
    job = await sandbox_bot.job_for(interaction)
    failed = await sandbox_bot.wait_status(job.id, JobStatus.FAILED, timeout=15)
    assert "content filter" in (failed.last_error or "")
    ledger = await sandbox_bot.sql("SELECT kind, amount FROM quota_ledger WHERE job_id = ? ORDER BY id", job.id)
    assert ledger == [("reserve", 5), ("refund", 5)]
    assert sandbox_bot.results_in(CHANNEL) == []
