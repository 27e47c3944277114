"""The message catalogue: every shipped locale complete (same keys, same placeholders as English), every key
the code names present and every key present used, command localizations valid for Discord, Discord's
locales mapped as documented, and the English renderer behind `str(message)`."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import discord
import pytest
from discord import app_commands

import cogs.video
from bot.core.errors import InvalidRequest
from bot.core.messages import Choices, Message, from_json, msg, to_json
from bot.discord_adapter.command_sync import payload_hash
from bot.i18n import activate
from bot.i18n.catalogue import (
    ENGLISH,
    KEY_SHAPE,
    LOCALES_DIR,
    PLANNED_LOCALES,
    SHIPPED_LOCALES,
    Catalogue,
    MissingMessage,
    load_file,
    placeholders,
)
from bot.i18n.commands import CHOICE_LIMIT, DESCRIPTION_LIMIT, NAME, NAME_LIMIT, CatalogueTranslator
from bot.providers.kling import CAPABILITIES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "bot").rglob("*.py")), *sorted((ROOT / "cogs").rglob("*.py"))]
# Keys made from where a command text sits (bot/i18n/commands.py), never written in the code: the end-to-end
# test tests/e2e/test_localization.py checks them against the registered commands instead.
DERIVED = ("cmd.", "menu.", "choice.label.")
ENGLISH_TEXTS = load_file(LOCALES_DIR / f"{ENGLISH}.toml")


def string_literals() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_the_shipped_locales_are_exactly_the_files_on_disk() -> None:
    assert sorted(path.stem for path in LOCALES_DIR.glob("*.toml")) == sorted(SHIPPED_LOCALES)
    assert ENGLISH in SHIPPED_LOCALES and set(SHIPPED_LOCALES) <= set(PLANNED_LOCALES)


@pytest.mark.parametrize("locale", [
    pytest.param(locale, marks=() if locale in SHIPPED_LOCALES else pytest.mark.xfail(
        strict=False, reason="translation pending: add the locale to SHIPPED_LOCALES when its file lands"))
    for locale in PLANNED_LOCALES
])
def test_every_locale_has_every_key_with_the_same_placeholders(locale: str) -> None:
    texts = load_file(LOCALES_DIR / f"{locale}.toml")
    assert sorted(set(ENGLISH_TEXTS) - set(texts)) == [], "missing keys"
    assert sorted(set(texts) - set(ENGLISH_TEXTS)) == [], "keys English does not have"
    wrong = {key: (placeholders(texts[key]), placeholders(english)) for key, english in ENGLISH_TEXTS.items()
             if placeholders(texts[key]) != placeholders(english)}
    assert wrong == {}, "placeholders differ from English"
    for text in texts.values():  # every text formats with numbers for its placeholders
        text.format(**dict.fromkeys(placeholders(text), 1))


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_command_localizations_are_valid_for_discord(locale: str) -> None:
    texts = load_file(LOCALES_DIR / f"{locale}.toml")
    for key, text in texts.items():
        if key.startswith("cmd.") and key.endswith(".name"):
            assert NAME.fullmatch(text) and text == text.lower() and len(text) <= NAME_LIMIT, (key, text)
        elif key.startswith("cmd.") and key.endswith(".description"):
            assert 1 <= len(text) <= DESCRIPTION_LIMIT, (key, text)
        elif key.startswith("menu."):
            assert 1 <= len(text) <= NAME_LIMIT, (key, text)
        elif key.startswith("choice."):
            assert 1 <= len(text) <= CHOICE_LIMIT, (key, text)


def test_every_key_the_code_names_is_in_the_catalogue_and_every_key_is_used() -> None:
    prefixes = {key.split(".")[0] + "." for key in ENGLISH_TEXTS if not key.startswith(DERIVED)}
    literals = string_literals()
    named = {text for text in literals if KEY_SHAPE.fullmatch(text) and text.startswith(tuple(prefixes))}
    assert sorted(named - set(ENGLISH_TEXTS)) == [], "keys in the code the catalogue lacks (a typo?)"
    unused = {key for key in ENGLISH_TEXTS if not key.startswith(DERIVED) and key not in literals}
    assert sorted(unused) == [], "catalogue keys no code uses"


def test_a_typo_in_a_key_fails_loudly_and_an_english_sentence_shows_as_written() -> None:
    with pytest.raises(MissingMessage):
        str(Message("error.prompt_emtpy"))
    assert str(InvalidRequest("A sentence from code not converted yet.")) == "A sentence from code not converted yet."


def test_messages_render_in_english_with_nested_messages_and_choices() -> None:
    assert str(InvalidRequest("error.duration_choices", choices=Choices.of([5, 10, 15]))) == (
        "Duration must be one of 5, 10 or 15 seconds.")
    assert str(msg("error.prompt_too_long", length=3000, limit=2500)) == (
        "The prompt is 3,000 characters long; the limit is 2,500. Shorten it and try again.")
    nested = msg("quota.refusal.wait", left=msg("quota.left.pool", remaining=1, limit=10,
                                                period=Message("period.today"),
                                                video=msg("quota.video_cost", duration=5, mode="pro", cost=4)),
                 resets=msg("quota.resets", wait=msg("time.hours", hours=2)))
    assert str(nested) == ("The server's shared pool has 1 of 10 credits left today; a 5 s pro video costs 4. "
                           "Resets in 2 h.")
    assert from_json(to_json(nested)) == nested


@pytest.fixture
def german(tmp_path: Path) -> Catalogue:
    (tmp_path / "en-US.toml").write_text((LOCALES_DIR / "en-US.toml").read_text())
    (tmp_path / "es-ES.toml").write_text('"error.prompt_empty" = "El prompt está vacío."\n')
    (tmp_path / "de.toml").write_text('"error.duration_choices" = "Die Dauer muss {choices} Sekunden sein."\n'
                                      '"common.choices" = "{first} oder {last}"\n'
                                      '"cmd.help.description" = "Was dieser Bot kann"\n')
    return Catalogue(tmp_path)


def test_discord_locales_map_to_catalogues_and_missing_texts_fall_back_to_english(german: Catalogue) -> None:
    assert german.language(discord.Locale.german) == "de"
    assert german.language("es-419") == "es-ES" and german.language("es-ES") == "es-ES"
    assert german.language("en-GB") == ENGLISH and german.language("zh-TW") == ENGLISH
    assert german.language("fr") == ENGLISH and german.language(None) == ENGLISH
    assert german.render(msg("error.duration_choices", choices=Choices.of([5, 10])), "de") == (
        "Die Dauer muss 5 oder 10 Sekunden sein.")
    assert german.render(Message("error.prompt_empty"), "es-419") == "El prompt está vacío."
    assert german.render(Message("error.no_audio"), "de") == ENGLISH_TEXTS["error.no_audio"]  # not translated


async def test_a_changed_translation_changes_the_command_hash(german: Catalogue, tmp_path: Path) -> None:
    """The sync decision hashes the translated payload: a catalogue change makes the next start sync."""
    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    @tree.command(name="help", description="What this bot does, your credits, and prompt tips")
    async def help_command(interaction: discord.Interaction) -> None: ...

    await tree.set_translator(CatalogueTranslator())
    try:
        activate(german)
        before = await payload_hash(tree, None)
        payload = await tree.get_commands()[0].get_translated_payload(tree, CatalogueTranslator())
        assert payload["description_localizations"] == {"de": "Was dieser Bot kann"}
        (tmp_path / "de.toml").write_text('"cmd.help.description" = "Was dieser Bot alles kann"\n')
        activate(Catalogue(tmp_path))
        assert await payload_hash(tree, None) != before
        activate(german)
        assert await payload_hash(tree, None) == before
    finally:
        activate(None)
        await client.close()


def test_keys_have_the_shape_the_typo_check_looks_for() -> None:
    assert all(KEY_SHAPE.fullmatch(key) or key.startswith(DERIVED) for key in ENGLISH_TEXTS)
    assert all(re.fullmatch(r"[a-z0-9_.]+", key) for key in ENGLISH_TEXTS)


# -- No member-facing English outside the catalogue ------------------------------------------------------
# Where member-facing text is built: the cogs and the Discord adapter. Operator-facing text (logs, exceptions
# for the operator, the admin CLI in bot/admin) and command texts (translated by bot/i18n/commands.py from
# where they sit) are not member text here.
MEMBER_TEXT_SOURCES = [*sorted((ROOT / "cogs").glob("*.py")), *sorted((ROOT / "bot" / "discord_adapter").glob("*.py"))]
# Keyword arguments and calls whose text a member reads.
TEXT_KEYWORDS = frozenset({"content", "description", "label", "placeholder", "title", "name", "text"})
TEXT_CALLS = frozenset({"send_message", "send", "reply_privately", "edit_message", "edit_original_response"})
# Calls whose string arguments are not member text: command texts (the Translator localizes them from where
# they sit), logging, and exceptions that reach the operator's log, never a member.
NOT_MEMBER_TEXT_CALLS = frozenset({
    "describe", "Choice", "locale_str", "ContextMenu", "Group", "command", "Command",
    # bot/discord_adapter/built_commands.py: an app_commands.Command and its options, localized the same way
    "server_command", "option", "aspect_option", "mode_option", "audio_option",
    "debug", "info", "warning", "error", "exception", "critical", "getLogger",
    "RuntimeError", "ValueError", "TypeError", "KeyError", "PublishError", "StartFrameNotShown",
})
# Three words or more: a sentence or a phrase, wherever it is written (a constant, an f-string).
PROSE = re.compile(r"[A-Za-z][a-z']+(?:\s+[A-Za-z][a-z']*){2,}")
# Member-facing-looking literals that are not translated, each with the reason.
NOT_TRANSLATED = {
    # Discord's own permission names, quoted as Discord's API and server settings name them (the catalogue's
    # permissions.* texts say so to translators).
    ("bot/discord_adapter/bot_permissions.py", "Send Messages in Threads"),
    # A context menu's name: a command text, localized by the Translator as "menu.animate_with_kling.name".
    ("cogs/animate.py", "Animate with Kling"),
}


def _call_name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _not_member_text(call: ast.Call) -> bool:
    owner = call.func.value if isinstance(call.func, ast.Attribute) else None
    return _call_name(call) in NOT_MEMBER_TEXT_CALLS or (isinstance(owner, ast.Name) and owner.id == "app_commands")


def _literal_text(node: ast.AST) -> str | None:
    """The words of a string literal or of an f-string's literal parts; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    return None


def _command_texts(node: ast.Assign | ast.AnnAssign) -> bool:
    """`descriptions = {...}` / `descriptions["mode"] = ...`: option descriptions for `app_commands.describe`,
    localized by the Translator like every command text."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        named = target.value if isinstance(target, ast.Subscript) else target
        if isinstance(named, ast.Name) and named.id == "descriptions":
            return True
    return False


def _is_member_english(text: str) -> bool:
    """Words (not a catalogue key, not a format such as "\\n" or " · ", not a custom id) a member would read."""
    if KEY_SHAPE.fullmatch(text) or not re.search(r"[A-Za-z]{2}", text):
        return False
    return not re.fullmatch(r"kb:[a-z_]+:.*", text)  # a component's custom id, never shown


def hard_coded_member_text(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    ignored: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        documented = isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        if documented and body and isinstance(body[0], ast.Expr) and _literal_text(body[0].value) is not None:
            ignored.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.ClassDef):  # `group_name=`, `group_description=`: a command group's texts
            ignored.update(id(sub) for keyword in node.keywords if keyword.arg in ("group_name", "group_description")
                           for sub in ast.walk(keyword))
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _command_texts(node):
            ignored.update(id(sub) for sub in ast.walk(node))
        if isinstance(node, ast.Assert) or (isinstance(node, ast.Call) and _not_member_text(node)):
            ignored.update(id(sub) for sub in ast.walk(node))
    found: list[tuple[int, str]] = []

    def check(node: ast.AST, *, any_words: bool) -> None:
        text = _literal_text(node)
        if text is None or id(node) in ignored:
            return
        if _is_member_english(text) and (any_words or PROSE.search(text)):
            found.append((getattr(node, "lineno", 0), text))
        ignored.add(id(node))
        ignored.update(id(part) for part in getattr(node, "values", ()))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node) not in ignored:
            for keyword in node.keywords:
                if keyword.arg in TEXT_KEYWORDS:
                    check(keyword.value, any_words=True)
            if _call_name(node) in TEXT_CALLS:
                for argument in node.args:
                    check(argument, any_words=True)
    for node in ast.walk(tree):  # then any phrase, wherever it is kept (a constant used later, an f-string)
        check(node, any_words=False)
    relative = path.relative_to(root).as_posix()
    return sorted((line, text) for line, text in found if (relative, text) not in NOT_TRANSLATED)


def test_no_member_facing_english_is_hard_coded_in_the_cogs_or_the_discord_adapter() -> None:
    """Every text a member reads comes from the catalogue: a literal passed as a message, an embed's or a
    component's text, or any phrase of three words or more is a key, a format, or allowed above with a reason."""
    found = {path.relative_to(ROOT).as_posix(): hits for path in MEMBER_TEXT_SOURCES
             if (hits := hard_coded_member_text(path))}
    assert found == {}, "member-facing English outside the catalogue: add a key to en-US.toml and use it"


def test_the_hard_coded_text_check_finds_english(tmp_path: Path) -> None:
    """The check above reads what it should: a reply, a label, a field name and a kept sentence."""
    sample = tmp_path / "cogs" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(
        'NOTE = "Here is what you wrote, so nothing is lost."\n'
        'async def f(interaction, lang, embed, discord):\n'
        '    """A docstring says many words and is fine."""\n'
        '    await interaction.response.send_message("Saved.", ephemeral=True)\n'
        '    await interaction.response.send_message(lang.t("error.prompt_empty"), ephemeral=True)\n'
        '    embed.add_field(name="Why", value=f"{1} · {2}")\n'
        '    discord.ui.Button(label="Cancel", custom_id="kb:cancel:1")\n'
        '    log.info("could not update the status message at all")\n'
    )
    hits = hard_coded_member_text(sample, tmp_path)
    assert [text for _, text in hits] == ["Here is what you wrote, so nothing is lost.", "Saved.", "Why", "Cancel"]


COMMAND_MENTION = re.compile(r"(?:^|[\s`(«「（\"'])/([^\s`/:.,;!?)»」）\"']+)")


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_texts_name_commands_as_that_language_lists_them(locale: str) -> None:
    """Discord lists a command under its localized name, so a text telling a German member to use `/settings`
    while the picker shows `/einstellungen` sends them looking for a command that is not there."""
    texts = load_file(LOCALES_DIR / f"{locale}.toml")
    top_level = {key.split(".")[1] for key in ENGLISH_TEXTS if re.fullmatch(r"cmd\.[a-z_]+\.name", key)}
    renamed = {name: texts[f"cmd.{name}.name"] for name in top_level if texts[f"cmd.{name}.name"] != name}
    stale = {key: mention for key, text in texts.items() if not key.startswith("cmd.")
             for mention in COMMAND_MENTION.findall(text) if mention in renamed}
    assert stale == {}, f"English command names where {locale} lists them as {renamed}"


# Form texts shown where Discord allows 45 characters (a modal's title, a label) or 100 (a label's description, a
# text input's placeholder). The fake Discord refuses longer ones as Discord does; this checks every language.
FORM_SHORT = 45
FORM_LONG = 100
FORM_LONG_SUFFIXES = ("_hint", "_example", ".example", ".rules")
SAMPLE_PARAMS = {"job_id": "0123456789abcdef", "shots": 6, "choices": "3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 or 15",
                 "example": "5: a cat jumps onto the table"}


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_form_texts_fit_discords_limits(locale: str) -> None:
    texts = load_file(LOCALES_DIR / f"{locale}.toml")
    for key, text in texts.items():
        if ".form." not in key:
            continue
        shown = text.format(**{name: SAMPLE_PARAMS.get(name, 1) for name in placeholders(text)})
        limit = FORM_LONG if key.endswith(FORM_LONG_SUFFIXES) else FORM_SHORT
        assert len(shown) <= limit, (key, len(shown), shown)


async def test_the_camera_strength_range_in_every_language_is_the_providers() -> None:
    """A provider's own strength range reaches each language's option description (not Kling's 1 to 10)."""
    assert CAPABILITIES.camera is not None
    caps = dataclasses.replace(CAPABILITIES, camera=dataclasses.replace(CAPABILITIES.camera, strengths=(0, 8),
                                                                        default_strength=4))

    async def handler(interaction: discord.Interaction, values: dict[str, object]) -> None: ...

    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    try:
        command = cogs.video.build_video_command(caps, handler)
        payload = await command.get_translated_payload(tree, CatalogueTranslator())
    finally:
        await client.close()
    [option] = [option for option in payload["options"] if option["name"] == "camera_strength"]
    assert (option["min_value"], option["max_value"]) == (0, 8)
    assert "0 to 8 (empty: 4)" in option["description"]
    assert "0 bis 8 (leer: 4)" in option["description_localizations"]["de"]
    assert "0〜8（空欄: 4）" in option["description_localizations"]["ja"]
    assert all("10" not in text for text in option["description_localizations"].values())
