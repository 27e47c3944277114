""".env.example lists every setting, and every `NAME=value` line in it, commented or not, is valid as it
stands: uncommented all at once and read the way the bot reads `.env`, the settings load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

from bot.config import Settings, load_settings
from bot.providers.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
SETTING_LINE = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
# Read by deploy/docker-compose.yml (through `--env-file .env`), not by the bot.
COMPOSE_ONLY = {"BOT_DOMAIN"}


def bot_settings() -> set[str]:
    names = {name.upper() for name in Settings.model_fields}
    for descriptor in CATALOG.values():
        names |= {name.upper() for name in descriptor.settings.model_fields}
    return names


def example_lines() -> list[tuple[str, str]]:
    """(NAME, value) for every setting line of .env.example, commented or not, in order."""
    found = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = SETTING_LINE.match(line)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def uncommented(tmp_path: Path, **replacing: str) -> Path:
    """.env.example with every setting line uncommented (some values replaced) as `.env` in tmp_path."""
    lines = [f"{name}={replacing.get(name, value)}" for name, value in example_lines()]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return env_file


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the .env written in tmp_path speaks: no setting from the test runner's environment."""
    monkeypatch.chdir(tmp_path)
    for name in bot_settings() | COMPOSE_ONLY:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_every_setting_is_listed_once_and_nothing_else() -> None:
    names = [name for name, _ in example_lines()]
    assert len(names) == len(set(names)), "a setting is listed twice: uncommented, the last one would win"
    unknown = set(names) - bot_settings() - COMPOSE_ONLY
    assert not unknown, f"not settings of the bot: {sorted(unknown)}"
    missing = bot_settings() - set(names)
    assert not missing, f"add these settings to .env.example: {sorted(missing)}"
    for name in ("JOB_RETENTION_DAYS", "ALERT_CHANNEL_ID", "ALERT_WEBHOOK_URL", "LOG_JSON", "METRICS_TOKEN"):
        assert name in names


def test_no_value_carries_a_note() -> None:
    # python-dotenv keeps `(generated ...)` after a value as part of it; notes belong on their own lines.
    for name, value in example_lines():
        assert value == value.strip() and not re.search(r"\s[#(]", value), f"{name}={value}"


def test_every_line_uncommented_is_read_as_written(clean_environment: Path) -> None:
    env_file = uncommented(clean_environment)
    read = dotenv_values(env_file)
    assert read == dict(example_lines())  # no quoting or comment rules change a value (JSON included)


def test_every_line_uncommented_loads(clean_environment: Path) -> None:
    written = dict(example_lines())
    assert written["DISCORD_TOKEN"] == ""  # the one value the operator must fill in
    uncommented(clean_environment, DISCORD_TOKEN="a-bot-token")

    settings = load_settings()  # reads .env from the working folder, as the bot does

    assert settings.kling_provider == written["KLING_PROVIDER"]
    assert settings.provider_settings is not None
    assert settings.job_retention_days == int(written["JOB_RETENTION_DAYS"])
    assert settings.alert_channel_id == int(written["ALERT_CHANNEL_ID"])
    assert settings.alert_webhook_url is not None
    assert settings.alert_webhook_url.get_secret_value() == written["ALERT_WEBHOOK_URL"]
    assert settings.metrics_token is not None and settings.metrics_token.get_secret_value()
    assert not settings.callback_secret  # empty means "generate one", as unset does
    assert settings.dev_guild_id == int(written["DEV_GUILD_ID"])
    assert settings.mode_multipliers == {"std": 1, "pro": 2, "4k": 4}
    assert len(settings.allowed_guild_ids) == 2 and settings.download_allow_networks
    assert settings.log_json is False


@pytest.mark.parametrize("provider", sorted(CATALOG))
def test_each_providers_lines_are_valid(clean_environment: Path, provider: str) -> None:
    """The other providers' lines too: their base URLs parse, and with KLING_PROVIDER switched and the key
    filled in, the bot's settings load."""
    written = dict(example_lines())
    descriptor = CATALOG[provider]
    keys = {name.upper(): f"{provider}-key" for name in descriptor.required_settings()}
    uncommented(clean_environment, DISCORD_TOKEN="a-bot-token", KLING_PROVIDER=provider, **keys)

    settings = load_settings()

    assert settings.kling_provider == provider
    own = settings.provider_settings
    for name in descriptor.settings.model_fields:
        if name.endswith("_base_url"):
            assert str(getattr(own, name)).rstrip("/") == written[name.upper()]
