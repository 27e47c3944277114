"""How `/settings` looks: a member's defaults for `/video`, in words, as the provider will use them."""

from __future__ import annotations

from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import MemberSettings
from bot.i18n import EN, Lang
from bot.i18n.commands import choice_text

# Catalogue keys of the note above the settings.
SAVED = "settings.saved"
CLEARED = "settings.cleared"


def duration_label(seconds: int, lang: Lang = EN) -> str:
    return lang.t("choice.seconds", seconds=seconds)


def mode_label(mode: str, caps: Capabilities, lang: Lang = EN) -> str:
    return choice_text(lang, caps.mode_labels.get(mode, mode))


def settings_text(settings: MemberSettings, caps: Capabilities, *, note: str | None = None, lang: Lang = EN) -> str:
    """`settings` are the member's usable ones (MemberSettingsService.show); unset ones show what applies.
    `note`: the catalogue key of a line above them (SAVED, CLEARED)."""
    lines = [lang.t(note)] if note else []
    lines.append(lang.t("settings.heading"))

    def line(key: str, value: str, unset: bool) -> str:
        text = lang.t(key, value=value)
        return lang.t("settings.first_choice", setting=text) if unset else text

    duration = settings.duration or caps.durations[0]
    lines.append(line("settings.duration", duration_label(duration, lang), settings.duration is None))
    aspect = settings.aspect or caps.aspects[0]
    lines.append(line("settings.aspect", aspect, settings.aspect is None))
    if len(caps.modes) > 1:
        mode = settings.mode or caps.modes[0]
        lines.append(line("settings.mode", mode_label(mode, caps, lang), settings.mode is None))
    if caps.audio:
        lines.append(lang.t("settings.audio_on") if settings.audio else lang.t("settings.audio_off"))
    lines.append(lang.t("settings.by_dm") if settings.deliver_by_dm else lang.t("settings.in_channel"))
    lines.append(lang.t("settings.how"))
    return "\n".join(lines)
