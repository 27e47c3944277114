"""How `/settings` looks: a member's defaults for `/video`, in words, as the provider will use them."""

from __future__ import annotations

from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import MemberSettings

HEADING = "**Your defaults for `/video` in this server**"
HOW = ("What you fill in when you use `/video` always wins over these; Re-roll and Remix keep the settings of the "
       "video they start from. Change them with the menus below, or all at once, e.g. "
       "`/settings duration:10 aspect:9:16`.")
SAVED = "Saved."
CLEARED = "Your defaults were cleared: the server's usual choices apply, and videos are posted in the channel."
FIRST_CHOICE = " (the usual choice: you have not picked one)"


def duration_label(seconds: int) -> str:
    return f"{seconds} seconds"


def mode_label(mode: str, caps: Capabilities) -> str:
    return caps.mode_labels.get(mode, mode)


def settings_text(settings: MemberSettings, caps: Capabilities, *, note: str | None = None) -> str:
    """`settings` are the member's usable ones (MemberSettingsService.show); unset ones show what applies."""
    lines = [note] if note else []
    lines.append(HEADING)
    duration = settings.duration or caps.durations[0]
    lines.append(f"Duration: **{duration_label(duration)}**{FIRST_CHOICE if settings.duration is None else ''}")
    aspect = settings.aspect or caps.aspects[0]
    lines.append(f"Aspect: **{aspect}**{FIRST_CHOICE if settings.aspect is None else ''}")
    if len(caps.modes) > 1:
        mode = settings.mode or caps.modes[0]
        lines.append(f"Mode: **{mode_label(mode, caps)}**{FIRST_CHOICE if settings.mode is None else ''}")
    if caps.audio:
        lines.append(f"Audio: **{'on' if settings.audio else 'off'}**")
    lines.append("Finished videos: **" + ("sent to you by direct message" if settings.deliver_by_dm
                                           else "posted in the channel") + "**")
    lines.append(HOW)
    return "\n".join(lines)
