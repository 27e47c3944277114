"""`/moderation`: the prompt blocklist, the channels where /video may be used (and those whose results are
posted as spoilers), and the moderator role.

Every command here is for moderators: the group carries Manage Server as its default member permission,
and `interaction_check` checks again on the server, since a server can change who sees the command.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.moderation import BLOCKLIST_LIMIT, WORD_LIMIT
from bot.discord_adapter.checks import actor_of, require_moderator
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.text import MESSAGE_LIMIT, inline_code, pages_of
from bot.i18n import EN, Lang, interaction_lang

SUGGESTIONS = 25  # Discord shows at most 25 autocomplete suggestions
PAGE_NOTES = 100  # room for "Blocked (page i of n): " and the line naming the next page


@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
@app_commands.default_permissions(manage_guild=True)
class ModerationCog(commands.GroupCog, group_name="moderation",
                    group_description="Moderators: prompt blocklist, video channels, moderator role"):
    blocklist = app_commands.Group(name="blocklist", description="Words and phrases /video refuses")
    channels = app_commands.Group(name="channels", description="The channels where /video may be used")

    def __init__(self, bot: KlingBot) -> None:
        self.services: Services = bot.services
        self.services.publisher.spoiler_check = self.is_spoiler_channel
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await require_moderator(interaction)

    async def is_spoiler_channel(self, guild_id: int, channel_id: int) -> bool:
        """For the publisher: whether results in this channel are spoilers (asked when a result is posted)."""
        return await self.services.moderation.is_spoiler_channel(guild_id, channel_id)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    # -- blocklist -------------------------------------------------------------------------------------
    @blocklist.command(name="add", description="Refuse prompts containing this word or phrase")
    @app_commands.describe(word="Matched as a whole word, ignoring case")
    async def blocklist_add(self, interaction: discord.Interaction,
                            word: app_commands.Range[str, 1, WORD_LIMIT]) -> None:
        normalized, added = await self.services.moderation.block_word(actor_of(interaction), word)
        shown, lang = inline_code(normalized), interaction_lang(interaction)
        await self._reply(interaction, lang.t("moderation.blocked", word=shown) if added
                          else lang.t("moderation.already_blocked", word=shown))

    @blocklist.command(name="remove", description="Allow this word or phrase again")
    @app_commands.describe(word="The blocked word or phrase")
    async def blocklist_remove(self, interaction: discord.Interaction,
                               word: app_commands.Range[str, 1, WORD_LIMIT]) -> None:
        normalized, removed = await self.services.moderation.unblock_word(actor_of(interaction), word)
        shown, lang = inline_code(normalized), interaction_lang(interaction)
        await self._reply(interaction, lang.t("moderation.unblocked", word=shown) if removed
                          else lang.t("moderation.not_blocked", word=shown))

    @blocklist_remove.autocomplete("word")
    async def blocked_words_like(self, interaction: discord.Interaction,
                                 typed: str) -> list[app_commands.Choice[str]]:
        """The server's blocked words containing what is typed (moderators only: the list is theirs)."""
        moderation = self.services.moderation
        if interaction.guild_id is None or not await moderation.is_moderator(actor_of(interaction)):
            return []
        return [app_commands.Choice(name=word, value=word)
                for word in matching_words((await moderation.settings(interaction.guild_id)).blocked_words, typed)]

    @blocklist.command(name="list", description="The blocked words and phrases")
    @app_commands.describe(page="Long lists come in pages")
    async def blocklist_list(self, interaction: discord.Interaction,
                             page: app_commands.Range[int, 1, BLOCKLIST_LIMIT] = 1) -> None:
        words = (await self.services.moderation.settings(interaction.guild_id or 0)).blocked_words
        await self._reply(interaction, blocklist_page(words, page, interaction_lang(interaction)))

    # -- channels --------------------------------------------------------------------------------------
    @channels.command(name="allow", description="Allow /video in this channel (once any is set, only those)")
    @app_commands.describe(channel="A text channel")
    async def channels_allow(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        added = await self.services.moderation.allow_channel(actor_of(interaction), channel.id)
        lang, mention = interaction_lang(interaction), f"<#{channel.id}>"
        await self._reply(interaction, lang.t("moderation.channel_allowed", channel=mention) if added
                          else lang.t("moderation.channel_already_allowed", channel=mention))

    @channels.command(name="remove", description="Stop allowing /video in this channel")
    @app_commands.describe(channel="A text channel")
    async def channels_remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        removed = await self.services.moderation.remove_channel(actor_of(interaction), channel.id)
        lang, mention = interaction_lang(interaction), f"<#{channel.id}>"
        await self._reply(interaction, lang.t("moderation.channel_removed", channel=mention) if removed
                          else lang.t("moderation.channel_not_listed", channel=mention))

    @channels.command(name="list", description="The channels where /video may be used")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        settings = await self.services.moderation.settings(interaction.guild_id or 0)
        channels, lang = settings.video_channels, interaction_lang(interaction)
        separator = lang.t("common.list_separator")
        text = (lang.t("moderation.channels", channels=separator.join(f"<#{c}>" for c in channels))
                if channels else lang.t("moderation.channels_all"))
        if settings.spoiler_channels:
            text += "\n" + lang.t("moderation.spoiler_channels", channels=separator.join(
                f"<#{c}>" for c in sorted(settings.spoiler_channels)))
        await self._reply(interaction, text)

    @channels.command(name="spoiler", description="Post finished videos in this channel as spoilers (or stop)")
    @app_commands.describe(channel="A text channel", on="True: results there are spoilers; False: shown as usual")
    async def channels_spoiler(self, interaction: discord.Interaction, channel: discord.TextChannel,
                               on: bool) -> None:
        changed = await self.services.moderation.set_spoiler_channel(actor_of(interaction), channel.id, on)
        lang, mention = interaction_lang(interaction), f"<#{channel.id}>"
        if on:
            text = (lang.t("moderation.spoiler_on", channel=mention) if changed
                    else lang.t("moderation.spoiler_already_on", channel=mention))
        else:
            text = (lang.t("moderation.spoiler_off", channel=mention) if changed
                    else lang.t("moderation.spoiler_already_off", channel=mention))
        await self._reply(interaction, text)

    # -- moderator role --------------------------------------------------------------------------------
    @app_commands.command(name="modrole", description="Show or set the role whose members are moderators")
    @app_commands.describe(role="Members with this role get the moderator commands", clear="Remove the role")
    async def modrole(self, interaction: discord.Interaction, role: discord.Role | None = None,
                      clear: bool = False) -> None:
        actor, lang = actor_of(interaction), interaction_lang(interaction)
        if clear:
            await self.services.moderation.set_mod_role(actor, None)
            await self._reply(interaction, lang.t("moderation.modrole_cleared"))
        elif role is not None:
            await self.services.moderation.set_mod_role(actor, role.id)
            await self._reply(interaction, lang.t("moderation.modrole_set", role=f"<@&{role.id}>"))
        else:
            current = (await self.services.moderation.settings(actor.guild_id)).mod_role_id
            await self._reply(interaction, lang.t("moderation.modrole_is", role=f"<@&{current}>") if current
                              else lang.t("moderation.modrole_none"))


def matching_words(words: tuple[str, ...], typed: str) -> list[str]:
    """Blocked words containing what is typed (case ignored), those starting with it first; at most the 25
    suggestions Discord shows, each within its 100-character limit (entries are at most WORD_LIMIT)."""
    typed = typed.strip().casefold()
    found = [word for word in words if typed in word.casefold()]
    found.sort(key=lambda word: (not word.casefold().startswith(typed), word))
    return found[:SUGGESTIONS]


def blocklist_page(words: tuple[str, ...], page: int, lang: Lang = EN) -> str:
    """One message of the blocklist. Whole entries only: a code span cut in half would turn the rest of the
    message into code."""
    if not words:
        return lang.t("moderation.blocklist_empty")
    separator = lang.t("common.list_separator")
    pages = pages_of(map(inline_code, words), MESSAGE_LIMIT - PAGE_NOTES, separator=separator)
    if len(pages) == 1 and page == 1:
        return lang.t("moderation.blocklist", words=separator.join(pages[0]))
    if page > len(pages):
        return lang.t("moderation.blocklist_no_page", pages=len(pages))
    text = lang.t("moderation.blocklist_page", page=page, pages=len(pages), words=separator.join(pages[page - 1]))
    if page < len(pages):
        text += "\n" + lang.t("moderation.blocklist_next", next=page + 1)
    return text


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(ModerationCog(bot))
