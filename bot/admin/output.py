"""Plain-text output for the command line: check marks, tables, clipped text and times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

OK = "✓"
FAILED = "✗"


class AdminError(Exception):
    """The command could not do what was asked; the message says why and what to do. Exit status 1."""


def mark(ok: bool, what: str, detail: str) -> str:
    return f"{OK if ok else FAILED} {what}: {detail}"


def clip(text: str | None, width: int) -> str:
    """One line of at most `width` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
