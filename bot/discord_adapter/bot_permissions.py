"""The bot's own permissions where a member asks for a video, checked before anything is charged.

Without them the status message or the finished video could not be posted, and the member would pay for a
video that ends up in a direct message at best. Discord sends the bot's permissions in the interaction's
channel with every interaction (`interaction.app_permissions`), so no extra request is needed.
"""

from __future__ import annotations

import discord

from bot.i18n import interaction_lang

# What posting a status message and a video with its embed needs, in the words Discord's settings use.
NEEDED = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    ("attach_files", "Attach Files"),
)
# In a thread, Send Messages in Threads takes the place of Send Messages.
NEEDED_IN_THREADS = tuple(("send_messages_in_threads", "Send Messages in Threads") if flag == "send_messages"
                          else (flag, name) for flag, name in NEEDED)
THREAD_TYPES = frozenset({discord.ChannelType.public_thread, discord.ChannelType.private_thread,
                          discord.ChannelType.news_thread})


def in_thread(interaction: discord.Interaction) -> bool:
    return getattr(interaction.channel, "type", None) in THREAD_TYPES


def missing_permissions(permissions: discord.Permissions, *, thread: bool) -> list[str]:
    """The names of the permissions the bot lacks for posting videos (empty: it has them all)."""
    needed = NEEDED_IN_THREADS if thread else NEEDED
    return [name for flag, name in needed if not getattr(permissions, flag)]


def cannot_post_here(interaction: discord.Interaction) -> str | None:
    """Why the bot cannot take a video in this channel, in words for the member (their language); None when it
    can. Permission names stay as Discord's English names."""
    thread = in_thread(interaction)
    missing = missing_permissions(interaction.app_permissions, thread=thread)
    if not missing:
        return None
    lang = interaction_lang(interaction)
    if len(missing) == 1:
        names = missing[0]
    else:
        names = lang.t("common.and_list", first=lang.t("common.list_separator").join(missing[:-1]), last=missing[-1])
    key = {(True, True): "permissions.missing_one_thread", (True, False): "permissions.missing_one_channel",
           (False, True): "permissions.missing_many_thread", (False, False): "permissions.missing_many_channel"}
    return lang.t(key[len(missing) == 1, thread], names=names)
