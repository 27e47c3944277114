"""The Details message and the bot's permission check, as members read them: within Discord's limits whatever
the prompt, the `/video` line copyable as typed, and missing permissions named in Discord's own words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord

from bot.core.engine import JobDetails
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.ports.provider import Capabilities, RateLimit
from bot.core.ports.repositories import JobEvent
from bot.discord_adapter import render
from bot.discord_adapter.bot_permissions import missing_permissions
from bot.discord_adapter.text import EMBED_TOTAL_LIMIT, MESSAGE_LIMIT
from bot.i18n import Lang

AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
ALL_OPTIONS = Capabilities(durations=(5, 10), modes=("std", "pro"), push=True, rate_limit=RateLimit(60, 60),
                           negative_prompt=True, audio=True)
ONE_MODE = Capabilities(durations=(5,), modes=("std",), push=False, rate_limit=RateLimit(60, 60))


def job(prompt: str = "a fox", negative: str | None = None, request_audio: bool = True, **fields: object) -> Job:
    request = VideoRequest(prompt=prompt, duration=10, aspect="1:1", mode="pro", negative_prompt=negative,
                           audio=request_audio)
    values: dict[str, object] = {"status": JobStatus.DELIVERED, **fields}
    return Job(id="0123456789abcdef", guild_id=1, channel_id=2, user_id=3, request=request, provider="kling",
               created_at=AT, updated_at=AT, cost=20, **values)  # type: ignore[arg-type]


def details(of: Job, events: list[JobEvent] | None = None) -> JobDetails:
    return JobDetails(of, events or [])


def test_the_line_has_exactly_the_options_the_provider_offers() -> None:
    full = job("a fox\nin snow", "blur")
    assert render.video_line(full, ALL_OPTIONS) == (
        "/video prompt:a fox in snow duration:10 aspect:1:1 mode:pro negative_prompt:blur audio:True")
    assert render.video_line(full, ONE_MODE) == "/video prompt:a fox in snow duration:10 aspect:1:1"
    silent = job("a fox", request_audio=False)
    assert render.video_line(silent, ALL_OPTIONS).endswith(" mode:pro audio:False")  # not the member's default


def test_the_line_names_the_command_and_options_as_the_readers_discord_shows_them() -> None:
    german = Lang("de")
    line = render.video_line(job("a fox", "blur"), ALL_OPTIONS, german)
    def name(option: str) -> str:
        return german.t(f"cmd.video.option.{option}.name")

    assert line == (f"/{german.t('cmd.video.name')} {name('prompt')}:a fox {name('duration')}:10 {name('aspect')}:1:1 "
                    f"{name('mode')}:pro {name('negative_prompt')}:blur {name('audio')}:True")
    assert " dauer:10 format:1:1 " in line  # the shipped German names, not the English ones
    assert german.t("details.line_intro") in render.details_message(details(job("a fox")), ALL_OPTIONS, german).content


def test_a_prompt_holding_a_code_fence_is_still_shown_verbatim() -> None:
    content = render.details_message(details(job("a ```fenced``` fox")), ALL_OPTIONS).content
    assert "````/video prompt:a ```fenced``` fox duration:10" in content  # an inline span with a longer fence
    assert "```\n" not in content


def test_the_longest_prompts_stay_within_discords_limits() -> None:
    longest = job("*" * 2500, "_" * 2500, last_error="x" * 2000, status=JobStatus.FAILED)
    message = render.details_message(details(longest), ALL_OPTIONS)
    assert len(message.content) <= MESSAGE_LIMIT and message.line_file is not None
    assert message.line_file.startswith("/video prompt:" + "*" * 2500 + " duration:10")
    assert len(message.embed) <= EMBED_TOTAL_LIMIT
    assert all(len(field.value or "") <= 1024 for field in message.embed.fields)


def test_timings_come_from_the_job_and_its_events() -> None:
    done = job(submitted_at=AT + timedelta(seconds=4), completed_at=AT + timedelta(seconds=95))
    events = [JobEvent(done.id, AT + timedelta(seconds=97), "status", JobStatus.COMPLETED, JobStatus.DELIVERED, None)]
    lines = render.timings(details(done, events)).splitlines()
    assert [line.split(":")[0] for line in lines] == ["Queued", "Submitted", "Completed", "Delivered"]
    assert lines[1].endswith("(after 4 s)") and lines[2].endswith("(after 1 min 35 s)")
    assert lines[3].endswith("(after 1 min 37 s)")


def test_only_the_bots_own_mention_of_who_cancelled_stays_a_mention() -> None:
    assert render.reason_text("Cancelled by <@42> before it was sent. <@7>", 200) == (
        "Cancelled by <@42> before it was sent. <\u200b@7>")
    assert render.reason_text("The provider said: Cancelled by <@42> ", 200).count("<\u200b@42>") == 1


def test_missing_permissions_are_named_and_threads_need_their_own() -> None:
    none = discord.Permissions.none()
    assert missing_permissions(none, thread=False) == ["View Channel", "Send Messages", "Embed Links",
                                                       "Attach Files"]
    thread_ok = discord.Permissions(view_channel=True, send_messages_in_threads=True, embed_links=True,
                                    attach_files=True)
    assert missing_permissions(thread_ok, thread=True) == []
    assert missing_permissions(thread_ok, thread=False) == ["Send Messages"]
