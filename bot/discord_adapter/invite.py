"""The link that invites the bot to a server, with the scopes and channel permissions it needs. Logged when
the bot logs in and printed by `kling-bot check`, so both always say the same thing."""

from __future__ import annotations

import discord

# What the bot needs in a channel: see it, post the status message and the video (also in threads), embed
# and attach, and read the message it replies to.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True, embed_links=True, attach_files=True,
    read_message_history=True,
)
# `bot` adds the bot user; `applications.commands` lets it register its slash commands in the server.
INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """https://discord.com/oauth2/authorize?client_id=…&scope=bot+applications.commands&permissions=…"""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)
