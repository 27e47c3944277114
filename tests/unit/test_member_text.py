"""Member text is text: escaped wherever the bot shows it, and clipped to Discord's limits after escaping
without ever cutting an escape in half."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.ports.repositories import LedgerEntry, LedgerKind
from bot.core.quotas import HistoryPage
from bot.discord_adapter import render, render_quotas
from bot.discord_adapter.text import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_LIMIT,
    MESSAGE_LIMIT,
    escape,
    escape_clipped,
    inline_code,
    join_within,
)
from cogs.moderation import blocklist_page

MARKDOWN = set("*_~|`[]\\")
ATTACK = "[Claim Nitro](https://evil.example) **bold** __under__ ||spoiler|| `code` ~~gone~~ @everyone <@&123>"


def unescaped_markdown(text: str) -> list[str]:
    """Markdown characters in `text` that no backslash escapes (web addresses left out, as Discord reads
    them as links first)."""
    text = re.sub(r"https?://[^\s<]+[^<.,:;\"')\]\s]", "", text)
    found, index = [], 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] in MARKDOWN:
            found.append(text[index])
        index += 1
    return found


def ends_mid_escape(text: str) -> bool:
    body = text.removesuffix("…")
    return (len(body) - len(body.rstrip("\\"))) % 2 == 1


def test_a_masked_link_and_formatting_show_as_typed() -> None:
    shown = escape(ATTACK)
    assert unescaped_markdown(shown) == []
    assert not re.search(r"(?<!\\)\]\(", shown)  # no masked link can form
    assert "https://evil.example" in shown  # the address shows, plainly
    assert "@everyone" not in shown and "<@&" not in shown  # not mentions, even in the raw text
    assert shown.replace("\\", "").replace("\u200b", "") == ATTACK  # nothing lost: only escapes added


def test_markers_at_the_start_of_a_line_are_escaped() -> None:
    shown = escape("# Heading\n> quote\n>>> all\n- item\n  * star\n1. first\n-# small\nplain # not a heading")
    lines = shown.split("\n")
    assert lines[:7] == ["\\# Heading", "\\> quote", "\\>>> all", "\\- item", "  \\* star", "1\\. first", "\\-# small"]
    assert lines[7] == "plain # not a heading"


def test_bare_links_stay_whole() -> None:
    assert escape("see https://example.org/a_b_c?x=1 now") == "see https://example.org/a_b_c?x=1 now"


@pytest.mark.parametrize("limit", range(1, 40))
def test_clipping_never_cuts_an_escape(limit: int) -> None:
    text = "".join(itertools.islice(itertools.cycle("a*_`|[x]\\~"), 60))
    clipped = escape_clipped(text, limit)
    assert len(clipped) <= limit
    assert not ends_mid_escape(clipped)
    assert unescaped_markdown(clipped) == []


def test_clipping_keeps_short_text_whole() -> None:
    assert escape_clipped("a *b*", 7) == "a \\*b\\*"
    assert escape_clipped("a *b*", 6) == "a \\*b…"
    assert escape_clipped("a *b*", 5) == "a \\*…"
    assert escape_clipped("a *b*", 4) == "a …"  # not "a \…": the backslash would escape the ellipsis


def test_inline_code_cannot_be_closed_early() -> None:
    assert inline_code("dragon") == "`dragon`"
    assert inline_code("a`b") == "``a`b``"
    assert inline_code("`x") == "`` `x ``"
    assert "@everyone" not in inline_code("@everyone")


def test_join_within_keeps_whole_parts_and_says_what_is_left_out() -> None:
    parts = [f"entry {n} " + "x" * 50 for n in range(100)]
    joined = join_within(parts, 500)
    assert len(joined) <= 500
    shown = joined.split("\n")
    assert shown[:-1] == parts[: len(shown) - 1]
    assert shown[-1] == f"…and {100 - len(shown) + 1} more."


def make_job(n: int, prompt: str, *, error: str | None = None, negative: str | None = None) -> Job:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return Job(
        id=f"{n:016x}", guild_id=1, channel_id=2, user_id=3,
        request=VideoRequest(prompt, 5, "16:9", "std", negative_prompt=negative), provider="runblob",
        status=JobStatus.FAILED if error else JobStatus.DELIVERED, created_at=now, updated_at=now,
        last_error=error, result_message_id=None if error else 10**18 + n,
    )


def test_the_worst_status_embed_fits_discords_limits_after_escaping() -> None:
    job = make_job(1, "*" * 2500, error="The provider refused the request: " + "[x](y) " * 300,
                   negative="_" * 2500)
    status = render.status_embed(job, queue_position=99)
    assert len(status) <= EMBED_TOTAL_LIMIT  # discord.py counts as Discord does
    embed: dict[str, Any] = dict(status.to_dict())
    assert len(embed["description"]) <= DESCRIPTION_LIMIT
    assert all(len(f["value"]) <= FIELD_LIMIT for f in embed["fields"])
    for part in [embed["description"], *(f["value"] for f in embed["fields"])]:
        assert unescaped_markdown(part) == [] and not ends_mid_escape(part)


def test_the_job_list_fits_one_message_in_whole_entries() -> None:
    jobs = [make_job(n, ATTACK * 30, error=None if n % 2 else "Provider said: " + ATTACK * 5) for n in range(10)]
    listing = render.jobs_listing(jobs)
    assert len(listing) <= MESSAGE_LIMIT
    assert "older job(s) not shown" in listing
    for line in listing.split("\n"):
        quoted = line.removeprefix("> _").removesuffix("_").removeprefix("> ")
        if not line.startswith("`") and "discord.com/channels" not in line and "not shown" not in line:
            assert unescaped_markdown(quoted) == [], line
    assert "@everyone" not in listing


def test_the_credit_history_escapes_reasons_and_fits_one_message() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [LedgerEntry(LedgerKind.REFUND, 1, "2025-01-01", at, user_id=10**18 + n, amount=20,
                           job_id=f"{n:016x}", detail="The provider refused the request: " + ATTACK)
               for n in range(10)]
    text = render_quotas.history_text(HistoryPage(entries, page=1, pages=3, total=30, user_id=None))
    assert len(text) <= MESSAGE_LIMIT
    assert "Older entries" in text  # all ten entries and the way to the next page fit
    assert text.count("got **20** back") == 10
    assert not re.search(r"(?<!\\)\]\(", text) and "@everyone" not in text


def test_a_long_blocklist_comes_in_pages_of_whole_entries() -> None:
    words = tuple(f"w{n}`*_" + "x" * 90 for n in range(500))
    first = blocklist_page(words, 1)
    assert len(first) <= MESSAGE_LIMIT and first.startswith("Blocked (page 1 of ")
    assert first.endswith("`/moderation blocklist list page:2`")
    pages = int(re.search(r"of (\d+)\)", first).group(1))  # type: ignore[union-attr]
    shown = []
    for page in range(1, pages + 1):
        text = blocklist_page(words, page)
        assert len(text) <= MESSAGE_LIMIT
        shown += re.findall(r"``(w\d+`\*_x+)``", text)
    assert shown == list(words)  # every entry, once, whole, in code spans nothing closes early
    assert f"ask for page 1 to {pages}" in blocklist_page(words, pages + 1)
