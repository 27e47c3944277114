"""Members read the bot in their language: a real discord.py client against the fake Discord.

Replies to an interaction follow the member's client language (`locale`); posts in a channel (the status
message, the finished video) follow the server's preferred language (`guild_locale`); the registered
commands carry name and description localizations. German is the example: its shipped catalogue when one
exists, else a few German texts written here (the rest falls back to English, as the bot does)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import cogs.settings
import cogs.video
from bot.core.messages import Message
from bot.core.models import JobStatus
from bot.i18n import Catalogue, activate
from bot.i18n.catalogue import ENGLISH, LOCALES_DIR, SHIPPED_LOCALES, load_file
from bot.i18n.commands import CatalogueTranslator
from bot.providers.catalog import CATALOG
from tests.conftest import ALICE, CHANNEL, GUILD
from tests.e2e.commands import private_reply, slash
from tests.fakes.discord import FakeDiscord
from tests.harness import BotHarness
from tests.waiting import until

GERMAN = "de"
JAPANESE = "ja"  # a member's client language with no catalogue here: English, or its file once it ships
# Used only while no German catalogue ships (the lead adds the real files).
SOME_GERMAN = {
    "error.prompt_empty": "Der Prompt ist leer. Beschreibe das Video, das du möchtest.",
    "status.title.queued": "⏳ In der Warteschlange",
    "status.title.submitted": "📨 An den Anbieter gesendet",
    "status.title.processing": "🎬 Wird erstellt",
    "status.title.completed": "📦 Fertig, wird gepostet",
    "status.title.delivered": "✅ Fertig",
    "job.field.settings": "Einstellungen",
    "job.field.requested_by": "Angefragt von",
    "result.ready": "{mention} dein Video ist fertig.",
    "cmd.video.description": "Ein kurzes KI-Video mit Kling erstellen",
    "cmd.help.name": "hilfe",
    "cmd.help.description": "Was dieser Bot kann, deine Credits und Tipps für Prompts",
    "button.reroll": "Neu würfeln",
    "button.remix": "Abwandeln",
    "button.details": "Details ansehen",
    "remix.form.title": "Dieses Video abwandeln",
    "remix.form.prompt": "Beschreibung",
    "quota.show.yours": "Deine Credits",
    "quota.show.usage": "Verbraucht **{used}** · Übrig **{remaining}** · Limit {limit}",
    "queue.empty": "Gerade wird nichts erstellt und nichts wartet: ein `/video` startet sofort.",
    "provider.content_blocked": "Der Inhaltsfilter des Anbieters hat diesen Prompt oder dieses Bild blockiert",
}
DERIVED = ("cmd.", "menu.", "choice.")


def toml_line(key: str, text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{key}" = "{escaped}"\n'


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    folder = tmp_path / "locales"
    folder.mkdir()
    for path in LOCALES_DIR.glob("*.toml"):
        (folder / path.name).write_text(path.read_text())
    if GERMAN not in SHIPPED_LOCALES:
        (folder / f"{GERMAN}.toml").write_text("".join(toml_line(k, v) for k, v in SOME_GERMAN.items()))
    active = Catalogue(folder)
    activate(active)
    try:
        yield active
    finally:
        activate(None)


@pytest.fixture
async def bot(discord_fake: FakeDiscord, tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[BotHarness]:
    harness = BotHarness(discord_fake, tmp_path)
    try:
        yield harness
    finally:
        await harness.stop()


def german(catalogue: Catalogue, key: str, **params: Any) -> str:
    text = catalogue.text(GERMAN, key, params)
    assert text != catalogue.text(ENGLISH, key, params), f"{key} is not translated in the test catalogue"
    return text


async def test_a_refusal_is_in_the_members_language(bot: BotHarness, discord_fake: FakeDiscord,
                                                    catalogue: Catalogue) -> None:
    discord_fake.set_user_locale(ALICE, GERMAN)
    await bot.start()
    refused = await bot.video("   ")
    assert await private_reply(refused) == german(catalogue, "error.prompt_empty")

    discord_fake.set_user_locale(ALICE, "fr")  # no French catalogue: English
    refused = await bot.video("   ")
    assert await private_reply(refused) == catalogue.text(ENGLISH, "error.prompt_empty")


async def test_posts_in_a_channel_are_in_the_servers_language_whatever_the_members(
    bot: BotHarness, discord_fake: FakeDiscord, catalogue: Catalogue
) -> None:
    discord_fake.set_guild_locale(GUILD, GERMAN)
    discord_fake.set_user_locale(ALICE, JAPANESE)
    await bot.start()
    interaction = await bot.video("a red fox running through snow")
    status = (await interaction.wait_response())["data"]
    embed = status["embeds"][0]
    titles = {german(catalogue, f"status.title.{name}") for name in ("queued", "submitted", "processing")}
    assert embed["title"] in titles
    assert [field["name"] for field in embed["fields"][:2]] == [german(catalogue, "job.field.settings"),
                                                               german(catalogue, "job.field.requested_by")]
    ready = german(catalogue, "result.ready", mention=f"<@{ALICE}>")
    result = await discord_fake.wait_for_message(CHANNEL, lambda m: (m.get("content") or "").startswith(ready),
                                                 timeout=15)
    assert result["embeds"][0]["fields"][0]["name"] == german(catalogue, "job.field.settings")


async def test_a_failure_is_kept_as_a_message_and_shown_in_the_servers_language(
    bot: BotHarness, discord_fake: FakeDiscord, catalogue: Catalogue
) -> None:
    discord_fake.set_guild_locale(GUILD, GERMAN)
    await bot.start()
    interaction = await bot.video("show me a failure sandbox:fail")
    job = await bot.job_for(interaction)
    failed = await bot.wait_status(job.id, JobStatus.FAILED, timeout=15)
    assert failed.failure is not None and failed.failure.params["words"] == Message("provider.content_blocked")
    assert "content filter" in (failed.last_error or "")  # English for the admin CLI and the ledger
    words = german(catalogue, "provider.content_blocked")
    await until(lambda: words in json.dumps(interaction.response_message, ensure_ascii=False),
                "the status message to show the reason in German")


async def test_registered_commands_carry_localizations_for_every_language(
    bot: BotHarness, discord_fake: FakeDiscord, catalogue: Catalogue
) -> None:
    await bot.start()
    commands = {command["name"]: command for command in discord_fake.guild_commands[GUILD]}
    assert commands["video"]["description_localizations"][GERMAN] == german(catalogue, "cmd.video.description")
    assert commands["help"]["name_localizations"][GERMAN] == german(catalogue, "cmd.help.name")
    for locale in set(SHIPPED_LOCALES) - {ENGLISH}:  # a shipped language localizes every command fully
        for command in commands.values():
            assert locale in (command.get("name_localizations") or {}), (locale, command["name"])
            if command.get("type", 1) == 1:
                assert locale in (command.get("description_localizations") or {}), (locale, command["name"])


async def test_every_command_text_has_its_catalogue_entry_and_every_entry_a_command(bot: BotHarness) -> None:
    """The keys Discord's payload asks for, for the running bot and for /video and /settings as every provider
    builds them, are exactly the catalogue's command entries: no command text without a translation slot,
    no entry for a command that is gone."""
    running = await bot.start()
    tree = running.bot.tree
    translator = tree.translator
    assert isinstance(translator, CatalogueTranslator)

    async def handler(*args: Any) -> None: ...

    for descriptor in CATALOG.values():
        for build in (cogs.video.build_video_command, cogs.settings.build_settings_command):
            await build(descriptor.capabilities, handler).get_translated_payload(tree, translator)
    english = load_file(LOCALES_DIR / f"{ENGLISH}.toml")
    entries = {key for key in english if key.startswith(DERIVED)}
    assert sorted(translator.asked - entries) == [], "command texts without a catalogue entry"
    assert sorted(entries - translator.asked) == [], "catalogue entries no command uses"


def labels(message: dict[str, Any]) -> list[str]:
    return [component.get("label") for row in message.get("components") or [] for component in row["components"]]


async def test_buttons_follow_the_server_and_forms_and_replies_follow_the_member(
    bot: BotHarness, discord_fake: FakeDiscord, catalogue: Catalogue
) -> None:
    """The buttons under a result are for everyone in the channel (the server's language); the form a click
    opens and the private replies are for the member (their client's language)."""
    discord_fake.set_guild_locale(GUILD, GERMAN)
    discord_fake.set_user_locale(ALICE, "fr")  # no French catalogue: English
    await bot.start()
    interaction = await bot.video("a red fox running through snow")
    await interaction.wait_response()
    ready = german(catalogue, "result.ready", mention=f"<@{ALICE}>")
    result = await discord_fake.wait_for_message(CHANNEL, lambda m: (m.get("content") or "").startswith(ready),
                                                 timeout=15)
    # German keeps "Remix" and "Details" as they are; "Re-roll" is the one that shows the language.
    german(catalogue, "button.reroll")
    assert labels(result)[:3] == [catalogue.text(GERMAN, f"button.{key}", {}) for key in ("reroll", "remix", "details")]
    job_id = _job_id(result)

    click = await discord_fake.click_button(message=result, custom_id=f"kb:remix:{job_id}", user_id=ALICE)
    await click.wait_response()
    assert click.modal is not None and click.modal["title"] == catalogue.text(ENGLISH, "remix.form.title")

    discord_fake.set_user_locale(ALICE, GERMAN)
    click = await discord_fake.click_button(message=result, custom_id=f"kb:remix:{job_id}", user_id=ALICE)
    await click.wait_response()
    assert click.modal is not None and click.modal["title"] == german(catalogue, "remix.form.title")
    assert catalogue.text(GERMAN, "remix.form.prompt", {}) in str(click.modal)  # "Prompt" in German too

    shown = await private_reply(await slash(discord_fake, ALICE, "quota", "show"))
    assert shown.startswith(f"**{german(catalogue, 'quota.show.yours')}**")
    german(catalogue, "quota.show.usage", used=1, remaining=1, limit=1)
    assert catalogue.template(GERMAN, "quota.show.usage").split("{")[0] in shown  # "Verbraucht **"
    queue = await private_reply(await discord_fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL,
                                                                      user_id=ALICE, name="queue"))
    assert queue == german(catalogue, "queue.empty")


def _job_id(message: dict[str, Any]) -> str:
    """The job id in a result's buttons (`kb:reroll:<id>`)."""
    for row in message.get("components") or []:
        for component in row["components"]:
            if str(component.get("custom_id", "")).startswith("kb:reroll:"):
                return str(component["custom_id"]).split(":")[2]
    raise AssertionError("the result has no Re-roll button")
