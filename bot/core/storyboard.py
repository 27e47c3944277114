"""A storyboard as a member writes it: one shot a line, `seconds: what happens` (`5: a cat jumps onto the
table`). Parsed strictly, so a line that is not a shot is named rather than guessed at."""

from __future__ import annotations

import re

from bot.core.errors import InvalidRequest
from bot.core.messages import Message
from bot.core.models import Shot

# "5: ...", "5s: ...", "5 s: ..." — seconds, then a colon, then the shot. The full-width colon and "秒" are
# what Chinese and Japanese keyboards type, so they count too (and `\d` with int() takes full-width digits).
SHOT_LINE = re.compile(r"^\s*(?P<seconds>\d{1,3})\s*(?:s|秒)?\s*[:：](?P<prompt>.*)$", re.IGNORECASE)
EXAMPLE = Message("storyboard.example")  # "5: a cat jumps onto the table", in the reader's language
QUOTED = 60  # how much of a bad line a refusal repeats


def parse_shots(text: str) -> tuple[Shot, ...]:
    """The shots in `text`, one a line (blank lines skipped). Raises InvalidRequest naming the first bad line."""
    shots = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = SHOT_LINE.match(line)
        if match is None:
            raise InvalidRequest("storyboard.line_not_a_shot", number=number, line=_clipped(line), example=EXAMPLE)
        prompt = match["prompt"].strip()
        if not prompt:
            raise InvalidRequest("storyboard.line_empty", number=number)
        shots.append(Shot(prompt=prompt, duration=int(match["seconds"])))
    if not shots:
        raise InvalidRequest("storyboard.empty", example=EXAMPLE)
    return tuple(shots)


def storyboard_text(shots: tuple[Shot, ...]) -> str:
    """The shots as a member writes them: the job's prompt, and what Remix shows to edit."""
    return "\n".join(f"{shot.duration}: {shot.prompt}" for shot in shots)


def _clipped(line: str) -> str:
    line = line.strip()
    return f"{line[:QUOTED]}…" if len(line) > QUOTED else line
