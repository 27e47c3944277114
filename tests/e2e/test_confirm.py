"""The cost preview (CONFIRM_ABOVE_CREDITS) through the fake Discord: a private confirm with the cost and what
is left, nothing charged until Confirm, never charged twice, and still answerable after a restart."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import JobStatus
from tests.e2e.commands import EPHEMERAL, private_reply
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.harness import ALICE, BOB, BotHarness, settle

UPDATE_MESSAGE = 7
EXPIRED = ("This confirmation has expired or was already used, so nothing was started or charged. "
           "Run the command again.")


@pytest.fixture
async def asking(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = BotHarness(discord_fake, tmp_path, confirm_above_credits=5, default_user_quota=30)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


def buttons(message: dict[str, Any] | None) -> list[str]:
    rows = (message or {}).get("components") or []
    return [item["custom_id"] for row in rows for item in row.get("components", [])]


async def charged(harness: BotHarness) -> list[Any]:
    return await harness.sql("SELECT user_id, amount FROM quota_ledger WHERE kind = 'reserve' ORDER BY id")


async def preview_of(interaction: FakeInteraction) -> tuple[str, dict[str, Any], str]:
    text = await private_reply(interaction)
    message = interaction.response_message
    assert message is not None
    [confirm, cancel] = buttons(message)
    token = re.fullmatch(r"kb:confirm:([0-9a-f]{16})", confirm)
    assert token is not None and cancel == f"kb:unconfirm:{token[1]}"
    return text, message, confirm


async def test_a_video_above_the_threshold_waits_for_confirm_and_is_charged_once(
    asking: BotHarness, discord_fake: FakeDiscord
) -> None:
    text, message, confirm = await preview_of(await asking.video("a slow river", duration=10))
    assert text == ("This video costs **10** credits. You have **30** left today, so **20** would be left after it.\n"
                    "Nothing is charged until you press **Confirm** (within 10 minutes).")
    await settle(0.2)
    assert await charged(asking) == [] and await asking.sql("SELECT COUNT(*) FROM jobs") == [(0,)]

    click = await discord_fake.click_button(message=message, custom_id=confirm, user_id=ALICE)
    response = await click.wait_response()
    assert response["type"] == 4 and not response["data"].get("flags", 0) & EPHEMERAL  # the public status
    job = await asking.job_for(click)
    assert job.request.duration == 10 and job.request.prompt == "a slow river"
    await asking.wait_status(job.id, JobStatus.DELIVERED)

    again = await discord_fake.click_button(message=message, custom_id=confirm, user_id=ALICE)
    assert await private_reply(again) == EXPIRED
    assert await charged(asking) == [(ALICE, 10)]


async def test_at_or_below_the_threshold_starts_at_once(asking: BotHarness) -> None:
    job = await asking.job_for(await asking.video("a quick one", duration=5))
    assert job.cost == 5 and await charged(asking) == [(ALICE, 5)]


async def test_cancel_starts_nothing_and_the_confirm_then_expires(
    asking: BotHarness, discord_fake: FakeDiscord
) -> None:
    _, message, confirm = await preview_of(await asking.video("not this one", duration=10))
    token = confirm.rsplit(":", 1)[1]
    cancel = await discord_fake.click_button(message=message, custom_id=f"kb:unconfirm:{token}", user_id=ALICE)
    response = await cancel.wait_response()
    assert response["type"] == UPDATE_MESSAGE
    assert response["data"]["content"] == "Cancelled: nothing was started or charged."
    assert await asking.sql("SELECT COUNT(*) FROM pending_confirmations") == [(0,)]
    assert await charged(asking) == []


async def test_a_confirm_survives_a_restart(asking: BotHarness, discord_fake: FakeDiscord) -> None:
    _, message, confirm = await preview_of(await asking.video("after the restart", duration=10))
    await asking.restart()
    click = await discord_fake.click_button(message=message, custom_id=confirm, user_id=ALICE)
    job = await asking.job_for(click)
    assert job.request.prompt == "after the restart"
    assert await charged(asking) == [(ALICE, 10)]


async def test_confirm_checks_the_credits_again(asking: BotHarness, discord_fake: FakeDiscord) -> None:
    _, first, first_confirm = await preview_of(await asking.video("first", duration=10))
    _, second, second_confirm = await preview_of(await asking.video("second", duration=10))
    _, third, third_confirm = await preview_of(await asking.video("third", duration=15))
    for message, confirm in ((first, first_confirm), (second, second_confirm)):
        await asking.job_for(await discord_fake.click_button(message=message, custom_id=confirm, user_id=ALICE))
    refused = await private_reply(await discord_fake.click_button(message=third, custom_id=third_confirm,
                                                                  user_id=ALICE))
    assert refused.startswith("You have 10 of 30 credits left today; a 15 s std video costs 15.")
    assert await charged(asking) == [(ALICE, 10), (ALICE, 10)]


async def test_reroll_above_the_threshold_asks_the_clicker(asking: BotHarness, discord_fake: FakeDiscord) -> None:
    _, message, confirm = await preview_of(await asking.video("a long fox", duration=10))
    job = await asking.job_for(await discord_fake.click_button(message=message, custom_id=confirm, user_id=ALICE))
    await asking.wait_status(job.id, JobStatus.DELIVERED)
    post = asking.results_in()[-1]

    ask = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{job.id}", user_id=BOB)
    text, question, bob_confirm = await preview_of(ask)
    assert text.startswith("This video costs **10** credits. You have **30** left today")  # Bob's own credits
    assert await charged(asking) == [(ALICE, 10)]
    rerolled = await asking.job_for(await discord_fake.click_button(message=question, custom_id=bob_confirm,
                                                                    user_id=BOB))
    assert rerolled.user_id == BOB and rerolled.request.prompt == "a long fox" and rerolled.request.duration == 10
    assert await charged(asking) == [(ALICE, 10), (BOB, 10)]
