""""Animate with Kling": a message context-menu command that starts a video from a picture in any message.

The command opens a form (prompt, duration, shape, quality: the choices come from the provider's
capabilities, and the engine's intake checks them again), then takes the same path as `/video` with that
picture. The picture is kept as a note in the database while the form is open, keyed by the member, since
the form's submission carries no message: Discord sends a message's attachments and embeds to a bot without
the Message Content intent only inside the context-menu interaction, not when the message is read again.
The form is answered by its custom id (bot/discord_adapter/modal_routes.py), so it works across a restart.

Pictures come from the message's attachments (content type image/*) or, failing that, its embeds (image,
then thumbnail, as link previews show them). An embed says nothing about the file's size, and its type only
sometimes: the type is then told from the link's file extension, the size is left at 0 (unknown) for the
intake, and the provider checks the picture itself when it fetches it (a refusal fails the job in plain
words and refunds it).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import urllib.parse
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import InvalidRequest
from bot.core.jobs import PROMPT_LIMIT, ImageInput, Submission
from bot.core.messages import Message, english_names
from bot.core.ports.provider import Capabilities
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.errors import reply_privately
from bot.discord_adapter.modal_routes import FormValues, send_form
from bot.i18n import EN, Lang, interaction_lang
from bot.i18n.commands import choice_text
from cogs.video import start_job

log = logging.getLogger(__name__)

MENU_NAME = "Animate with Kling"
ANIMATE_FORM = r"kb:animate:(?P<channel_id>\d{1,20}):(?P<message_id>\d{1,20})"
# Private replies, by their constant names in English for tests (`NO_IMAGE == reply`).
REPLIES = {
    "NO_IMAGE": Message("animate.no_image"),
    "NO_IMAGE_INPUT": Message("animate.no_image_input"),
    "UNKNOWN_TYPE": Message("animate.unknown_type"),
    "FORM_OUT_OF_DATE": Message("animate.form_out_of_date"),
}
__getattr__ = english_names(__name__, REPLIES)


def image_of(message: discord.Message) -> ImageInput | None:
    """The first picture of a message: an image attachment, else an embed's image or thumbnail."""
    for attachment in message.attachments:
        if (attachment.content_type or "").lower().startswith("image/"):
            return ImageInput(attachment.url, attachment.content_type, attachment.size, attachment.filename)
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            url = getattr(media, "url", None)
            if url:
                return _embedded_image(str(url), getattr(media, "content_type", None))
    return None


def _embedded_image(url: str, content_type: str | None) -> ImageInput:
    path = urllib.parse.urlsplit(url).path
    filename = urllib.parse.unquote(path.rsplit("/", 1)[-1]) or "image"
    kind = content_type or mimetypes.guess_type(path)[0]
    return ImageInput(url, kind, 0, filename)  # size unknown: the provider checks the picture itself


def animate_form(caps: Capabilities, channel_id: int, message_id: int, lang: Lang = EN) -> discord.ui.Modal:
    form = discord.ui.Modal(title=lang.t("animate.form.title"), custom_id=f"kb:animate:{channel_id}:{message_id}")
    form.add_item(discord.ui.Label(text=lang.t("animate.form.prompt"), description=lang.t("animate.form.prompt_hint"),
                                   component=discord.ui.TextInput(
                                       custom_id="prompt", style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT,
                                       placeholder=lang.t("animate.form.prompt_example"))))
    form.add_item(_choice(lang.t("animate.form.duration"), "duration",
                          [(lang.t("choice.seconds", seconds=d), str(d)) for d in caps.durations]))
    form.add_item(_choice(lang.t("animate.form.shape"), "aspect", [(_shape_name(a, lang), a) for a in caps.aspects]))
    if len(caps.modes) > 1:
        form.add_item(_choice(lang.t("animate.form.quality"), "mode",
                              [(choice_text(lang, caps.mode_labels.get(m, m)), m) for m in caps.modes],
                              description=lang.t("animate.form.quality_hint")))
    return form


# The shapes with a word for them; another aspect shows as it is.
SHAPE_NAMES = {"16:9": "animate.shape.wide", "9:16": "animate.shape.tall", "1:1": "animate.shape.square"}


def _shape_name(aspect: str, lang: Lang = EN) -> str:
    key = SHAPE_NAMES.get(aspect)
    return lang.t(key, aspect=aspect) if key is not None else aspect


def _choice(text: str, custom_id: str, options: list[tuple[str, str]],
            description: str | None = None) -> discord.ui.Label[Any]:
    select: discord.ui.Select[Any] = discord.ui.Select(
        custom_id=custom_id, required=True, min_values=1, max_values=1,
        options=[discord.SelectOption(label=label, value=value, default=index == 0)
                 for index, (label, value) in enumerate(options)])
    return discord.ui.Label(text=text, description=description, component=select)


def _note_key(user_id: int) -> str:
    # One open form per member: the newest replaces an older one, so these notes never pile up.
    return f"animate:{user_id}"


def _draft(channel_id: int, message_id: int, image: ImageInput) -> str:
    return json.dumps({"channel_id": channel_id, "message_id": message_id, "url": image.url,
                       "content_type": image.content_type, "size": image.size, "filename": image.filename})


def _chosen(values: FormValues, key: str) -> str | None:
    value = values.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value


class AnimateCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.services: Services = bot.services
        menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.animate)
        menu = app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)(menu)
        menu = app_commands.allowed_installs(guilds=True, users=False)(menu)
        self.menu = app_commands.guild_only()(menu)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        self.bot.modal_routes.add(ANIMATE_FORM, self.submitted)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        self.bot.modal_routes.remove(ANIMATE_FORM)

    async def animate(self, interaction: discord.Interaction, message: discord.Message) -> None:
        caps, lang = self.services.capabilities, interaction_lang(interaction)
        if not caps.image_input:
            await reply_privately(interaction, lang.render(REPLIES["NO_IMAGE_INPUT"]))
            return
        image = image_of(message)
        if image is None:
            await reply_privately(interaction, lang.render(REPLIES["NO_IMAGE"]))
            return
        if not image.content_type:
            await reply_privately(interaction, lang.render(REPLIES["UNKNOWN_TYPE"]))
            return
        notes = self.services.notes
        if notes is None:
            raise RuntimeError("the Animate form needs the notes store (Services.notes)")
        await notes.set(_note_key(interaction.user.id), _draft(message.channel.id, message.id, image))
        await send_form(interaction, animate_form(caps, message.channel.id, message.id, lang))

    async def submitted(self, interaction: discord.Interaction, match: re.Match[str], values: FormValues) -> None:
        image = await self._image_for(interaction.user.id, int(match["channel_id"]), int(match["message_id"]))
        if image is None:
            await reply_privately(interaction, interaction_lang(interaction).render(REPLIES["FORM_OUT_OF_DATE"]))
            return
        try:
            duration = int(_chosen(values, "duration") or "")
        except ValueError:
            raise InvalidRequest("animate.no_duration") from None
        submission = Submission(
            guild_id=interaction.guild_id or 0, channel_id=interaction.channel_id or int(match["channel_id"]),
            user_id=interaction.user.id, prompt=_chosen(values, "prompt") or "", duration=duration,
            aspect=_chosen(values, "aspect") or "", mode=_chosen(values, "mode"), images=(image,),
        )
        await start_job(self.services, interaction, submission)

    async def _image_for(self, user_id: int, channel_id: int, message_id: int) -> ImageInput | None:
        """The picture this member's open form is about; None when they have no such form open."""
        notes = self.services.notes
        stored = await notes.take(_note_key(user_id)) if notes is not None else None
        if stored is None:
            return None
        draft = json.loads(stored)
        if (draft["channel_id"], draft["message_id"]) != (channel_id, message_id):
            await notes.set(_note_key(user_id), stored)  # type: ignore[union-attr]  # a newer form's: kept for it
            return None
        return ImageInput(draft["url"], draft["content_type"], int(draft["size"]), draft["filename"])


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(AnimateCog(bot))
