"""Providers are described once (bot/providers/catalog.py): KLING_PROVIDER's choices, required keys and
masked secrets are derived from the descriptors, and one reading of "content blocked" serves them all."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.core.ports.provider import ErrorKind
from bot.logs import settings_secrets
from bot.providers.catalog import CATALOG
from bot.providers.content import failure_kind


def test_every_provider_is_in_the_catalog_under_its_own_name() -> None:
    assert list(CATALOG) == ["sandbox", "runblob", "segmind", "cometapi", "runbase", "kling"]
    assert {name: d.required_settings() for name, d in CATALOG.items()} == {
        "sandbox": [], "runblob": ["runblob_api_key"], "segmind": ["segmind_api_key"],
        "cometapi": ["cometapi_key"], "runbase": ["runbase_api_key"],
        "kling": ["kling_access_key", "kling_secret_key"],
    }
    assert all(d.secret_settings() == d.required_settings() for d in CATALOG.values())


@pytest.mark.parametrize("name", [name for name in CATALOG if name != "sandbox"])
def test_each_providers_keys_are_required_and_masked(name: str) -> None:
    descriptor = CATALOG[name]
    with pytest.raises(ConfigError) as refused:
        load_settings(discord_token="token-for-the-test", kling_provider=name)
    assert str(refused.value).splitlines() == [
        f"{key.upper()}: is required when KLING_PROVIDER={name}" for key in descriptor.required_settings()]
    keys = {key: f"{key}-value-1234" for key in descriptor.required_settings()}
    settings = load_settings(discord_token="token-for-the-test", kling_provider=name.upper(), **keys)
    assert settings.kling_provider == name
    assert sorted(settings_secrets(settings)) == sorted(["token-for-the-test", *keys.values()])


def test_a_blank_key_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="RUNBLOB_API_KEY: is required when KLING_PROVIDER=runblob"):
        load_settings(discord_token="t", kling_provider="runblob", runblob_api_key="   ")


@pytest.mark.parametrize(("words", "kind"), [
    ("Failure to pass the risk control system", ErrorKind.CONTENT_BLOCKED),  # Kling
    ("RAI filtered: the prompt was blocked", ErrorKind.CONTENT_BLOCKED),  # segmind
    ("NSFW content detected", ErrorKind.CONTENT_BLOCKED),  # runbase
    ("CONTENT_POLICY_VIOLATION", ErrorKind.CONTENT_BLOCKED),  # runblob
    ("prohibited subject", ErrorKind.CONTENT_BLOCKED),
    ("internal server error while rendering", ErrorKind.GENERATION_FAILED),
    ("", ErrorKind.GENERATION_FAILED),
    (None, ErrorKind.GENERATION_FAILED),
])
def test_one_reading_of_blocked_content_for_every_provider(words: str | None, kind: ErrorKind) -> None:
    assert failure_kind(words) is kind
