"""`/settings`: a member's own defaults for `/video` in this server (duration, aspect, mode, audio, delivery
by direct message).

With options it saves them; without, it shows them privately with a menu per setting and a Reset button.
The menus are persistent (custom ids `kb:settings:<field>`, handled as DynamicItems), so they keep working
after a restart. The choices come from the provider's capabilities, like `/video`'s; the core service
(bot/core/member_settings.py) checks every value again, since a menu can outlive a switch of providers.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.core.member_settings import MemberSettingsService
from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import MemberSettings
from bot.discord_adapter import render_settings
from bot.discord_adapter.allowed_guilds import AllowedServersOnly
from bot.discord_adapter.built_commands import CommandOptions, Handler, server_command
from bot.discord_adapter.checks import actor_of
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.errors import answer_error
from bot.i18n import Lang, interaction_lang

AUDIO, DM = "audio", "dm"  # the values of the "extras" menu


def build_settings_command(caps: Capabilities, handler: Handler) -> app_commands.Command[Any, ..., None]:
    """`/settings` with the options the provider supports, each optional."""
    options = CommandOptions()
    options.option("duration", int | None, "Your usual length of a video",
                [app_commands.Choice(name=locale_str(render_settings.duration_label(d), key="choice.seconds",
                                                     seconds=d), value=d) for d in caps.durations])
    options.aspect_option(caps, "Your usual shape of a video")
    options.mode_option(caps, "Your usual quality (higher quality costs more credits)",
                     lambda m: render_settings.mode_label(m, caps))
    options.audio_option(caps, "Generate sound with your videos")
    options.option("dm", bool | None, "Send your finished videos to you by direct message instead of the channel")
    return server_command("settings", "Your defaults for /video: length, shape, quality, delivery by DM", handler,
                          options)


def settings_view(settings: MemberSettings, caps: Capabilities, lang: Lang) -> discord.ui.View:
    """A menu per setting (the value that applies now is preselected) and Reset: at most 5 rows, in the language
    of the member who sees them."""
    view = discord.ui.View(timeout=None)
    duration = settings.duration or caps.durations[0]
    view.add_item(SettingsMenu("duration", discord.ui.Select(
        custom_id="kb:settings:duration", placeholder=lang.t("settings.menu.duration"), options=[
            discord.SelectOption(label=render_settings.duration_label(d, lang), value=str(d), default=d == duration)
            for d in caps.durations])))
    aspect = settings.aspect or caps.aspects[0]
    view.add_item(SettingsMenu("aspect", discord.ui.Select(
        custom_id="kb:settings:aspect", placeholder=lang.t("settings.menu.aspect"), options=[
            discord.SelectOption(label=a, value=a, default=a == aspect) for a in caps.aspects])))
    if len(caps.modes) > 1:
        mode = settings.mode or caps.modes[0]
        view.add_item(SettingsMenu("mode", discord.ui.Select(
            custom_id="kb:settings:mode", placeholder=lang.t("settings.menu.mode"), options=[
                discord.SelectOption(label=render_settings.mode_label(m, caps, lang), value=m, default=m == mode)
                for m in caps.modes])))
    extras = [discord.SelectOption(label=lang.t("settings.menu.by_dm"), value=DM, default=settings.deliver_by_dm)]
    if caps.audio:
        extras.insert(0, discord.SelectOption(label=lang.t("settings.menu.audio"), value=AUDIO,
                                              default=bool(settings.audio)))
    view.add_item(SettingsMenu("extras", discord.ui.Select(
        custom_id="kb:settings:extras", placeholder=lang.t("settings.menu.extras"), min_values=0,
        max_values=len(extras), options=extras)))
    view.add_item(ResetSettingsButton(lang))
    return view


def _service(interaction: discord.Interaction) -> MemberSettingsService:
    services: Services = interaction.client.services  # type: ignore[attr-defined]
    return services.engine.member_settings


def _capabilities(interaction: discord.Interaction) -> Capabilities:
    services: Services = interaction.client.services  # type: ignore[attr-defined]
    return services.capabilities


def change_from_menu(field: str, values: list[str], caps: Capabilities) -> dict[str, Any]:
    """What a menu choice changes, in the service's terms. A value the provider does not offer (a menu shown
    before the operator switched providers) is passed on for the service to refuse in words."""
    if field == "duration":
        return {"duration": int(values[0])}
    if field in ("aspect", "mode"):
        return {field: values[0]}
    change: dict[str, Any] = {"deliver_by_dm": DM in values}
    if AUDIO in values or caps.audio:
        change["audio"] = AUDIO in values
    return change


class SettingsMenu(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Select[Any]],
                   template=r"kb:settings:(?P<field>duration|aspect|mode|extras)"):
    """One of `/settings`' menus: the choice is saved at once and the message shows the settings as they are."""

    def __init__(self, field: str, select: discord.ui.Select[Any] | None = None) -> None:
        super().__init__(select or discord.ui.Select(custom_id=f"kb:settings:{field}"))
        self.field = field

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> SettingsMenu:
        return cls(match["field"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            values = list(self.item.values)  # discord.py fills them in from the interaction before the callback
            caps = _capabilities(interaction)
            if not values and self.field != "extras":
                raise ValueError("a menu that needs a value came without one")
            settings = await _service(interaction).change(actor_of(interaction),
                                                          **change_from_menu(self.field, values, caps))
            lang = interaction_lang(interaction)
            await interaction.response.edit_message(
                content=render_settings.settings_text(settings, caps, note=render_settings.SAVED, lang=lang),
                view=settings_view(settings, caps, lang))
        except Exception as error:
            await answer_error(interaction, error)


class ResetSettingsButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                          template=r"kb:settings:reset"):
    """Forgets the member's defaults."""

    def __init__(self, lang: Lang | None = None) -> None:
        # Without `lang`: rebuilt from a click's custom id, only to answer it (its label is not shown).
        label = lang.t("settings.button.reset") if lang is not None else None
        super().__init__(discord.ui.Button(label=label, emoji="↩️", style=discord.ButtonStyle.secondary,
                                           custom_id="kb:settings:reset"))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ResetSettingsButton:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            caps = _capabilities(interaction)
            settings = await _service(interaction).reset(actor_of(interaction))
            lang = interaction_lang(interaction)
            await interaction.response.edit_message(
                content=render_settings.settings_text(settings, caps, note=render_settings.CLEARED, lang=lang),
                view=settings_view(settings, caps, lang))
        except Exception as error:
            await answer_error(interaction, error)


class SettingsCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.services: Services = bot.services
        self.command = build_settings_command(self.services.capabilities, self.settings)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)
        self.bot.add_dynamic_items(SettingsMenu, ResetSettingsButton)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("settings")
        self.bot.remove_dynamic_items(SettingsMenu, ResetSettingsButton)

    async def settings(self, interaction: discord.Interaction, options: dict[str, Any]) -> None:
        service = self.services.engine.member_settings
        caps = self.services.capabilities
        changes = {"duration": options.get("duration"), "aspect": options.get("aspect"), "mode": options.get("mode"),
                   "audio": options.get("audio"), "deliver_by_dm": options.get("dm")}
        if any(value is not None for value in changes.values()):
            settings, note = await service.change(actor_of(interaction), **changes), render_settings.SAVED
        else:
            settings, note = await service.show(actor_of(interaction)), None
        lang = interaction_lang(interaction)
        await interaction.response.send_message(render_settings.settings_text(settings, caps, note=note, lang=lang),
                                                view=settings_view(settings, caps, lang), ephemeral=True)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(SettingsCog(bot))
