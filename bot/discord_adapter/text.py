"""Member text is text: what a member or a provider typed, shown in the bot's messages and embeds without
turning into formatting, links or mentions, and clipped to Discord's limits without breaking an escape.

Every markdown character gets a backslash (Discord shows `\\*` as "*"); so do the markers that only count at
the start of a line (headings, quotes, lists, "-#" subtext). "[text](url)" therefore stays visible as
written, with the address showing. Bare web addresses stay as they are, as discord.py's `escape_markdown`
leaves them: Discord reads an address as one link before any formatting, and a backslash inside it would
break the link. Mentions (`@everyone`, `@here`, `<@id>`, `<@&id>`, `<#id>`, emoji, timestamps, command
mentions) get an invisible zero-width space, so they are not mentions even in the message's raw text; the
bot's messages also never allow pinging everyone or a role (AllowedMentions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Discord's limits (characters) that member text meets in the bot's messages.
MESSAGE_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
ELLIPSIS = "…"
ZWSP = "\u200b"

MARKDOWN = frozenset("\\*_~|`[]")
# Discord's own pattern for a bare link (as discord.py escapes around it): what it would turn into one link.
URL = r"(?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s]"
MENTION_START = re.compile(r"<(?=[@#:/]|a:|t:|id:)")
EVERYONE = re.compile(r"@(?=everyone|here)")
UNITS = re.compile(rf"(?P<url>{URL})|(?P<char>[\s\S])")
# Where a line starts (text start, or after a newline), past any indentation: a marker here formats the line.
LINE_START = re.compile(r"(?m)^[ \t]*(?:(?P<mark>[#>\-+*])|\d+(?P<number>[.)]))")
# A character that may need an escape (markdown, a mention's start, "@everyone"), or the "://" of a link. Text
# with none of them and no line marker is shown as it is: most prompts, in one search instead of one regex match
# a character (`_units` runs for every status message).
MAY_NEED_ESCAPE = re.compile(r"[\\*_~|`\[\]<@]|://")


def escape(text: str) -> str:
    """`text` shown literally: no formatting, no masked links, no mentions."""
    if _plain(text):
        return text
    return "".join(_units(text))


def escape_clipped(text: str, limit: int) -> str:
    """`escape(text)`, clipped to `limit` characters with "…" without cutting an escape sequence in half."""
    if _plain(text):  # every unit is one character
        return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
    units = _units(text)
    if sum(map(len, units)) <= limit:
        return "".join(units)
    kept: list[str] = []
    room = limit - len(ELLIPSIS)
    for unit in units:
        if len(unit) > room:
            break
        kept.append(unit)
        room -= len(unit)
    return "".join(kept) + ELLIPSIS


def one_line(text: str) -> str:
    """Line breaks and runs of spaces as one space (for previews inside a listing line)."""
    return " ".join(text.split())


def inline_code(text: str) -> str:
    """`text` in an inline code span that nothing in it can close early (Discord shows it verbatim). Still no
    `@everyone` in the raw text."""
    text = EVERYONE.sub("@" + ZWSP, one_line(text)) or " "
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "  # the fence must not run into backticks of the text
    return f"{fence}{text}{fence}"


def clip(text: str, limit: int) -> str:
    """Clip the bot's own text (no escapes in it) to `limit` characters."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def and_more(left: int) -> str:
    return f"…and {left} more."


def join_within(parts: Iterable[str], limit: int, *, separator: str = "\n",
                more: Callable[[int], str] = and_more) -> str:
    """As many whole parts as fit in `limit`, then `more(number left out)`: a listing never ends inside an
    entry, where a cut code span or escape would break the formatting of everything after it."""
    parts = list(parts)
    count, length = 0, 0
    for part in parts:
        added = len(part) + (len(separator) if count else 0)
        if length + added > limit:
            break
        count, length = count + 1, length + added
    if count == len(parts):
        return separator.join(parts)
    while count and length + len(separator) + len(more(len(parts) - count)) > limit:
        count -= 1  # make room for the note
        length -= len(parts[count]) + (len(separator) if count else 0)
    note = more(len(parts) - count)
    return separator.join([*parts[:count], note]) if count else clip(note, limit)


def pages_of(parts: Iterable[str], limit: int, *, separator: str = "\n") -> list[list[str]]:
    """Whole parts packed in order into pages whose joined text fits in `limit` (a part too long on its own
    gets a page of its own, clipped by the caller's escaping limits beforehand)."""
    pages: list[list[str]] = []
    length = 0
    for part in parts:
        if pages and pages[-1] and length + len(separator) + len(part) <= limit:
            pages[-1].append(part)
            length += len(separator) + len(part)
        else:
            pages.append([part])
            length = len(part)
    return pages


def _plain(text: str) -> bool:
    """Whether `escape(text)` is `text` itself: nothing in it to escape, no link, no line marker."""
    return MAY_NEED_ESCAPE.search(text) is None and LINE_START.search(text) is None


def _units(text: str) -> list[str]:
    """`text` as escaped pieces that are kept or dropped whole when clipping: one character (with its
    backslash or zero-width space), or one bare link."""
    line_marks = set()
    for match in LINE_START.finditer(text):
        line_marks.add(match.start("mark") if match.group("mark") else match.start("number"))
    units: list[str] = []
    for match in UNITS.finditer(text):
        url = match.group("url")
        if url is not None:
            units.append(EVERYONE.sub("@" + ZWSP, url))
            continue
        char = match.group("char")
        position = match.start()
        if char in MARKDOWN or position in line_marks:
            units.append("\\" + char)
        elif char == "<" and MENTION_START.match(text, position):
            units.append("<" + ZWSP)
        elif char == "@" and EVERYONE.match(text, position):
            units.append("@" + ZWSP)
        else:
            units.append(char)
    return units
