"""Through the fake Discord: a blocklist that look-alikes do not get past, member text that stays text in the
bot's messages, and "nothing was charged" only when it is true."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.engine import NOT_STARTED_REASON
from bot.core.models import Job, JobStatus
from bot.discord_adapter.errors import NOT_REFUNDED, NOT_STARTED
from tests.conftest import runblob_harness
from tests.e2e.commands import EPHEMERAL, MOD, STRING, add_moderators, opt, private_reply, slash
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, CHANNEL, GUILD, BotHarness, settle

ATTACK = "[Claim Nitro](https://evil.example) **bold** @everyone <@&123>"
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
MASKED_LINK = re.compile(r"(?<!\\)\]\(")


@pytest.fixture
async def bot(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    add_moderators(discord_fake)
    harness = BotHarness(discord_fake, tmp_path, max_active_jobs_per_user=10, default_user_quota=1000)
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
async def runblob_bot(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


async def mod(fake: FakeDiscord, path: str, *options: dict[str, Any]) -> str:
    return await private_reply(await slash(fake, MOD, "moderation", path, *options))


async def ledger(bot: BotHarness) -> list[tuple[str, str]]:
    return [tuple(row) for row in await bot.sql("SELECT kind, job_id FROM quota_ledger ORDER BY id")]


def assert_escaped(text: str) -> None:
    assert not MASKED_LINK.search(text), text
    assert "\\*\\*bold\\*\\*" in text and "**bold**" not in text.replace("\\*", "")
    assert "@everyone" not in text and "<@&123>" not in text, text


def assert_no_mass_mentions(payload: dict[str, Any]) -> None:
    allowed = payload.get("allowed_mentions")
    assert allowed is not None, payload  # never Discord's default, which lets a bot ping everything
    assert "everyone" not in allowed.get("parse", []) and "roles" not in allowed.get("parse", []), allowed
    assert not allowed.get("roles"), allowed


async def only_job(bot: BotHarness, timeout: float = 5) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = await bot.running.store.recent_for_user(GUILD, ALICE, 10)
        if jobs:
            [job] = jobs
            return job
        await asyncio.sleep(0.02)
    raise TimeoutError("no job was recorded")


# -- the blocklist ---------------------------------------------------------------------------------------


async def test_an_evasive_prompt_is_refused_privately_and_nothing_is_charged(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    assert await mod(discord_fake, "blocklist add", opt("word", STRING, "Gore")) == "Blocked `gore`."
    # A look-alike spelling of an entry is the same entry.
    again = await mod(discord_fake, "blocklist add", opt("word", STRING, "g\u043er\u0435"))
    assert again == "`gore` was already blocked."
    evasions = ["so much g\u200bore", "so much go\u00adre", "so much \uff47\uff4f\uff52\uff45",
                "so much g\u043ere", "so much G\u0301ORE", "so much g\u2060o\u200dre"]
    for prompt in evasions:
        refused = await bot.video(prompt)
        assert await private_reply(refused) == "Your prompt contains a blocked word: `gore`.", prompt
    assert await ledger(bot) == []
    assert await bot.running.store.recent_for_user(GUILD, ALICE, 10) == []
    accepted = await bot.video("a gorgeous sunset")  # whole words only
    assert (await bot.job_for(accepted)).request.prompt == "a gorgeous sunset"


async def test_a_long_blocklist_is_listed_in_pages_of_whole_escaped_entries(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    words = [f"w{n} `**[x](https://evil.example)**` @everyone " + "y" * 40 for n in range(30)]
    for word in words:
        assert (await mod(discord_fake, "blocklist add", opt("word", STRING, word))).startswith("Blocked ``")
    listed: list[str] = []
    page = 1
    while True:
        text = await mod(discord_fake, "blocklist list", opt("page", 4, page))
        assert len(text) <= 2000 and "@everyone" not in text
        listed += re.findall(r"``(w\d+ `.*? y+)``", text)
        if "Next:" not in text:
            break
        page += 1
        assert page < 10
    assert page > 1
    assert sorted(entry.replace("\u200b", "") for entry in listed) == sorted(words)  # each once, whole


# -- member text in the bot's messages -----------------------------------------------------------------------


async def test_a_prompts_markdown_and_mentions_stay_text_in_the_status_and_result(
    bot: BotHarness, discord_fake: FakeDiscord
) -> None:
    interaction = await bot.video(ATTACK)
    job = await bot.job_for(interaction)
    await bot.wait_status(job.id, JobStatus.DELIVERED)
    status = await bot.status_reads(interaction, "Done")
    assert_escaped(status["embeds"][0]["description"])
    [result] = bot.results_in(CHANNEL)
    assert_escaped(result["embeds"][0]["description"])
    assert result["content"].startswith(f"<@{ALICE}>")  # the requester is the one mention
    for message in discord_fake.messages[CHANNEL]:
        assert_no_mass_mentions(discord_fake.message_payloads[int(message["id"])])
    result_mentions = discord_fake.message_payloads[int(result["id"])]["allowed_mentions"]
    assert [int(user) for user in result_mentions.get("users", [])] == [ALICE]


async def test_a_providers_words_in_a_failure_reason_stay_text(
    runblob_bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    runblob.fail_next("submit", 400, {"detail": ATTACK})
    interaction = await runblob_bot.video("a quiet lake")
    job = await runblob_bot.wait_status((await runblob_bot.job_for(interaction)).id, JobStatus.FAILED)
    assert ATTACK in (job.last_error or "")
    status = await runblob_bot.status_reads(interaction, "Failed")
    [why] = [f["value"] for f in status["embeds"][0]["fields"]
             if f["name"] == "Why"]
    assert_escaped(why)


async def test_the_job_list_stays_in_one_message_and_escaped(bot: BotHarness, discord_fake: FakeDiscord) -> None:
    prompt = (ATTACK + " # not a heading ") * 25
    for _ in range(10):
        await bot.job_for(await bot.video(prompt[:2500]))
    listing = await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, name="jobs")
    response = await listing.wait_response()
    assert response["data"]["flags"] & EPHEMERAL
    content = response["data"]["content"]
    assert len(content) <= 2000
    assert content.count("\\[Claim Nitro\\]") >= 5
    assert not MASKED_LINK.search(content) and "@everyone" not in content and "<@&123>" not in content
    assert_no_mass_mentions(discord_fake.message_payloads[int(listing.original_message_id or 0)])


# -- "nothing was charged" only when true ----------------------------------------------------------------------


async def test_a_status_message_discord_refuses_after_the_charge_is_refunded_and_never_submitted(
    runblob_bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    # The interaction is dead (expired): neither the status message nor a private word gets through.
    discord_fake.fail_next("POST", CALLBACK, 404, code=10062, message="Unknown interaction", times=2)
    interaction = await runblob_bot.video("a red fox")
    job = await only_job(runblob_bot)
    job = await runblob_bot.wait_status(job.id, JobStatus.FAILED)
    assert job.last_error == NOT_STARTED_REASON and job.status_message_id is None
    await settle()
    assert runblob.submit_calls == 0
    assert await ledger(runblob_bot) == [("reserve", job.id), ("refund", job.id)]
    assert (await runblob_bot.running.quotas.balance(GUILD, ALICE)).used == 0
    assert interaction.response is None  # nothing got through, not even the private word
    assert [path for method, path in discord_fake.requests if re.search(CALLBACK, path)] == [
        f"/interactions/{interaction.id}/{interaction.token}/callback"] * 2
    assert discord_fake.messages.get(CHANNEL, []) == []


async def test_when_the_interaction_still_answers_the_member_is_told_it_was_not_started(
    runblob_bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    discord_fake.fail_next("POST", CALLBACK, 400, code=50035, message="Invalid Form Body")
    interaction = await runblob_bot.video("a red fox")
    assert await private_reply(interaction) == NOT_STARTED
    job = await only_job(runblob_bot)
    assert job.status is JobStatus.FAILED
    await settle()
    assert runblob.submit_calls == 0
    assert await ledger(runblob_bot) == [("reserve", job.id), ("refund", job.id)]

    again = await runblob_bot.video("a red fox")  # the next one goes through as usual
    second = await runblob_bot.wait_status((await runblob_bot.job_for(again)).id, JobStatus.SUBMITTED)
    assert runblob.submit_calls == 1 and second.id != job.id


async def test_when_even_the_refund_fails_the_member_is_told_to_ask_with_the_job_id(
    runblob_bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    """The rarest path: Discord refuses the status message and the database refuses to fail the job. The
    member is told the truth (not started, refund not written) with the job id to quote, and the job is
    never sent; it stays queued in the database, where the next start picks it up."""
    await runblob_bot.sql("CREATE TRIGGER refuse_job_updates BEFORE UPDATE ON jobs "
                          "BEGIN SELECT RAISE(ABORT, 'the disk is failing'); END")
    discord_fake.fail_next("POST", CALLBACK, 400, code=50035, message="Invalid Form Body")
    interaction = await runblob_bot.video("a red fox")
    job = await only_job(runblob_bot)
    assert await private_reply(interaction) == NOT_REFUNDED.format(job_id=job.id)
    await settle()
    assert runblob.submit_calls == 0
    stored = await runblob_bot.running.store.get(job.id)
    assert stored is not None and stored.status is JobStatus.QUEUED
    assert await ledger(runblob_bot) == [("reserve", job.id)]


async def test_a_status_message_posted_with_its_answer_lost_goes_ahead(
    runblob_bot: BotHarness, runblob: FakeRunblob, discord_fake: FakeDiscord
) -> None:
    discord_fake.fail_next("POST", CALLBACK, 500, code=0, after=True)  # made, but the answer was an error
    interaction = await runblob_bot.video("a red fox")
    job = await only_job(runblob_bot)
    job = await runblob_bot.wait_status(job.id, JobStatus.SUBMITTED)
    assert job.status_message_id == interaction.original_message_id is not None
    assert await ledger(runblob_bot) == [("reserve", job.id)]
    assert runblob.submit_calls == 1
