"""The bot waits with a deadline through `asyncio.timeout`, never `asyncio.wait_for`: on Python 3.11 (the Docker
image's) `wait_for` returns the awaited result instead of raising when a cancel comes with it, so a loop could
miss the stop meant for it (tests/e2e/test_shutdown.py shows the poll loop doing so)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted(p for package in ("bot", "cogs", "storage") for p in (ROOT / package).rglob("*.py"))


def wait_for_calls(path: Path) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
            if isinstance(node, ast.Attribute) and node.attr == "wait_for"
            and isinstance(node.value, ast.Name) and node.value.id == "asyncio"]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_asyncio_wait_for(path: Path) -> None:
    assert not wait_for_calls(path), f"{path.relative_to(ROOT)} uses asyncio.wait_for on lines {wait_for_calls(path)}"


def test_the_check_sees_a_wait_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\nasync def f(e):\n    await asyncio.wait_for(e.wait(), 1)\n    e.wait_for = 1\n")
    assert wait_for_calls(sample) == [3]
