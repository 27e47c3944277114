from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "KLING", "RUNBLOB", "HTTP"))}
    return subprocess.run([sys.executable, "-m", "bot"], env={**clean, **env}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)


def test_missing_token_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    result = run_bot({"PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_provider_key_names_the_variable(tmp_path: Path) -> None:
    result = run_bot({"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x", "KLING_PROVIDER": "runblob"}, tmp_path)
    assert result.returncode == 2
    assert "RUNBLOB_API_KEY: is required when KLING_PROVIDER=runblob" in result.stderr


def test_malformed_value_names_the_variable(tmp_path: Path) -> None:
    result = run_bot({"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x", "HTTP_PORT": "eighty"}, tmp_path)
    assert result.returncode == 2
    assert "HTTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("KLING_PROVIDER", raising=False)
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\nQUOTA_PERIOD=week\n")
    settings = load_settings()
    assert settings.discord_token.get_secret_value() == "from-file"
    assert settings.kling_provider == "sandbox"
    assert "from-file" not in repr(settings)


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="KLING_PROVIDER"):
        load_settings(discord_token="x", kling_provider="openai")


def test_a_blank_optional_secret_means_unset() -> None:
    settings = load_settings(discord_token="x", metrics_token="", alert_webhook_url="  ", callback_secret="")
    assert (settings.metrics_token, settings.alert_webhook_url, settings.callback_secret) == (None, None, None)
