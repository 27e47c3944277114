"""`/settings` (a member's defaults for `/video`, delivery by DM) and `/queue` with estimated times, through the
fake Discord and a real discord.py client, against the fake runblob (and segmind) servers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import DeliveryOutcome, JobStatus
from tests.conftest import runblob_harness
from tests.e2e.commands import BOOLEAN, EPHEMERAL, INTEGER, STRING, private_reply
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.runblob import FakeRunblob
from tests.fakes.segmind import FakeSegmind
from tests.harness import ALICE, BOB, CHANNEL, GUILD, BotHarness, settle
from tests.waiting import until

RELATIVE_TIME = re.compile(r"<t:\d+:R>")
OPTION_TYPES = {"duration": INTEGER, "aspect": STRING, "mode": STRING, "audio": BOOLEAN, "dm": BOOLEAN}


@pytest.fixture
async def bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def settings(fake: FakeDiscord, user_id: int = ALICE, **options: Any) -> FakeInteraction:
    wire = [{"name": name, "type": OPTION_TYPES[name], "value": value} for name, value in options.items()]
    return await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, name="settings",
                                         options=wire)


async def bare_video(fake: FakeDiscord, prompt: str, user_id: int = ALICE) -> FakeInteraction:
    """`/video` with the prompt alone: every other option left empty."""
    return await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, name="video",
                                         options=[{"name": "prompt", "type": STRING, "value": prompt}])


def components_of(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["custom_id"]: c for row in message.get("components") or [] for c in row["components"]}


def embed_field(message: dict[str, Any] | None, name: str) -> str | None:
    assert message is not None
    fields = message["embeds"][0].get("fields") or []
    return next((f["value"] for f in fields if f["name"] == name), None)


# -- /settings ------------------------------------------------------------------------------------------
async def test_settings_are_set_shown_changed_in_the_menus_and_reset(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    saved = await private_reply(await settings(discord_fake, duration=10, aspect="9:16", mode="pro", dm=True))
    assert saved.startswith("Saved.")
    assert "Duration: **10 seconds**" in saved and "Aspect: **9:16**" in saved and "Mode: **Pro (1080p)**" in saved
    assert "sent to you by direct message" in saved

    shown = await settings(discord_fake)  # no options: shows them, with a menu per setting
    assert "Saved." not in await private_reply(shown)
    panel = shown.response_message
    assert panel is not None and panel["flags"] & EPHEMERAL
    menus = components_of(panel)
    assert set(menus) == {"kb:settings:duration", "kb:settings:aspect", "kb:settings:mode", "kb:settings:extras",
                          "kb:settings:reset"}
    assert [o["value"] for o in menus["kb:settings:duration"]["options"] if o.get("default")] == ["10"]
    assert [o["value"] for o in menus["kb:settings:extras"]["options"] if o.get("default")] == ["dm"]

    chosen = await discord_fake.select_options(message=panel, custom_id="kb:settings:duration", user_id=ALICE,
                                               values=["15"])
    assert (await chosen.wait_response())["type"] == 7  # the panel itself is updated
    assert "Duration: **15 seconds**" in panel["content"] and "Aspect: **9:16**" in panel["content"]
    off = await discord_fake.select_options(message=panel, custom_id="kb:settings:extras", user_id=ALICE, values=[])
    await off.wait_response()
    assert "Finished videos: **posted in the channel**" in panel["content"]

    reset = await discord_fake.click_button(message=panel, custom_id="kb:settings:reset", user_id=ALICE)
    await reset.wait_response()
    assert "cleared" in panel["content"] and "Duration: **5 seconds** (the usual choice" in panel["content"]
    again = await private_reply(await settings(discord_fake))
    assert "Duration: **5 seconds** (the usual choice" in again and "Mode: **Standard (720p)** (the usual" in again


async def test_a_default_the_provider_does_not_offer_is_refused_privately(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    segmind = FakeSegmind()
    await segmind.start()
    harness = BotHarness(discord_fake, tmp_path, kling_provider="segmind", segmind_api_key=segmind.api_key,
                         segmind_base_url=segmind.base_url)
    try:
        await harness.start()  # segmind makes sound
        shown = await settings(discord_fake)
        await shown.wait_response()
        panel = shown.response_message
        assert panel is not None
        assert "audio" in {o["value"] for o in components_of(panel)["kb:settings:extras"]["options"]}
        await harness.stop()
        # The operator switches to runblob, which makes no sound; the member still has the old menu open.
        harness.overrides.update(kling_provider="runblob", runblob_api_key=runblob.api_key,
                                 runblob_base_url=runblob.base_url)
        await harness.start()
        refused = await discord_fake.select_options(message=panel, custom_id="kb:settings:extras", user_id=ALICE,
                                                    values=["audio", "dm"])
        text = await private_reply(refused)
        assert "cannot generate audio" in text
        assert "sent to you by direct message" not in await private_reply(await settings(discord_fake))  # unsaved
    finally:
        await harness.stop()
        await segmind.close()


async def test_video_without_options_takes_the_members_defaults_or_the_first_choices(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    await private_reply(await settings(discord_fake, duration=10, aspect="9:16", mode="pro"))
    job = await bot.job_for(await bare_video(discord_fake, "a lighthouse in fog"))
    await bot.wait_status(job.id, JobStatus.SUBMITTED)
    body = last_submit(runblob)
    assert (body["prompt"], body["duration"], body["aspect_ratio"], body["model"]) == (
        "a lighthouse in fog", "10", "9:16", "kling_o3_pro")

    # Bob has no defaults: runblob's first duration and aspect, and its first mode.
    job = await bot.job_for(await bare_video(discord_fake, "a lantern on a lake", user_id=BOB))
    await bot.wait_status(job.id, JobStatus.SUBMITTED)
    body = last_submit(runblob)
    assert (body["prompt"], body["duration"], body["aspect_ratio"], body["model"]) == (
        "a lantern on a lake", "5", "16:9", "kling_o3")

    # An option given in /video wins over the default.
    job = await bot.job_for(await bot.video("a kite at dusk", duration=15, aspect="1:1"))
    await bot.wait_status(job.id, JobStatus.SUBMITTED)
    body = last_submit(runblob)
    assert (body["duration"], body["aspect_ratio"], body["model"]) == ("15", "1:1", "kling_o3_pro")


async def test_deliver_by_dm_sends_the_video_to_the_member_and_not_the_channel(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    await private_reply(await settings(discord_fake, dm=True))
    interaction = await bot.video("a snow globe city")
    job = await bot.job_for(interaction)
    job = await bot.wait_status(job.id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await bot.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE and delivered.deliver_by_dm
    [dm] = discord_fake.dm_messages[ALICE]
    assert "your video is ready" in dm["content"] and "You asked for your videos by direct message" in dm["content"]
    assert dm["attachments"][0]["filename"].endswith(".mp4")
    assert bot.results_in(CHANNEL) == []
    status = await bot.status_reads(interaction, "Done")
    assert "as they asked" in (embed_field(status, "Delivery") or "")


async def test_a_crash_between_the_direct_message_and_recording_it_sends_it_once(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    await private_reply(await settings(discord_fake, dm=True))
    job = await bot.job_for(await bot.video("a paper boat in the rain"))
    job = await bot.wait_status(job.id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await bot.wait_status(job.id, JobStatus.DELIVERED)
    [first] = discord_fake.dm_messages[ALICE]
    again = await bot.redeliver_after_a_crash(job.id)
    assert len(discord_fake.dm_messages[ALICE]) == 1  # the nonce made Discord return the first message
    assert again.result_message_id == delivered.result_message_id == int(first["id"])
    assert again.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE


async def test_reroll_keeps_the_original_settings_not_the_clickers_defaults(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    await private_reply(await settings(discord_fake, BOB, duration=5, aspect="9:16", mode="pro"))
    job = await bot.job_for(await bot.video("a brass robot", duration=15, aspect="1:1"))
    job = await bot.wait_status(job.id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id, "completed")
    original = await bot.wait_status(job.id, JobStatus.DELIVERED)
    [post] = bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:reroll:{original.id}", user_id=BOB)
    rerolled = await bot.job_for(click)
    await bot.wait_status(rerolled.id, JobStatus.SUBMITTED)
    assert rerolled.user_id == BOB and rerolled.request == original.request
    body = last_submit(runblob)
    assert (body["prompt"], body["duration"], body["aspect_ratio"], body["model"]) == (
        "a brass robot", "15", "1:1", "kling_o3")


# -- /queue and the estimates ---------------------------------------------------------------------------
def last_submit(runblob: FakeRunblob) -> dict[str, Any]:
    """What the provider was last asked to make (status polls come in between)."""
    body: dict[str, Any] = [r for r in runblob.requests if r.method == "POST"][-1].body
    return body


def edits_of(fake: FakeDiscord, message_ids: set[str]) -> int:
    return sum(1 for method, path in fake.requests if method == "PATCH" and path.rsplit("/", 1)[-1] in message_ids)


async def queue_for(fake: FakeDiscord, user_id: int) -> str:
    return await private_reply(await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id,
                                                             name="queue"))


async def test_queue_lists_what_is_at_the_provider_and_waits_in_the_order_it_is_sent(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path, max_concurrent_jobs=1, max_active_jobs_per_user=3)
    await harness.start()
    try:
        assert await queue_for(discord_fake, ALICE) == "Nothing is being made or waiting right now: a `/video` " \
                                                      "starts at once."
        first_call = await harness.video("alice one")
        first = await harness.wait_status((await harness.job_for(first_call)).id, JobStatus.SUBMITTED)
        at_provider = await first_call.wait_response()
        alice_two_call = await harness.video("alice two")
        bob_call = await harness.video("bob one", user_id=BOB)
        alice_two, bob_one = await harness.job_for(alice_two_call), await harness.job_for(bob_call)
        await until(lambda: len(harness.running.dispatcher.queue) == 2)  # both queued (after their message)
        await harness.running.publisher.wait_for_edits()

        text = await queue_for(discord_fake, ALICE)
        lines = text.splitlines()
        assert lines[0].startswith("Your videos: at the provider, done about <t:")
        assert "**#2** in the queue, starts about <t:" in lines[0]
        waiting = lines[lines.index("**Waiting** (2)") + 1:][:2]
        # Bob goes first: Alice has just had her turn (the fair queue).
        assert waiting[0].startswith(f"1. <@{BOB}> · queued <t:") and "starts about <t:" in waiting[0]
        assert waiting[1].startswith("2. **you** · queued <t:")
        assert lines[lines.index("**At the provider** (1 of 1 at a time)") + 1].startswith("• **you** · sent <t:")
        assert "the provider's own timings" in lines[-1]  # nothing has finished yet
        assert "Your videos: **#1** in the queue" in await queue_for(discord_fake, BOB)

        # The status messages show the estimates as Discord relative times.
        assert RELATIVE_TIME.search(embed_field(alice_two_call.response_message, "Estimated start") or "")
        assert RELATIVE_TIME.search(embed_field(bob_call.response_message, "Estimated start") or "")
        assert at_provider is not None
        assert RELATIVE_TIME.search(embed_field(first_call.response_message, "Estimated finish") or "")

        # Another job at the back moves nobody's place or estimate: the waiting messages are not edited.
        waiting_ids = {str(alice_two.status_message_id), str(bob_one.status_message_id)}
        await settle(1.2)  # the dispatcher's refresh of positions (at most once a second) has shown Bob going first
        edits_before = edits_of(discord_fake, waiting_ids)
        await harness.job_for(await harness.video("alice three"))
        await until(lambda: len(harness.running.dispatcher.queue) == 3)
        await settle(1.2)
        assert edits_of(discord_fake, waiting_ids) == edits_before

        # The provider then receives them in the order /queue showed.
        sent_after = len(runblob.requests)
        runblob.set_state(first.provider_job_id, "completed")
        bob_sent = await harness.wait_status(bob_one.id, JobStatus.SUBMITTED)
        assert [r.body["prompt"] for r in runblob.requests[sent_after:] if r.method == "POST"] == ["bob one"]
        runblob.set_state(bob_sent.provider_job_id, "completed")
        await harness.wait_status(alice_two.id, JobStatus.SUBMITTED)
        assert [r.body["prompt"] for r in runblob.requests[sent_after:] if r.method == "POST"] == [
            "bob one", "alice two"]
        text = await queue_for(discord_fake, ALICE)
        assert "Your videos: at the provider, done about <t:" in text and "**#1** in the queue" in text  # a3 next
        assert "the provider's last 2 videos" in text  # two have finished: their times make the estimate
    finally:
        await harness.stop()


async def test_closed_direct_messages_fall_back_to_the_channel(
    bot: BotHarness, discord_fake: FakeDiscord, runblob: FakeRunblob
) -> None:
    await private_reply(await settings(discord_fake, dm=True))
    discord_fake.set_dms_closed(ALICE)
    job = await bot.job_for(await bot.video("a paper lantern"))
    job = await bot.wait_status(job.id, JobStatus.SUBMITTED)
    runblob.set_state(job.provider_job_id, "completed")
    delivered = await bot.wait_status(job.id, JobStatus.DELIVERED)
    assert delivered.delivery_outcome is DeliveryOutcome.ATTACHED
    assert len(bot.results_in(CHANNEL)) == 1 and not discord_fake.dm_messages.get(ALICE)
    assert any(event.kind == "delivery_error" and "direct message" in (event.detail or "")
               for event in await bot.running.store.events(job.id))
