"""The bot's own permissions where a member asks for a video, checked before anything is charged.

Without them the status message or the finished video could not be posted, and the member would pay for a
video that ends up in a direct message at best. Discord sends the bot's permissions in the interaction's
channel with every interaction (`interaction.app_permissions`), so no extra request is needed.
"""

from __future__ import annotations

import discord

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
    """Why the bot cannot take a video in this channel, in words for the member; None when it can."""
    thread = in_thread(interaction)
    missing = missing_permissions(interaction.app_permissions, thread=thread)
    if not missing:
        return None
    where = "this thread" if thread else "this channel"
    names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    those = "that permission" if len(missing) == 1 else "those permissions"
    return (f"I can't post here: I'm missing {names} in {where}. Ask a moderator to give me {those}, "
            "or use another channel.")
