"""The core owns its interfaces: nothing under bot/core imports an edge (a database, Discord, HTTP, the settings,
a provider, the message catalogue). Edges depend on the core, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "bot" / "core"
FORBIDDEN = ("storage", "sqlite3", "aiosqlite", "asyncpg", "bot.config", "bot.providers", "bot.i18n",
             "bot.discord_adapter", "bot.web", "bot.downloads", "bot.alerting", "bot.admin", "bot.app", "cogs",
             "discord", "aiohttp", "prometheus_client", "av")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_edge(path: Path) -> None:
    wrong = [f"line {line}: {module}" for line, module in imported_modules(path) if forbidden(module)]
    assert not wrong, f"{path.relative_to(ROOT)} imports an edge: {wrong}"


def test_the_check_sees_an_edge_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import json\nfrom storage.jobs import JobStore\nimport discord.ui\n")
    assert [module for _, module in imported_modules(sample) if forbidden(module)] == ["storage.jobs", "discord.ui"]
