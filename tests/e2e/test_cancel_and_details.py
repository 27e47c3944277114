"""Cancel on the status message, Details on the result post, and /show, through the fake Discord and a real
discord.py client."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.engine import ALREADY_AT_PROVIDER, NOT_YOURS
from bot.core.models import JobStatus
from bot.core.showing import NOT_MADE_YET, NOT_YOURS_TO_SHOW, UNKNOWN_TO_SHOW
from tests.conftest import runblob_harness
from tests.e2e.commands import EPHEMERAL, MOD, STRING, add_moderators, opt, private_reply
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.kling import FakeKling
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, OTHER_CHANNEL, BotHarness, settle

OTHER_GUILD = 820000000000000001
OTHER_GUILD_CHANNEL = 820000000000000002
UPDATE_MESSAGE = 7


def buttons(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    return [item["custom_id"] for row in message.get("components", []) for item in row.get("components", [])]


def field(message: dict[str, Any] | None, name: str) -> str | None:
    assert message is not None
    return next((f["value"] for f in message["embeds"][0].get("fields", []) if f["name"] == name), None)


async def ledger(harness: BotHarness, user_id: int) -> list[tuple[Any, ...]]:
    return await harness.sql("SELECT job_id, kind FROM quota_ledger WHERE user_id = ? AND job_id IS NOT NULL "
                             "ORDER BY id", user_id)


@pytest.fixture
async def queue_of_one(discord_fake: FakeDiscord, runblob: FakeRunblob,
                       tmp_path: Path) -> AsyncIterator[BotHarness]:
    """One provider slot, so a second job waits in the queue."""
    add_moderators(discord_fake)
    harness = runblob_harness(discord_fake, runblob, tmp_path, max_concurrent_jobs=1)
    await harness.start()
    yield harness
    await harness.stop()


async def slot_taken_and_one_waiting(harness: BotHarness) -> tuple[Any, FakeInteraction, Any]:
    first = await harness.job_for(await harness.video("holds the only slot"))
    first = await harness.wait_status(first.id, JobStatus.SUBMITTED)
    waiting_interaction = await harness.video("waits in line", user_id=BOB)
    waiting = await harness.job_for(waiting_interaction)
    assert waiting.status is JobStatus.QUEUED
    return first, waiting_interaction, waiting


# -- Cancel ------------------------------------------------------------------------------------------------
async def test_the_requester_cancels_a_queued_job_refunded_and_never_sent(
    queue_of_one: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    harness = queue_of_one
    first, interaction, waiting = await slot_taken_and_one_waiting(harness)
    status = interaction.response_message
    assert buttons(status) == [f"kb:cancel:{waiting.id}"]

    click = await discord_fake.click_button(message=status, custom_id=f"kb:cancel:{waiting.id}", user_id=BOB)
    response = await click.wait_response()
    assert response["type"] == UPDATE_MESSAGE  # the status message itself changes, for everyone
    cancelled = await harness.wait_status(waiting.id, JobStatus.FAILED)
    assert f"Cancelled by <@{BOB}>" in (cancelled.last_error or "")
    assert await ledger(harness, BOB) == [(waiting.id, "reserve"), (waiting.id, "refund")]

    status = await harness.status_reads(interaction, "Failed")
    assert f"Cancelled by <@{BOB}>" in (field(status, "Why") or "")
    assert buttons(status) == []

    runblob.set_state(first.provider_job_id or "", "completed")  # the slot frees up
    await harness.wait_status(first.id, JobStatus.DELIVERED)
    await settle(0.3)
    assert runblob.submit_calls == 1  # the cancelled job never went out


async def test_a_moderator_may_cancel_anyones_queued_job(queue_of_one: BotHarness, discord_fake: FakeDiscord) -> None:
    _, interaction, waiting = await slot_taken_and_one_waiting(queue_of_one)
    click = await discord_fake.click_button(message=interaction.response_message or {},
                                            custom_id=f"kb:cancel:{waiting.id}", user_id=MOD)
    assert (await click.wait_response())["type"] == UPDATE_MESSAGE
    cancelled = await queue_of_one.wait_status(waiting.id, JobStatus.FAILED)
    assert f"Cancelled by <@{MOD}>" in (cancelled.last_error or "")
    assert await ledger(queue_of_one, BOB) == [(waiting.id, "reserve"), (waiting.id, "refund")]


async def test_another_member_is_told_it_is_not_theirs_and_nothing_changes(
    queue_of_one: BotHarness, discord_fake: FakeDiscord
) -> None:
    _, interaction, waiting = await slot_taken_and_one_waiting(queue_of_one)
    click = await discord_fake.click_button(message=interaction.response_message or {},
                                            custom_id=f"kb:cancel:{waiting.id}", user_id=ALICE)
    assert await private_reply(click) == NOT_YOURS
    await settle(0.2)
    untouched = await queue_of_one.running.store.get(waiting.id)
    assert untouched is not None and untouched.status is JobStatus.QUEUED
    assert await ledger(queue_of_one, BOB) == [(waiting.id, "reserve")]
    assert buttons(interaction.response_message) == [f"kb:cancel:{waiting.id}"]


async def test_once_submitted_the_job_goes_on_and_the_button_goes_away(
    queue_of_one: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    harness = queue_of_one
    first, interaction, waiting = await slot_taken_and_one_waiting(harness)
    await harness.running.publisher.wait_for_edits()
    assert buttons(await first_status(harness, first.id)) == []  # went out at once: no button left

    # The edit that would remove the waiting job's button is lost once, so a member can still click it after
    # the job went out, as with a client showing the message from a moment ago.
    status_id = interaction.original_message_id
    discord_fake.fail_next("PATCH", rf"/channels/{CHANNEL}/messages/{status_id}$", 403, code=50013)
    runblob.set_state(first.provider_job_id or "", "completed")
    submitted = await harness.wait_status(waiting.id, JobStatus.SUBMITTED)
    await harness.running.publisher.wait_for_edits()
    assert buttons(interaction.response_message) == [f"kb:cancel:{waiting.id}"]

    click = await discord_fake.click_button(message=interaction.response_message or {},
                                            custom_id=f"kb:cancel:{waiting.id}", user_id=BOB)
    assert await private_reply(click) == ALREADY_AT_PROVIDER
    assert await ledger(harness, BOB) == [(waiting.id, "reserve")]

    runblob.set_state(submitted.provider_job_id or "", "completed")
    await harness.wait_status(waiting.id, JobStatus.DELIVERED)
    assert buttons(await harness.status_reads(interaction, "Done")) == []


async def first_status(harness: BotHarness, job_id: str) -> dict[str, Any]:
    job = await harness.running.store.get(job_id)
    assert job is not None and job.status_message_id is not None
    return next(m for m in harness.discord.messages[CHANNEL] if m["id"] == str(job.status_message_id))


async def test_cancel_works_after_a_restart(queue_of_one: BotHarness, discord_fake: FakeDiscord) -> None:
    _, interaction, waiting = await slot_taken_and_one_waiting(queue_of_one)
    await queue_of_one.restart()
    click = await discord_fake.click_button(message=interaction.response_message or {},
                                            custom_id=f"kb:cancel:{waiting.id}", user_id=BOB)
    assert (await click.wait_response())["type"] == UPDATE_MESSAGE
    await queue_of_one.wait_status(waiting.id, JobStatus.FAILED)


# -- Details ------------------------------------------------------------------------------------------------
@pytest.fixture
async def kling_bot(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    """Kling has every /video option: mode, negative prompt and audio."""
    add_moderators(discord_fake)
    fake = FakeKling(auto_complete_after=0.2)
    await fake.start()
    harness = BotHarness(discord_fake, tmp_path, kling_provider="kling", kling_access_key=fake.access_key,
                         kling_secret_key=fake.secret_key, kling_base_url=fake.base_url)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        await fake.close()


OPTION_NAMES = ("prompt", "duration", "aspect", "mode", "negative_prompt", "audio")


def parse_video_line(line: str) -> dict[str, Any]:
    """The options of a `/video name:value ...` line, as Discord's message box reads them."""
    body = line.removeprefix("/video ")
    marks = list(re.finditer(rf"(?:^| )({'|'.join(OPTION_NAMES)}):", body))
    values: dict[str, Any] = {}
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(body)
        values[mark.group(1)] = body[mark.end():end]
    values["duration"] = int(values["duration"])
    if "audio" in values:
        values["audio"] = values["audio"] == "True"
    return values


async def delivered(harness: BotHarness, interaction: FakeInteraction) -> Any:
    job = await harness.job_for(interaction)
    return await harness.wait_status(job.id, JobStatus.DELIVERED)


TRICKY = "a *bold* fox says `hi` to @everyone and <@123> [look](https://example.com)\n# not a heading"


async def test_details_shows_everything_and_its_video_line_makes_the_same_request(
    kling_bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    original = await delivered(kling_bot, await kling_bot.video(
        TRICKY, duration=10, aspect="9:16", mode="pro", negative_prompt="blur, _text_", audio=True))
    [post] = kling_bot.results_in(CHANNEL)
    assert f"kb:details:{original.id}" in buttons(post)

    click = await discord_fake.click_button(message=post, custom_id=f"kb:details:{original.id}", user_id=BOB)
    response = await click.wait_response()
    assert response["data"]["flags"] & EPHEMERAL
    content = response["data"]["content"]
    embed = response["data"]["embeds"][0]
    assert original.id in embed["title"]
    assert "\\*bold\\*" in embed["description"] and "<\u200b@123>" in embed["description"]  # shown, not formatted
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Cost"] == f"{original.cost} credits" and original.cost > 0
    assert fields["Provider"] == "kling" and fields["Job id"] == f"`{original.id}`"
    assert "\\_text\\_" in fields["Avoid"]
    assert all(step in fields["Timings"] for step in ("Queued:", "Submitted:", "Completed:", "Delivered:"))
    assert str(original.result_message_id) in fields["Posted"]

    [line] = re.findall(r"```\n(/video .*)\n```", content)
    assert line.startswith("/video prompt:a *bold* fox says `hi` to @everyone and <@123> [look](https://example.com)"
                           " # not a heading duration:10 aspect:9:16 mode:pro negative_prompt:blur, _text_ audio:True")

    again = parse_video_line(line)
    prompt = again.pop("prompt")
    copy = await delivered(kling_bot, await kling_bot.video(prompt, user_id=BOB, **again))
    # The line carries the prompt on one line (the message box sends no line breaks); the rest is the same.
    assert copy.request == dataclasses.replace(original.request, prompt=" ".join(TRICKY.split()))
    assert copy.request.negative_prompt == "blur, _text_" and copy.request.audio and copy.request.mode == "pro"


async def test_a_video_line_too_long_for_a_message_comes_as_a_file(sandbox_bot: BotHarness,
                                                                    discord_fake: FakeDiscord) -> None:
    prompt = "a very long and winding road through hills " * 55  # about 2,400 characters
    original = await delivered(sandbox_bot, await sandbox_bot.video(prompt.strip()))
    [post] = sandbox_bot.results_in(CHANNEL)
    click = await discord_fake.click_button(message=post, custom_id=f"kb:details:{original.id}", user_id=ALICE)
    response = await click.wait_response()
    assert response["data"]["flags"] & EPHEMERAL and "attached file" in response["data"]["content"]
    message = click.response_message
    assert message is not None
    [attachment] = message["attachments"]
    text = discord_fake.attachment_data[int(attachment["id"])].decode()
    assert text == f"/video prompt:{prompt.strip()} duration:5 aspect:16:9 mode:std audio:False\n"
    assert len(message["embeds"][0]["description"]) <= 4096


# -- /show -------------------------------------------------------------------------------------------------
async def show(fake: FakeDiscord, user_id: int, job_id: str, *, channel_id: int = OTHER_CHANNEL,
               guild_id: int = GUILD) -> FakeInteraction:
    return await fake.send_slash_command(guild_id=guild_id, channel_id=channel_id, user_id=user_id, name="show",
                                         options=[opt("job_id", STRING, job_id)])


async def test_show_posts_your_own_video_again_with_its_buttons(kling_bot: BotHarness,
                                                                discord_fake: FakeDiscord) -> None:
    original = await delivered(kling_bot, await kling_bot.video("a lighthouse in fog"))
    [post] = kling_bot.results_in(CHANNEL)
    interaction = await show(discord_fake, ALICE, original.id)
    response = await interaction.wait_response()
    assert response["type"] == 4 and not response["data"].get("flags", 0) & EPHEMERAL
    shown = interaction.response_message
    assert shown is not None and shown["channel_id"] == str(OTHER_CHANNEL)
    assert f"https://discord.com/channels/{GUILD}/{CHANNEL}/{original.result_message_id}" in shown["content"]
    assert post["attachments"][0]["url"].split("?")[0] in shown["content"]  # the video, played inline
    assert "lighthouse in fog" in shown["embeds"][0]["description"]
    assert buttons(shown) == [f"kb:reroll:{original.id}", f"kb:remix:{original.id}", f"kb:details:{original.id}",
                              f"kb:continue:{original.id}"]


async def test_show_of_anothers_video_is_for_moderators_only(kling_bot: BotHarness,
                                                              discord_fake: FakeDiscord) -> None:
    original = await delivered(kling_bot, await kling_bot.video("a paper boat"))
    assert await private_reply(await show(discord_fake, BOB, original.id)) == NOT_YOURS_TO_SHOW
    by_moderator = await show(discord_fake, MOD, original.id)
    response = await by_moderator.wait_response()
    assert response["type"] == 4 and not response["data"].get("flags", 0) & EPHEMERAL
    assert f"<@{MOD}> shows <@{ALICE}>'s video again." in response["data"]["content"]


async def test_show_of_an_unknown_or_unfinished_job_is_explained_privately(
    queue_of_one: BotHarness, discord_fake: FakeDiscord
) -> None:
    _, _, waiting = await slot_taken_and_one_waiting(queue_of_one)
    assert await private_reply(await show(discord_fake, BOB, waiting.id)) == NOT_MADE_YET
    assert await private_reply(await show(discord_fake, BOB, "0123456789abcdef")) == UNKNOWN_TO_SHOW
    assert await private_reply(await show(discord_fake, BOB, "not even an id")) == UNKNOWN_TO_SHOW


async def test_show_never_posts_another_servers_video(kling_bot: BotHarness, discord_fake: FakeDiscord) -> None:
    original = await delivered(kling_bot, await kling_bot.video("a secret garden"))
    discord_fake.add_guild(OTHER_GUILD, name="Elsewhere")
    discord_fake.add_channel(OTHER_GUILD, OTHER_GUILD_CHANNEL, "general")
    discord_fake.add_member(OTHER_GUILD, ALICE, "alice")
    await settle(0.2)  # the bot sees the new server
    elsewhere = await show(discord_fake, ALICE, original.id, guild_id=OTHER_GUILD, channel_id=OTHER_GUILD_CHANNEL)
    assert await private_reply(elsewhere) == UNKNOWN_TO_SHOW


async def test_show_suggests_the_members_finished_videos(kling_bot: BotHarness, discord_fake: FakeDiscord) -> None:
    fox = await delivered(kling_bot, await kling_bot.video("an arctic fox"))
    owl = await delivered(kling_bot, await kling_bot.video("a snowy owl"))
    typing = await discord_fake.send_autocomplete(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="show",
                                                  options=[{**opt("job_id", STRING, ""), "focused": True}])
    response = await typing.wait_response()
    assert [choice["value"] for choice in response["data"]["choices"]] == [owl.id, fox.id]
    assert "a snowy owl" in response["data"]["choices"][0]["name"]
    narrowed = await discord_fake.send_autocomplete(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="show",
                                                    options=[{**opt("job_id", STRING, "FOX"), "focused": True}])
    assert [c["value"] for c in (await narrowed.wait_response())["data"]["choices"]] == [fox.id]
    others = await discord_fake.send_autocomplete(guild_id=GUILD, channel_id=CHANNEL, user_id=BOB, name="show",
                                                  options=[{**opt("job_id", STRING, ""), "focused": True}])
    assert (await others.wait_response())["data"]["choices"] == []
