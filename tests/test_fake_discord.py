"""Tests of the fake Discord: a real, unmodified discord.py client runs against it over loopback."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import DEFAULT_MEMBER_PERMISSIONS, MANAGE_GUILD, FakeDiscord

pytestmark = pytest.mark.timeout(30)

GUILD = 1000
CHANNEL = 2000
OTHER_CHANNEL = 2001
USER = 3000
ADMIN = 3001
SMALL_LIMIT = 64 * 1024
TOKEN = "fake-bot-token"


# --------------------------------------------------------------------------- the bot under test
class PanelView(discord.ui.View):
    """A persistent view (registered with add_view at start-up)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="OK", custom_id="panel:ok", style=discord.ButtonStyle.green)
    async def ok(self, interaction: discord.Interaction, button: discord.ui.Button[PanelView]) -> None:
        await interaction.response.send_message("clicked", ephemeral=True)
        interaction.client.put("panel:ok", interaction.user.id)  # type: ignore[attr-defined]


class Counter(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"counter:(?P<n>\d+)"):
    """A DynamicItem whose state lives in its custom_id."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=str(n), custom_id=f"counter:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any) -> Counter:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(Counter(self.n + 1))
        await interaction.response.edit_message(content=f"count {self.n + 1}", view=view)
        interaction.client.put("counter", self.n)  # type: ignore[attr-defined]


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    """A modal with one text input."""

    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback:text", max_length=200
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}")
        interaction.client.put("modal", self.text.value)  # type: ignore[attr-defined]


class TestBot(commands.Bot):
    """A bot with one command per behaviour under test; results go into futures."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.results: dict[str, asyncio.Future[Any]] = {}
        self._register()

    def _future(self, name: str) -> asyncio.Future[Any]:
        if name not in self.results:
            self.results[name] = asyncio.get_running_loop().create_future()
        return self.results[name]

    def put(self, name: str, value: Any) -> None:
        """Record a result of a handler."""
        fut = self._future(name)
        if not fut.done():
            fut.set_result(value)

    async def result(self, name: str, timeout: float = 5) -> Any:
        """Wait for a handler's result."""
        return await asyncio.wait_for(asyncio.shield(self._future(name)), timeout)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY (identify rate limit); not in these tests."""

    async def setup_hook(self) -> None:
        self.add_view(PanelView())
        self.add_dynamic_items(Counter)
        await self.tree.sync()
        await self.tree.sync(guild=discord.Object(GUILD))

    def _register(self) -> None:
        tree = self.tree

        @tree.command(name="echo", description="Echo a prompt")
        async def echo(interaction: discord.Interaction, prompt: str) -> None:
            callback = await interaction.response.send_message(f"echo: {prompt}")
            self.put("echo", (callback, interaction.filesize_limit))

        @tree.command(name="twice", description="Respond twice")
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("one")
            try:
                await interaction.response.send_message("two")
            except discord.InteractionResponded as exc:
                self.put("twice", exc)

        @tree.command(name="slow", description="Respond too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.5)
            try:
                await interaction.response.send_message("late")
            except discord.HTTPException as exc:
                self.put("slow", exc)

        @tree.command(name="later", description="Respond now, edit later")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("first")
            self.put("later", interaction)

        @tree.command(name="defer", description="Defer, then edit and follow up")
        async def defer(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content="done")
            followup = await interaction.followup.send("more", wait=True)
            self.put("defer", followup)

        @tree.command(name="think", description="Defer ephemerally, then follow up")
        async def think(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            followup = await interaction.followup.send("result", wait=True)
            self.put("think", followup)

        @tree.command(name="upload", description="Read an attachment")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(f"got {len(data)} bytes")
            self.put("upload", (file.filename, data))

        @tree.command(name="sendfile", description="Reply with a file of a given size")
        async def sendfile(interaction: discord.Interaction, size: int) -> None:
            try:
                await interaction.response.send_message(file=discord.File(io.BytesIO(b"x" * size), "out.bin"))
            except discord.HTTPException as exc:
                self.put(f"sendfile:{size}", exc)
            else:
                self.put(f"sendfile:{size}", None)

        @tree.command(name="panel", description="Post a panel")
        async def panel(interaction: discord.Interaction) -> None:
            view = PanelView()
            view.add_item(Counter(0))
            await interaction.response.send_message("panel", view=view)

        @tree.command(name="feedback", description="Open a modal")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        config = app_commands.Group(
            name="config",
            description="Settings",
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )

        @config.command(name="set", description="Set a value")
        async def config_set(interaction: discord.Interaction, key: str, value: str) -> None:
            await interaction.response.send_message(f"{key}={value}", ephemeral=True)
            self.put("config", (key, value, interaction.permissions.manage_guild))

        tree.add_command(config)

        @app_commands.command(name="local", description="A guild command")
        async def local(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("local")

        tree.add_command(local, guild=discord.Object(GUILD))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    saved_base = discord.http.Route.BASE
    saved_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fd = FakeDiscord(token=TOKEN)
    await fd.start()
    fd.point_discord_py()
    guild = fd.add_guild(GUILD, name="Fake Guild")
    guild.filesize_limit = SMALL_LIMIT
    fd.add_channel(GUILD, CHANNEL, "general")
    fd.add_channel(GUILD, OTHER_CHANNEL, "other")
    fd.add_member(GUILD, USER, "alice")
    fd.add_role(GUILD, 5000, "Admins", permissions=MANAGE_GUILD)
    fd.add_member(GUILD, ADMIN, "bob", roles=[5000])
    try:
        yield fd
        assert fd.internal_errors == []
    finally:
        await fd.close()
        assert saved_base == discord.http.Route.BASE
        assert saved_gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[TestBot]:
    client = TestBot()
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect())
    try:
        await fake.wait_until_ready(timeout=5)
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def raw(
    fake: FakeDiscord, method: str, path: str, *, json: Any = None, auth: bool = True
) -> tuple[int, dict[str, str], Any]:
    """A direct REST request to the fake; returns status, headers and decoded JSON (or text)."""
    headers = {"Authorization": f"Bot {TOKEN}"} if auth else {}
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, fake.base_url + path, json=json, headers=headers) as resp,
    ):
        body: Any = await resp.text()
        if resp.headers.get("Content-Type") == "application/json":
            body = await resp.json()
        return resp.status, dict(resp.headers), body


def text_channel(bot: TestBot, channel_id: int = CHANNEL) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


# --------------------------------------------------------------------------- login, sync, gateway
async def test_login_sync_and_guild_state(fake: FakeDiscord, bot: TestBot) -> None:
    assert ("GET", "/users/@me") in fake.requests
    assert ("PUT", f"/applications/{fake.application_id}/commands") in fake.requests
    assert ("PUT", f"/applications/{fake.application_id}/guilds/{GUILD}/commands") in fake.requests
    assert {c["name"] for c in fake.commands} >= {"echo", "config", "panel", "feedback"}
    assert all(c["application_id"] == str(fake.application_id) and c["version"] for c in fake.commands)
    assert [c["name"] for c in fake.guild_commands[GUILD]] == ["local"]
    assert fake.gateway_connected
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.name == "Fake Guild"
    assert {c.id for c in guild.text_channels} == {CHANNEL, OTHER_CHANNEL}
    assert guild.default_role.id == GUILD
    assert guild.me is not None and guild.me.guild_permissions.send_messages
    # The override is visible through discord.py's Guild.filesize_limit (patched by point_discord_py).
    assert guild.filesize_limit == SMALL_LIMIT
    fetched = await bot.tree.fetch_commands()
    assert {c.id for c in fetched} == {int(c["id"]) for c in fake.commands}


async def test_gateway_resume_and_reidentify(fake: FakeDiscord, bot: TestBot) -> None:
    await fake.disconnect_clients()
    await fake.wait_until_ready(timeout=5)
    assert fake.gateway_resumes == 1 and fake.gateway_identifies == 1
    await fake.disconnect_clients(resumable=False)
    await fake.wait_until_ready(timeout=5)
    await fake._wait_until(lambda: fake.gateway_identifies == 2, 5, "re-identify")
    inter = await fake.send_slash_command(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        name="echo",
        options=[{"name": "prompt", "type": 3, "value": "after outage"}],
    )
    await inter.wait_response()
    assert inter.response_message is not None and inter.response_message["content"] == "echo: after outage"


# --------------------------------------------------------------------------- interactions
async def test_slash_command_response_resource_is_stored_message(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.send_slash_command(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        name="echo",
        options=[{"name": "prompt", "type": 3, "value": "a cat"}],
    )
    response = await inter.wait_response()
    callback, filesize_limit = await bot.result("echo")
    assert response["type"] == 4 and response["data"]["content"] == "echo: a cat"
    stored = fake.messages[CHANNEL][-1]
    assert stored is inter.response_message
    assert callback.resource is not None and callback.resource.id == int(stored["id"])
    assert callback.message_id == int(stored["id"])
    assert stored["interaction_metadata"]["user"]["id"] == str(USER)
    assert stored["interaction"]["name"] == "echo"
    assert stored["author"]["id"] == str(fake.bot_user_id)
    assert filesize_limit == SMALL_LIMIT
    echo = next(c for c in fake.commands if c["name"] == "echo")
    assert inter.payload["data"]["id"] == echo["id"]
    assert inter.response_latency is not None and 0 <= inter.response_latency < fake.interaction_deadline

    local = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="local")
    await local.wait_response()
    assert local.payload["data"]["id"] == fake.guild_commands[GUILD][0]["id"]
    assert local.payload["data"]["guild_id"] == str(GUILD)


async def test_only_one_first_response(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="twice")
    exc = await bot.result("twice")
    assert isinstance(exc, discord.InteractionResponded)
    assert [m["content"] for m in fake.messages[CHANNEL]] == ["one"]
    # The REST rule itself, without discord.py's client-side guard:
    status, headers, body = await raw(
        fake,
        "POST",
        f"/interactions/{inter.id}/{inter.token}/callback?with_response=1",
        json={"type": 4, "data": {"content": "two"}},
        auth=False,
    )
    assert status == 400 and body["code"] == 40060
    assert headers["Content-Type"] == "application/json"
    assert [m["content"] for m in fake.messages[CHANNEL]] == ["one"]


async def test_response_after_deadline_is_unknown_interaction(fake: FakeDiscord, bot: TestBot) -> None:
    fake.interaction_deadline = 0.3
    inter = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="slow")
    exc = await bot.result("slow")
    assert isinstance(exc, discord.NotFound) and exc.code == 10062
    assert inter.response is None and inter.errors[0]["code"] == 10062
    assert fake.messages[CHANNEL] == []


async def test_webhook_token_expires(fake: FakeDiscord, bot: TestBot) -> None:
    fake.token_ttl = 0.5
    await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="later")
    interaction: discord.Interaction = await bot.result("later")
    edited = await interaction.edit_original_response(content="edited in time")
    assert edited.content == "edited in time"
    await asyncio.sleep(0.6)
    with pytest.raises(discord.HTTPException) as info:
        await interaction.edit_original_response(content="too late")
    assert info.value.status == 401 and info.value.code == 50027
    with pytest.raises(discord.HTTPException) as info:
        await interaction.followup.send("too late")
    assert info.value.code == 50027
    assert fake.messages[CHANNEL][-1]["content"] == "edited in time"


async def test_defer_edit_original_and_followup(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="defer")
    followup: discord.WebhookMessage = await bot.result("defer")
    assert inter.response is not None and inter.response["type"] == 5
    original = inter.response_message
    assert original is not None and original["content"] == "done"
    assert not original["flags"] & 128  # no longer "thinking"
    assert followup.id == int(inter.followups[0]["id"]) and followup.content == "more"
    assert inter.followups[0]["interaction_metadata"]["original_response_message_id"] == original["id"]


async def test_first_followup_resolves_deferred_message(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="think")
    followup: discord.WebhookMessage = await bot.result("think")
    original = inter.response_message
    assert original is not None and followup.id == int(original["id"])
    assert original["content"] == "result" and original["flags"] == 64  # still ephemeral, not loading
    assert len(fake.messages[CHANNEL]) == 1


async def test_attachment_option_resolves_and_downloads(fake: FakeDiscord, bot: TestBot) -> None:
    data = b"\x89PNG fake image bytes"
    att = fake.add_attachment(data, "cat.png", "image/png")
    await fake.send_slash_command(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        name="upload",
        options=[{"name": "file", "type": 11, "value": att["id"]}],
        attachments=[att],
    )
    filename, downloaded = await bot.result("upload")
    assert filename == "cat.png" and downloaded == data
    assert fake.messages[CHANNEL][-1]["content"] == f"got {len(data)} bytes"


async def test_option_and_permission_rules_of_invocation(fake: FakeDiscord, bot: TestBot) -> None:
    options = [
        {
            "name": "set",
            "type": 1,
            "options": [
                {"name": "key", "type": 3, "value": "model"},
                {"name": "value", "type": 3, "value": "v2"},
            ],
        },
    ]
    with pytest.raises(PermissionError):
        await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="config", options=options)
    with pytest.raises(ValueError):
        await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="echo")
    inter = await fake.send_slash_command(
        guild_id=GUILD, channel_id=CHANNEL, user_id=ADMIN, name="config", options=options
    )
    assert await bot.result("config") == ("model", "v2", True)
    response = await inter.wait_response()
    assert response["data"]["flags"] & 64
    assert inter.response_message is not None and inter.response_message["flags"] & 64


async def test_server_command_permissions_override_the_defaults(fake: FakeDiscord, bot: TestBot) -> None:
    options = [{"name": "set", "type": 1, "options": [{"name": "key", "type": 3, "value": "k"},
                                                      {"name": "value", "type": 3, "value": "v"}]}]
    fake.set_command_permissions(GUILD, "config", [{"id": str(USER), "type": 2, "permission": True}])
    await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="config", options=options)
    assert await bot.result("config") == ("k", "v", False)  # shown to the user; the bot still sees no admin
    fake.set_command_permissions(GUILD, "config", [{"id": str(GUILD), "type": 1, "permission": False}])
    with pytest.raises(PermissionError):
        await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="config",
                                      options=options)


async def test_button_click_reaches_persistent_view_and_dynamic_item(fake: FakeDiscord, bot: TestBot) -> None:
    # A panel posted "before a restart": raw components, no view object stored for this message.
    status, _, message = await raw(
        fake,
        "POST",
        f"/channels/{CHANNEL}/messages",
        json={
            "content": "panel",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 3, "label": "OK", "custom_id": "panel:ok"},
                        {"type": 2, "style": 2, "label": "0", "custom_id": "counter:0"},
                    ],
                }
            ],
        },
    )
    assert status == 200
    click = await fake.click_button(message=message, custom_id="panel:ok", user_id=USER)
    assert await bot.result("panel:ok") == USER
    await click.wait_response()
    assert click.response_message is not None and click.response_message["flags"] & 64

    counter = await fake.click_button(message=message, custom_id="counter:0", user_id=USER)
    assert await bot.result("counter") == 0
    response = await counter.wait_response()
    assert response["type"] == 7
    stored = fake._msg_index[int(message["id"])]
    assert stored["content"] == "count 1"
    assert stored["components"][0]["components"][0]["custom_id"] == "counter:1"
    with pytest.raises(ValueError):
        await fake.click_button(message=message, custom_id="counter:0", user_id=USER)

    inter = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="panel")
    await inter.wait_response()
    assert inter.response_message is not None
    assert [c["custom_id"] for c in inter.response_message["components"][0]["components"]] == [
        "panel:ok",
        "counter:0",
    ]


async def test_modal_submit_reaches_modal_handler(fake: FakeDiscord, bot: TestBot) -> None:
    with pytest.raises(ValueError):
        await fake.submit_modal(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, custom_id="nope", fields={"x": "y"})
    inter = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="feedback")
    response = await inter.wait_response()
    assert response["type"] == 9 and inter.modal is not None
    submit = await fake.submit_modal(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        custom_id=inter.modal["custom_id"],
        fields={"feedback:text": "great bot"},
    )
    assert await bot.result("modal") == "great bot"
    await submit.wait_response()
    assert submit.response_message is not None and submit.response_message["content"] == "thanks: great bot"


async def test_interaction_upload_limit(fake: FakeDiscord, bot: TestBot) -> None:
    too_big = await fake.send_slash_command(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        name="sendfile",
        options=[{"name": "size", "type": 4, "value": SMALL_LIMIT + 1}],
    )
    exc = await bot.result(f"sendfile:{SMALL_LIMIT + 1}")
    assert isinstance(exc, discord.HTTPException) and exc.status == 413 and exc.code == 40005
    assert too_big.response is None and too_big.payload["attachment_size_limit"] == SMALL_LIMIT
    fits = await fake.send_slash_command(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        name="sendfile",
        options=[{"name": "size", "type": 4, "value": SMALL_LIMIT}],
    )
    assert await bot.result(f"sendfile:{SMALL_LIMIT}") is None
    message = await fake.wait_for_message(CHANNEL, lambda m: bool(m["attachments"]), timeout=5)
    assert message is fits.response_message
    assert [(a["filename"], a["size"]) for a in message["attachments"]] == [("out.bin", SMALL_LIMIT)]


# --------------------------------------------------------------------------- channel messages
async def test_channel_upload_limit(fake: FakeDiscord, bot: TestBot) -> None:
    channel = text_channel(bot)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(file=discord.File(io.BytesIO(b"x" * (SMALL_LIMIT + 1)), "big.bin"))
    assert info.value.status == 413 and info.value.code == 40005
    payload = b"y" * SMALL_LIMIT
    sent = await channel.send("fits", file=discord.File(io.BytesIO(payload), "fits.bin"))
    stored = fake.messages[CHANNEL][-1]
    assert stored["id"] == str(sent.id)
    assert [(a["filename"], a["size"]) for a in stored["attachments"]] == [("fits.bin", SMALL_LIMIT)]
    assert await sent.attachments[0].read() == payload
    assert fake.attachment_data[int(stored["attachments"][0]["id"])] == payload


async def test_nonce_is_idempotent(fake: FakeDiscord, bot: TestBot) -> None:
    channel = text_channel(bot)
    first = await channel.send("once", nonce="job-42")
    second = await channel.send("once again", nonce="job-42")
    other = await channel.send("other", nonce="job-43")
    assert first.id == second.id != other.id
    assert [m["content"] for m in fake.messages[CHANNEL]] == ["once", "other"]
    assert fake.messages[CHANNEL][0]["nonce"] == "job-42"


async def test_server_error_is_retried_and_nonce_prevents_duplicate(fake: FakeDiscord, bot: TestBot) -> None:
    # The first POST is processed but answered 500 (response lost): discord.py retries with the same
    # nonce and gets the first message back, so exactly one message exists.
    fake.fail_next("POST", rf"^/channels/{CHANNEL}/messages$", 500, after=True)
    sent = await text_channel(bot).send("exactly once")
    assert fake.requests.count(("POST", f"/channels/{CHANNEL}/messages")) == 2
    assert [m["id"] for m in fake.messages[CHANNEL]] == [str(sent.id)]


async def test_rate_limit_is_waited_on(fake: FakeDiscord, bot: TestBot) -> None:
    fake.fail_next("POST", rf"^/channels/{CHANNEL}/messages$", 429, retry_after=0.2)
    started = time.monotonic()
    sent = await text_channel(bot).send("after the limit")
    assert time.monotonic() - started >= 0.2
    assert fake.requests.count(("POST", f"/channels/{CHANNEL}/messages")) == 2
    assert fake.messages[CHANNEL][-1]["id"] == str(sent.id)
    fake.fail_next("GET", r"^/users/@me$", 429, retry_after=0.1)
    status, headers, body = await raw(fake, "GET", "/users/@me")
    assert (
        status == 429
        and headers["Via"]
        and body
        == {
            "message": "You are being rate limited.",
            "retry_after": 0.1,
            "global": False,
        }
    )


async def test_partial_message_edit(fake: FakeDiscord, bot: TestBot) -> None:
    channel = text_channel(bot)
    sent = await channel.send("v1")
    edited = await channel.get_partial_message(sent.id).edit(content="v2")
    assert edited.id == sent.id and edited.content == "v2"
    stored = fake.messages[CHANNEL][-1]
    assert stored["content"] == "v2" and stored["edited_timestamp"] is not None
    fetched = await channel.fetch_message(sent.id)
    assert fetched.content == "v2"
    with pytest.raises(discord.NotFound) as info:
        await channel.fetch_message(sent.id + 1)
    assert info.value.code == 10008


async def test_forbidden_channel(fake: FakeDiscord, bot: TestBot) -> None:
    channel = text_channel(bot, OTHER_CHANNEL)
    sent = await channel.send("before")
    fake.set_channel_forbidden(OTHER_CHANNEL)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("after")
    assert info.value.code == 50013
    with pytest.raises(discord.Forbidden):
        await sent.edit(content="edit")
    # CHANNEL_UPDATE told the client about the new overwrite.
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.me is not None
    await fake._wait_until(lambda: not channel.permissions_for(guild.me).send_messages, 5, "overwrite")
    assert fake.invalid_request_count == 2


async def test_deleted_channel(fake: FakeDiscord, bot: TestBot) -> None:
    fake.delete_channel(OTHER_CHANNEL)
    with pytest.raises(discord.NotFound) as info:
        await bot.get_partial_messageable(OTHER_CHANNEL).send("anyone?")
    assert info.value.code == 10003
    await fake._wait_until(lambda: bot.get_channel(OTHER_CHANNEL) is None, 5, "CHANNEL_DELETE")


async def test_direct_messages(fake: FakeDiscord, bot: TestBot) -> None:
    user = await bot.fetch_user(USER)
    sent = await user.send("hello in private")
    dm = await fake.wait_for_dm(USER, lambda m: m["content"] == "hello in private", timeout=5)
    assert dm["id"] == str(sent.id)
    assert fake.dm_messages[USER] == [dm]
    fake.set_dms_closed(ADMIN)
    admin = await bot.fetch_user(ADMIN)
    with pytest.raises(discord.Forbidden) as info:
        await admin.send("hi")
    assert info.value.code == 50007


async def test_rest_rules_without_discord_py(fake: FakeDiscord) -> None:
    status, headers, body = await raw(fake, "GET", "/users/@me", auth=False)
    assert status == 401
    status, headers, body = await raw(fake, "POST", f"/channels/{CHANNEL}/messages", json={"content": ""})
    assert (status, body["code"]) == (400, 50006)
    assert headers["Content-Type"] == "application/json"
    status, _, body = await raw(fake, "POST", f"/channels/{CHANNEL}/messages", json={"content": "x" * 2001})
    assert (status, body["code"]) == (400, 50035) and "content" in body["errors"]
    status, _, body = await raw(
        fake, "POST", f"/channels/{CHANNEL}/messages", json={"embeds": [{"description": "d" * 4097}]}
    )
    assert (status, body["code"]) == (400, 50035)
    status, _, body = await raw(fake, "GET", "/channels/999")
    assert (status, body["code"]) == (404, 10003)
    status, _, body = await raw(fake, "POST", "/users/@me/channels", json={"recipient_id": str(USER)})
    assert status == 200 and body["type"] == 1 and body["recipients"][0]["id"] == str(USER)
    status, _, body = await raw(fake, "POST", "/webhooks/1/nope?wait=1", json={"content": "x"}, auth=False)
    assert status == 404 and body["code"] == 10015
    fake.fail_next("*", r"^/channels/", 503, code=0, times=2)
    status, _, body = await raw(fake, "GET", f"/channels/{CHANNEL}")
    assert status == 503
    status, _, _ = await raw(fake, "GET", f"/channels/{CHANNEL}")
    assert status == 503
    status, _, body = await raw(fake, "GET", f"/channels/{CHANNEL}")
    assert status == 200 and body["name"] == "general"
    assert DEFAULT_MEMBER_PERMISSIONS & MANAGE_GUILD == 0


# --------------------------------------------------------------------------- sharding, over raw websockets
INTENTS_GUILDS_AND_DMS = (1 << 0) | (1 << 12)


class RawShard:
    """A gateway client speaking the protocol by hand (aiohttp): IDENTIFY with a ``shard``, then every
    dispatch it receives, in order."""

    def __init__(self, fake: FakeDiscord, shard: Any) -> None:
        self.fake = fake
        self.shard = shard
        self.dispatches: list[tuple[str, Any]] = []
        self.close_code: int | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> RawShard:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.ws = await self._session.ws_connect(self.fake.gateway_url)
        hello = await self.ws.receive_json(timeout=5)
        assert hello["op"] == 10
        identify: dict[str, Any] = {"token": TOKEN, "intents": INTENTS_GUILDS_AND_DMS, "properties": {}}
        if self.shard is not None:
            identify["shard"] = self.shard
        await self.ws.send_json({"op": 2, "d": identify})
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await asyncio.wait({self._reader}, timeout=5)
        await self._session.close()

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                payload = msg.json()
                if payload["op"] == 0:
                    self.dispatches.append((payload["t"], payload["d"]))
                    self._arrived.set()
        self.close_code = self.ws.close_code
        self._arrived.set()

    async def closed(self) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), 5)
        return self.close_code

    async def event(self, name: str, check: Any = lambda d: True) -> Any:
        """The first dispatch ``name`` (received or still to come) whose ``d`` passes ``check``."""
        async with asyncio.timeout(5):
            while True:
                for event, data in self.dispatches:
                    if event == name and check(data):
                        return data
                if self._reader.done():
                    raise AssertionError(f"closed ({self.close_code}) before {name}")
                self._arrived.clear()
                await self._arrived.wait()

    def guild_ids_seen(self) -> set[int]:
        """Every guild a dispatch so far was about."""
        seen = set()
        for event, data in self.dispatches:
            if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
                seen.add(int(data["id"]))
            elif isinstance(data, dict) and data.get("guild_id"):
                seen.add(int(data["guild_id"]))
        return seen


async def test_each_shard_gets_only_its_guilds_and_their_events(fake: FakeDiscord) -> None:
    other = fake.add_guild_on_shard(1, 2, name="Shard One").id
    fake.add_channel(other, 2100, "general")
    fake.add_member(other, USER, "alice")
    assert (fake.shard_of(GUILD, 2), fake.shard_of(other, 2)) == (0, 1)

    async with RawShard(fake, [0, 2]) as zero, RawShard(fake, [1, 2]) as one:
        ready_zero, ready_one = await zero.event("READY"), await one.event("READY")
        assert ready_zero["shard"] == [0, 2] and [g["id"] for g in ready_zero["guilds"]] == [str(GUILD)]
        assert ready_one["shard"] == [1, 2] and [g["id"] for g in ready_one["guilds"]] == [str(other)]
        await zero.event("GUILD_CREATE", lambda d: d["id"] == str(GUILD))
        await one.event("GUILD_CREATE", lambda d: d["id"] == str(other))
        assert fake.identified_shards == [(0, 2), (1, 2)]

        # Guild events and interactions go to the guild's shard only; each connection's dispatches are in
        # order, so the other shard's event arriving later shows this one was not sent there.
        fake.add_channel(GUILD, 2002, "news")
        fake.set_guild_locale(other, "de")
        for_zero = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="ping")
        for_one = await fake.send_slash_command(guild_id=other, channel_id=2100, user_id=USER, name="ping")
        await zero.event("CHANNEL_CREATE", lambda d: d["id"] == "2002")
        await one.event("GUILD_UPDATE", lambda d: d["preferred_locale"] == "de")
        await zero.event("INTERACTION_CREATE", lambda d: d["id"] == str(for_zero.id))
        await one.event("INTERACTION_CREATE", lambda d: d["id"] == str(for_one.id))
        assert (for_zero.shard, for_one.shard) == ((0, 2), (1, 2))
        # A DM interaction goes to shard 0, sent after one's interaction so that its absence there shows.
        in_dm = await fake.send_slash_command(guild_id=None, channel_id=0, user_id=USER, name="ping")
        await zero.event("INTERACTION_CREATE", lambda d: d["id"] == str(in_dm.id))
        sentinel = await fake.send_slash_command(guild_id=other, channel_id=2100, user_id=USER, name="ping")
        await one.event("INTERACTION_CREATE", lambda d: d["id"] == str(sentinel.id))
        assert zero.guild_ids_seen() == {GUILD} and one.guild_ids_seen() == {other}
        assert str(in_dm.id) not in {d["id"] for e, d in one.dispatches if e == "INTERACTION_CREATE"}
        assert fake.undelivered == []

        # Shard 0 goes away (closing with 1000 ends its session): its guild's events reach no one.
        await zero.ws.close(code=1000)
        await fake._wait_until(lambda: fake._sessions_for(GUILD) == [], 5, "shard 0's session to end")
        lost = await fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, name="ping")
        fake.add_channel(GUILD, 2003, "later")
        after = await fake.send_slash_command(guild_id=other, channel_id=2100, user_id=USER, name="ping")
        await one.event("INTERACTION_CREATE", lambda d: d["id"] == str(after.id))
        assert lost.shard is None and not lost.acknowledged
        assert fake.undelivered == [("INTERACTION_CREATE", GUILD), ("CHANNEL_CREATE", GUILD)]
        assert one.guild_ids_seen() == {other}


async def test_an_unsharded_client_still_gets_every_guild(fake: FakeDiscord) -> None:
    other = fake.add_guild_on_shard(1, 2).id
    async with RawShard(fake, None) as whole:
        ready = await whole.event("READY")
        assert "shard" not in ready and {g["id"] for g in ready["guilds"]} == {str(GUILD), str(other)}
        fake.add_channel(other, 2100, "general")
        await whole.event("CHANNEL_CREATE", lambda d: d["id"] == "2100")
    assert fake.identified_shards == [None]


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [1], "0,2"])
async def test_an_invalid_shard_is_closed_with_4010(fake: FakeDiscord, shard: Any) -> None:
    async with RawShard(fake, shard) as client:
        assert await client.closed() == 4010
    assert fake.identified_shards == []


async def test_too_few_shards_is_closed_with_4011(fake: FakeDiscord) -> None:
    fake.required_shards = 2
    async with RawShard(fake, None) as unsharded, RawShard(fake, [0, 1]) as single:
        assert await unsharded.closed() == 4011
        assert await single.closed() == 4011
    async with RawShard(fake, [1, 2]) as enough:
        assert (await enough.event("READY"))["shard"] == [1, 2]


async def test_gateway_bot_reports_shards_and_identify_concurrency(fake: FakeDiscord) -> None:
    fake.recommended_shards, fake.max_concurrency = 3, 16
    status, _, body = await raw(fake, "GET", "/gateway/bot")
    assert status == 200 and body["url"] == fake.gateway_url and body["shards"] == 3
    assert body["session_start_limit"]["max_concurrency"] == 16
