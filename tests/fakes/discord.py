"""A fake Discord (REST API v10 + gateway) for end-to-end tests of a real discord.py client.

The fake runs an aiohttp web server on 127.0.0.1 and speaks enough of Discord's REST API and
gateway protocol for an unmodified discord.py 2.7 client to log in, sync application commands,
receive guilds and interactions, answer them, and post, edit and upload messages. It enforces the
rules of the real service that a bot has to live by and answers with Discord's own error codes:

* interaction responses: 3 s deadline (10062), one first response only (40060), tokens that expire
  after 15 minutes (50027), followups only after a response (10015);
* uploads above the guild's size limit (413, 40005), empty messages (50006), content/embed/component
  limits (50035), missing permissions (50013), unknown channels (10003) and messages (10008),
  editing someone else's message (50005), DMs to users who closed them (50007);
* ``nonce`` + ``enforce_nonce`` idempotency of channel messages (same message returned for 5 min);
* gateway: HELLO, heartbeats, IDENTIFY (READY + GUILD_CREATE), RESUME with replay of missed events,
  INVALID_SESSION, close codes 4001/4002/4003/4004/4005/4010/4011/4014, member chunk requests;
* sharding: IDENTIFY with ``shard: [shard_id, shard_count]``, guild events routed by
  ``(guild_id >> 22) % shard_count``, DMs to shard 0, ``GET /gateway/bot`` with ``shards`` and ``max_concurrency``.

Typical use::

    fake = FakeDiscord()
    await fake.start()
    fake.point_discord_py()            # Route.BASE, DEFAULT_GATEWAY (and Guild.filesize_limit, see below)
    fake.add_guild(1)
    fake.add_channel(1, 10)
    fake.add_member(1, 42, "alice")
    ... start the bot with any token, then:
    inter = await fake.send_slash_command(guild_id=1, channel_id=10, user_id=42, name="ping")
    await inter.wait_response()
    await fake.close()                 # also restores discord.py's globals

Upload limits: ``FakeGuild.filesize_limit`` defaults to Discord's limit for the guild's
``premium_tier`` and can be overridden (e.g. ``fake.add_guild(1).filesize_limit = 64 * 1024``).
The fake enforces that limit on channel, interaction-callback and webhook uploads and reports it as
``attachment_size_limit`` in INTERACTION_CREATE (discord.py: ``interaction.filesize_limit``).
discord.py computes ``Guild.filesize_limit`` from ``premium_tier`` alone, so ``point_discord_py()``
also wraps that property to return the override for guilds of this fake (and the tier value
otherwise); ``restore_discord_py()``/``close()`` put the original property back.

Behaviour worth knowing when writing tests:

* Stored messages are the exact dicts the REST API answered (edited in place); ``message_reference``
  and ``nonce`` are present only when set, ephemeral interaction messages are stored too (flag 64),
  a deferred message carries flag 128 (loading) until edited. ``messages`` also holds DM channels
  (``dm_messages[user]`` is the same list). Deleted messages move to ``deleted_messages``.
* As on Discord, the first followup sent while a deferred response is still loading resolves that
  message (same id, ephemeral state kept) instead of creating a new one.
* ``add_guild`` while a client is connected is the bot joining a server: GUILD_CREATE without
  ``unavailable`` (discord.py: ``on_guild_join``). ``DELETE /users/@me/guilds/{id}`` (``guild.leave()``)
  removes the guild, records it in ``left_guilds`` and dispatches GUILD_DELETE; the guild's channels then
  answer 403 code 50001 (Missing Access) and no interaction can come from it.
* ``send_slash_command``/``click_button``/``submit_modal`` raise ``ValueError`` for what a Discord
  client could not send (unknown option, disabled button, modal never shown to that user, channel not
  in the guild, user not a member) and ``PermissionError`` when the synced command's
  ``default_member_permissions``/``contexts`` would hide the command from that user.
* Attachment URLs are signed like Discord's (``?ex=…&is=…&hm=…&``) and valid for ``attachment_ttl`` seconds
  of the CDN's clock; after ``expire_attachments()`` (a day passes) the CDN answers 404 for every URL handed
  out so far, and ``POST /attachments/refresh-urls`` gives working ones (``refreshed_urls`` logs what was
  asked). ``post_member_message`` stores a member's message (attachments, embeds) for
  ``send_message_command`` (a message context-menu command).
* ``requests`` logs ``(method, path)`` with the path after ``/api/v10`` and without the query.
* ``add_thread`` adds a public thread (type 11) under a text channel; ``deny_bot_permissions`` is a channel
  overwrite against the bot (threads follow their parent's). Both show in ``app_permissions`` of
  interactions, and posting checks them (View Channel; Send Messages, or Send Messages in Threads in a
  thread; Attach Files for uploads).
* Synced commands keep their ``integration_types`` (absent: ``app_install_types``, server and user install
  as for a new app) and ``contexts``; ``send_slash_command(user_install=True)`` is a member running it
  through their own install, refused unless the command allows user installs.
* Bugs of the fake itself are answered with 400 (not 500, which discord.py would retry for ~25 s)
  and collected in ``internal_errors``.
* Shards: a session that IDENTIFIED with ``shard: [id, count]`` gets READY (with ``shard``) and the guilds, guild
  events and interactions of its shard only, and DMs when it is shard 0. An event whose shard no live session
  runs is delivered nowhere and recorded in ``undelivered`` (an interaction then never gets an answer).
  ``add_guild_on_shard``/``guild_id_on_shard`` make guilds of a given shard. An invalid ``shard`` closes with
  4010, fewer than ``required_shards`` shards (unsharded counts as one) with 4011; ``recommended_shards`` and
  ``max_concurrency`` are what ``GET /gateway/bot`` answers. ``identified_shards`` logs each IDENTIFY's shard.
  A client closing with 1000 or 1001 ends its session (it cannot be resumed), as on Discord.
* discord.py sleeps 5 s before every re-IDENTIFY (``Client.before_identify_hook``); tests that
  invalidate sessions should override that hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as _dt
import hashlib
import hmac
import json
import logging
import mimetypes
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

__all__ = [
    "ALL_PERMISSIONS",
    "BOT_DEFAULT_PERMISSIONS",
    "DEFAULT_MEMBER_PERMISSIONS",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
]

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
MiB = 1024 * 1024

# --- permission bits (https://discord.com/developers/docs/topics/permissions) -----------------------
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38

ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_MEMBER_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_DEFAULT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_EXTERNAL_EMOJIS
    | SEND_MESSAGES_IN_THREADS
    | USE_APPLICATION_COMMANDS
)
# What a "forbidden" channel denies the bot (as a member permission overwrite).
FORBIDDEN_CHANNEL_DENY = SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | SEND_MESSAGES_IN_THREADS

# --- gateway intents --------------------------------------------------------------------------------
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# --- message flags ------------------------------------------------------------------------------------
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15

_TIER_FILESIZE = {0: 10 * MiB, 1: 10 * MiB, 2: 50 * MiB, 3: 100 * MiB}
_TIER_BOOSTS = {0: 0, 1: 2, 2: 7, 3: 14}
_NONCE_WINDOW = 300.0
_HEARTBEAT_INTERVAL_MS = 41250
_STATUS_TEXT = {
    400: "400: Bad Request",
    401: "401: Unauthorized",
    403: "403: Forbidden",
    404: "404: Not Found",
    405: "405: Method Not Allowed",
    413: "Request entity too large",
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
    504: "504: Gateway Timeout",
}
_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with ``Content-Type: application/json`` exactly, as discord.py requires."""
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(status=status, body=_dumps(data).encode(), headers=hdrs)


def _nested_error(path: str, code: str, message: str) -> dict[str, Any]:
    """Build Discord's nested form-error structure for a dotted ``path`` ("embeds.0.title")."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        node = {part: node}
    return node


class _ApiError(Exception):
    """An error answer of the fake REST API ({"message", "code"} JSON body)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def response(self) -> web.Response:
        return _json(self.body(), status=self.status, headers=self.headers)


def _form_error(path: str, code: str, message: str) -> _ApiError:
    return _ApiError(400, 50035, "Invalid Form Body", errors=_nested_error(path, code, message))


def _too_long(path: str, limit: int) -> _ApiError:
    return _form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


# Discord's limits on the texts of a modal's components (its docs, "Component Reference"): a label's text 45
# characters and its description 100; a text input's label 45, placeholder 100; a select's placeholder 150 and
# each option's label and description 100.
MODAL_TEXT_LIMITS: dict[int, dict[str, int]] = {
    18: {"label": 45, "description": 100},  # Label
    4: {"label": 45, "placeholder": 100},  # Text Input
    3: {"placeholder": 150},  # String Select
}
OPTION_TEXT_LIMITS = {"label": 100, "description": 100}


def _check_modal_texts(components: list[dict[str, Any]], path: str) -> None:
    """Refuse a modal whose component texts are over Discord's limits, as Discord does (400, 50035)."""
    for index, component in enumerate(components):
        where = f"{path}.{index}"
        for name, limit in MODAL_TEXT_LIMITS.get(int(component.get("type", 0)), {}).items():
            if len(component.get(name) or "") > limit:
                raise _too_long(f"{where}.{name}", limit)
        for number, option in enumerate(component.get("options") or []):
            for name, limit in OPTION_TEXT_LIMITS.items():
                if len(option.get(name) or "") > limit:
                    raise _too_long(f"{where}.options.{number}.{name}", limit)
        if isinstance(component.get("component"), dict):  # a Label holds one component
            _check_modal_texts([component["component"]], f"{where}.component")
        _check_modal_texts(component.get("components") or [], f"{where}.components")


# ==================================================================================================
# Model
# ==================================================================================================


@dataclass
class FakeRole:
    """A guild role."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1
    managed: bool = False
    tags: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Discord's role object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }
        if self.tags is not None:
            data["tags"] = self.tags
        return data


@dataclass
class FakeMember:
    """A guild member. ``permissions`` are the member's guild-wide permissions."""

    user_id: int
    permissions: int
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=_now_iso)
    nick: str | None = None


@dataclass
class FakeChannel:
    """A guild text channel (type 0), a DM channel (type 1) or a public thread (type 11)."""

    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    recipient_id: int | None = None
    forbidden: bool = False
    deleted: bool = False
    bot_deny: int = 0
    """Permissions a channel overwrite denies the bot here (``FakeDiscord.deny_bot_permissions``)."""
    parent_id: int | None = None
    """A thread's (type 11) parent text channel, whose overwrites the thread follows."""


class FakeGuild:
    """A guild of the fake. ``filesize_limit`` is Discord's tier limit unless overridden by assignment."""

    def __init__(self, guild_id: int, name: str, premium_tier: int, owner_id: int, bot_role_id: int) -> None:
        if premium_tier not in _TIER_FILESIZE:
            raise ValueError("premium_tier must be 0, 1, 2 or 3")
        self.id = guild_id
        self.name = name
        self.premium_tier = premium_tier
        self.owner_id = owner_id
        self.joined_at = _now_iso()
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
        self.roles: dict[int, FakeRole] = {
            guild_id: FakeRole(guild_id, "@everyone", DEFAULT_MEMBER_PERMISSIONS, position=0),
        }
        self.bot_role_id = bot_role_id
        self.bot_permissions = BOT_DEFAULT_PERMISSIONS
        self._filesize_override: int | None = None
        self.preferred_locale = "en-US"  # the server's language (Server Settings > Community), a Discord locale

    @property
    def filesize_limit(self) -> int:
        """Upload limit per file in bytes: the override if set, else the premium tier's limit."""
        if self._filesize_override is not None:
            return self._filesize_override
        return _TIER_FILESIZE[self.premium_tier]

    @filesize_limit.setter
    def filesize_limit(self, value: int | None) -> None:
        """Override the limit (``None`` goes back to the tier's limit)."""
        self._filesize_override = value

    def member_permissions(self, user_id: int) -> int:
        """Effective guild permissions of a member (owner and administrators get everything)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions
        if member is not None:
            perms |= member.permissions
            for rid in member.roles:
                role = self.roles.get(rid)
                if role is not None:
                    perms |= role.permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def bot_channel_permissions(self, channel: FakeChannel) -> int:
        """The bot's permissions in a channel of this guild (a thread has its parent channel's overwrites)."""
        perms = self.roles[self.id].permissions | self.bot_permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        source = self.channels.get(channel.parent_id, channel) if channel.parent_id is not None else channel
        if source.forbidden:
            perms &= ~FORBIDDEN_CHANNEL_DENY
        return perms & ~source.bot_deny


@dataclass
class _Upload:
    index: int
    filename: str
    data: bytes


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int
    retry_after: float | None
    after: bool


class FakeInteraction:
    """One interaction sent by the fake, and everything the bot did with it."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        interaction_id: int,
        token: str,
        type: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        payload: dict[str, Any],
        attachment_size_limit: int,
    ) -> None:
        self._fake = fake
        self.id = interaction_id
        self.token = token
        self.type = type
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.payload = payload
        """The INTERACTION_CREATE ``d`` as dispatched."""
        self.attachment_size_limit = attachment_size_limit
        self.created_at = time.monotonic()
        self.dispatched_at = self.created_at
        self.response: dict[str, Any] | None = None
        """The first (accepted) callback body: ``{"type": 4|5|6|7|8|9, "data": {...}}``."""
        self.response_latency: float | None = None
        """Seconds from INTERACTION_CREATE being written to the bot's websocket to the accepted callback request
        arriving."""
        self.original_message_id: int | None = None
        self.followups: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        """Every error the fake answered to callback/webhook requests of this interaction."""
        self.modal: dict[str, Any] | None = None
        """The modal shown by a type 9 response (its ``data``)."""
        self.shard: tuple[int, int] | None = None
        """``[shard_id, shard_count]`` of the session it was dispatched to (None: unsharded, or delivered nowhere,
        then it is in ``FakeDiscord.undelivered``)."""
        self._responded = asyncio.Event()

    @property
    def response_message(self) -> dict[str, Any] | None:
        """The ``@original`` message: created by a type 4/5 response (edited in place by PATCH
        ``@original``) or, for component interactions answered with type 6/7, the component's message."""
        if self.original_message_id is None:
            return None
        return self._fake._msg_index.get(self.original_message_id)

    @property
    def acknowledged(self) -> bool:
        """Whether a first response was accepted."""
        return self.response is not None

    async def wait_response(self, timeout: float = 5) -> dict[str, Any]:
        """Wait for the first response and return its body. Raises ``TimeoutError``."""
        try:
            await asyncio.wait_for(self._responded.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"interaction {self.id} got no response within {timeout}s (errors: {self.errors})"
            ) from None
        assert self.response is not None
        return self.response

    async def wait_for(self, predicate: Callable[[FakeInteraction], bool], timeout: float = 5) -> None:
        """Wait until ``predicate(self)`` is true (re-checked on every change in the fake)."""
        await self._fake._wait_until(lambda: predicate(self), timeout, f"interaction {self.id} condition")

    async def wait_followup(
        self, predicate: Callable[[dict[str, Any]], bool] = lambda m: True, timeout: float = 5
    ) -> dict[str, Any]:
        """Wait for a followup message matching ``predicate`` and return it."""
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for msg in self.followups:
                if predicate(msg):
                    found.append(msg)
                    return True
            return False

        await self._fake._wait_until(check, timeout, f"followup of interaction {self.id}")
        return found[0]

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} response={self.response is not None}>"


class _GatewayConnection:
    """One websocket of a gateway client, with an ordered outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: _Session | None = None
        # A frame, with what to call once it has been written to the socket; or a close code.
        self._queue: asyncio.Queue[tuple[str, Callable[[], None] | None] | int] = asyncio.Queue()
        self._closing = False
        self._writer = asyncio.create_task(self._write_loop())

    @property
    def open(self) -> bool:
        return not self.ws.closed and not self._writer.done()

    def send(self, payload: dict[str, Any]) -> None:
        self.send_text(_dumps(payload))

    def send_text(self, text: str, on_written: Callable[[], None] | None = None) -> None:
        if not self._writer.done():
            self._queue.put_nowait((text, on_written))

    async def close(self, code: int = 1000, *, wait: bool = True) -> None:
        """Flush what is queued, then close the websocket with ``code``."""
        if not self._writer.done():
            self._closing = True
            self._queue.put_nowait(code)
            if wait:
                await asyncio.wait({self._writer}, timeout=5)

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, int):
                with contextlib.suppress(Exception):
                    await self.ws.close(code=item)
                return
            text, on_written = item
            try:
                await self.ws.send_str(text)
            except Exception:
                return
            if on_written is not None:
                on_written()

    async def stop(self) -> None:
        """Stop the writer (letting a close handshake in progress finish first)."""
        if self._closing and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=2)
        self._writer.cancel()
        await asyncio.wait({self._writer}, timeout=1)


@dataclass
class _Session:
    id: str
    intents: int
    shard: tuple[int, int] | None
    seq: int = 0
    buffer: list[tuple[int, str]] = field(default_factory=list)
    conn: _GatewayConnection | None = None
    valid: bool = True


# ==================================================================================================
# The fake
# ==================================================================================================


class FakeDiscord:
    """Fake Discord REST API + gateway for a real discord.py client, on 127.0.0.1.

    ``token``: if given, only ``Bot <token>`` is accepted (else any non-empty bot token is).
    ``allowed_privileged_intents``: privileged intents enabled "in the developer portal"; asking for
    others on IDENTIFY closes the gateway with 4014 (discord.py: ``PrivilegedIntentsRequired``).
    ``interaction_deadline`` and ``token_ttl`` are plain attributes and may be changed at any time.
    """

    def __init__(
        self,
        *,
        interaction_deadline: float = 3.0,
        token_ttl: float = 900.0,
        token: str | None = None,
        application_id: int | None = None,
        bot_name: str = "FakeBot",
        owner_id: int | None = None,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        heartbeat_interval_ms: int = _HEARTBEAT_INTERVAL_MS,
    ) -> None:
        self.interaction_deadline = interaction_deadline
        self.token_ttl = token_ttl
        self.token = token
        self.allowed_privileged_intents = allowed_privileged_intents
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._sf_last = 0
        self.application_id: int = application_id or self._snowflake()
        self.bot_user_id: int = self.application_id
        self.bot_name = bot_name
        self.owner_user_id: int = owner_id or self._snowflake()
        self.base_url = ""
        self.gateway_url = ""
        self.cdn_url = ""
        self.port = 0

        self.users: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.left_guilds: list[int] = []
        """Guilds the bot left (``DELETE /users/@me/guilds/{id}``), in order."""
        self._channels: dict[int, FakeChannel] = {}
        self._dm_channel_by_user: dict[int, int] = {}
        self._dms_closed: set[int] = set()

        self.commands: list[dict[str, Any]] = []
        self.app_install_types: tuple[int, ...] = (0, 1)
        """Installation types the app allows "in the Developer Portal" (0 server, 1 user install; a new
        app allows both): a command that names none gets these as its ``integration_types``."""
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        # Each member's Discord client language, sent as an interaction's `locale` (default en-US).
        self.user_locales: dict[int, str] = {}
        self.command_permissions: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}

        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.dm_messages: dict[int, list[dict[str, Any]]] = {}
        self.deleted_messages: list[dict[str, Any]] = []
        self.message_payloads: dict[int, dict[str, Any]] = {}
        self._msg_index: dict[int, dict[str, Any]] = {}
        self.attachment_data: dict[int, bytes] = {}
        self._attachment_types: dict[int, str] = {}
        self.attachment_ttl = 24 * 3600.0
        """Seconds a signed attachment URL stays valid (Discord: about a day)."""
        self._cdn_clock_shift = 0.0
        self._cdn_key = secrets.token_bytes(16)
        self.refreshed_urls: list[str] = []
        """Every URL asked for at ``POST /attachments/refresh-urls``, in order."""
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}

        self.interactions: list[FakeInteraction] = []
        self._interactions_by_id: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}

        self.requests: list[tuple[str, str]] = []
        self.invalid_request_count = 0
        self.internal_errors: list[Exception] = []
        """Exceptions raised by the fake's own handlers (answered with 400); should stay empty."""
        self._faults: list[_Fault] = []

        self._sessions: dict[str, _Session] = {}
        self._conns: set[_GatewayConnection] = set()
        self._ready = asyncio.Event()
        self._refuse_until = 0.0
        self.gateway_identifies = 0
        self.gateway_resumes = 0
        self.identified_shards: list[tuple[int, int] | None] = []
        """The ``shard`` of every accepted IDENTIFY, in order (``None``: an unsharded client)."""
        self.recommended_shards = 1
        """The ``shards`` that ``GET /gateway/bot`` recommends."""
        self.required_shards = 1
        """The fewest shards an IDENTIFY may use; fewer closes with 4011 (Sharding required)."""
        self.max_concurrency = 1
        """``session_start_limit.max_concurrency`` of ``GET /gateway/bot``: identify buckets."""
        self.undelivered: list[tuple[str, int | None]] = []
        """(event, guild id) of every dispatch no connected shard was there to receive: with clients identified,
        none of them covers that guild's shard (or shard 0 for DMs), as Discord then delivers it nowhere."""

        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._saved_discord_py: tuple[Any, Any, Any, Any] | None = None

        self.users[self.bot_user_id] = self._bot_user()
        self.users[self.owner_user_id] = self._user_obj(self.owner_user_id, "owner")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the web server on 127.0.0.1 on a random free port."""
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * MiB)
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1])
        root = f"http://127.0.0.1:{self.port}"
        self.base_url = root + API_PREFIX
        self.cdn_url = root
        self.gateway_url = f"ws://127.0.0.1:{self.port}/gateway"

    async def close(self) -> None:
        """Close every gateway websocket, stop the server and restore discord.py's globals."""
        self.restore_discord_py()
        for conn in list(self._conns):
            await conn.close(1001)
            await conn.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def point_discord_py(self) -> None:
        """Point discord.py at this fake: ``Route.BASE``, ``DiscordWebSocket.DEFAULT_GATEWAY`` and
        ``Guild.filesize_limit`` (so overrides of ``FakeGuild.filesize_limit`` are visible to the bot)."""
        import discord
        import discord.gateway
        import discord.http

        if not self.base_url:
            raise RuntimeError("start() the fake first")
        if self._saved_discord_py is None:
            self._saved_discord_py = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
                discord.Guild.__dict__["filesize_limit"],
                None,
            )
        original = self._saved_discord_py[2]
        fake = self

        def filesize_limit(guild: Any) -> int:
            fg = fake.guilds.get(guild.id)
            if fg is not None and fg._filesize_override is not None:
                return fg._filesize_override
            return int(original.__get__(guild))

        patched = property(filesize_limit, doc=original.__doc__)
        self._saved_discord_py = (*self._saved_discord_py[:3], patched)
        discord.http.Route.BASE = self.base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        discord.Guild.filesize_limit = patched  # type: ignore[method-assign,assignment]

    def restore_discord_py(self) -> None:
        """Undo ``point_discord_py()``."""
        if self._saved_discord_py is None:
            return
        import discord
        import discord.gateway
        import discord.http

        base, gateway, original, patched = self._saved_discord_py
        if self.base_url == discord.http.Route.BASE:
            discord.http.Route.BASE = base
        if str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == self.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
        if discord.Guild.__dict__.get("filesize_limit") is patched:
            discord.Guild.filesize_limit = original  # type: ignore[method-assign]
        self._saved_discord_py = None

    # ------------------------------------------------------------------ ids, users
    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17)
        if value <= self._sf_last:
            value = self._sf_last + 1
        self._sf_last = value
        return value

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_name,
            "discriminator": "4242",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }

    @staticmethod
    def _user_obj(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }

    def _public_user(self, user_id: int) -> dict[str, Any]:
        user = dict(self.users[user_id])
        for private in ("email", "verified", "mfa_enabled", "locale"):
            user.pop(private, None)
        return user

    # ------------------------------------------------------------------ world building
    def add_guild(
        self, guild_id: int, *, name: str = "Test Guild", premium_tier: int = 0, owner_id: int | None = None
    ) -> FakeGuild:
        """Add a guild the bot is in. To connected clients this is the bot joining it: GUILD_CREATE without
        ``unavailable``, which discord.py reports as ``on_guild_join`` (``unavailable: false`` is only for
        guilds a session already knew, from READY or an outage)."""
        joined = guild_id not in self.guilds
        guild = FakeGuild(guild_id, name, premium_tier, owner_id or self.owner_user_id, self._snowflake())
        guild.roles[guild.bot_role_id] = FakeRole(
            guild.bot_role_id,
            self.bot_name,
            BOT_DEFAULT_PERMISSIONS,
            position=1,
            managed=True,
            tags={"bot_id": str(self.bot_user_id)},
        )
        guild.members[self.bot_user_id] = FakeMember(self.bot_user_id, 0, [guild.bot_role_id])
        self.guilds[guild_id] = guild
        receivers = self._sessions_for(guild_id)
        if not receivers:
            self._note_undelivered("GUILD_CREATE", guild_id)
        for session in receivers:
            payload = self._guild_create_payload(guild)
            if joined:
                del payload["unavailable"]
            self._dispatch_to(session, "GUILD_CREATE", payload)
        return guild

    def add_guild_on_shard(self, shard_id: int, shard_count: int, **options: Any) -> FakeGuild:
        """``add_guild`` with a new id whose events go to ``shard_id`` of ``shard_count``."""
        return self.add_guild(self.guild_id_on_shard(shard_id, shard_count), **options)

    def set_premium_tier(self, guild_id: int, premium_tier: int) -> None:
        """Change a guild's boost tier (GUILD_UPDATE is dispatched)."""
        if premium_tier not in _TIER_FILESIZE:
            raise ValueError("premium_tier must be 0, 1, 2 or 3")
        guild = self.guilds[guild_id]
        guild.premium_tier = premium_tier
        self._dispatch_guild_event(guild_id, "GUILD_UPDATE", self._guild_payload(guild), INTENT_GUILDS)

    def set_guild_locale(self, guild_id: int, locale: str) -> None:
        """Change a guild's preferred locale (GUILD_UPDATE is dispatched, as Discord does)."""
        guild = self.guilds[guild_id]
        guild.preferred_locale = locale
        self._dispatch_guild_event(guild_id, "GUILD_UPDATE", self._guild_payload(guild), INTENT_GUILDS)

    def set_user_locale(self, user_id: int, locale: str) -> None:
        """The language of a member's Discord client: their interactions carry it as `locale`."""
        self.user_locales[user_id] = locale

    def add_channel(self, guild_id: int, channel_id: int, name: str = "general") -> None:
        """Add a text channel to a guild (CHANNEL_CREATE is dispatched to connected clients)."""
        guild = self.guilds[guild_id]
        channel = FakeChannel(channel_id, 0, name=name, guild_id=guild_id, position=len(guild.channels))
        guild.channels[channel_id] = channel
        self._channels[channel_id] = channel
        self.messages.setdefault(channel_id, [])
        self._dispatch_guild_event(guild_id, "CHANNEL_CREATE", self._channel_obj(channel), INTENT_GUILDS)

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        *,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        roles: list[int] | None = None,
        bot: bool = False,
    ) -> None:
        """Add a member. ``permissions`` are their guild permissions (ORed with their roles')."""
        guild = self.guilds[guild_id]
        if user_id not in self.users:
            self.users[user_id] = self._user_obj(user_id, name, bot=bot)
        member = FakeMember(user_id, permissions, list(roles or []))
        guild.members[user_id] = member
        payload = {**self._member_obj(guild, member), "guild_id": str(guild_id)}
        self._dispatch_guild_event(guild_id, "GUILD_MEMBER_ADD", payload, INTENT_GUILD_MEMBERS)

    def add_role(self, guild_id: int, role_id: int, name: str, permissions: int = 0) -> None:
        """Add a role to a guild (GUILD_ROLE_CREATE is dispatched)."""
        guild = self.guilds[guild_id]
        role = FakeRole(role_id, name, permissions, position=len(guild.roles))
        guild.roles[role_id] = role
        payload = {"guild_id": str(guild_id), "role": role.to_dict()}
        self._dispatch_guild_event(guild_id, "GUILD_ROLE_CREATE", payload, INTENT_GUILDS)

    def add_thread(self, guild_id: int, thread_id: int, parent_id: int, name: str = "thread") -> None:
        """Add a public thread (type 11) under the text channel ``parent_id`` (THREAD_CREATE is dispatched). The
        bot posts in it with Send Messages in Threads; it follows its parent's permission overwrites."""
        guild = self.guilds[guild_id]
        if guild.channels.get(parent_id) is None or guild.channels[parent_id].type != 0:
            raise ValueError(f"channel {parent_id} is not a text channel of guild {guild_id}")
        thread = FakeChannel(thread_id, 11, name=name, guild_id=guild_id, parent_id=parent_id)
        guild.channels[thread_id] = thread
        self._channels[thread_id] = thread
        self.messages.setdefault(thread_id, [])
        payload = {**self._channel_obj(thread), "newly_created": True}
        self._dispatch_guild_event(guild_id, "THREAD_CREATE", payload, INTENT_GUILDS)

    def deny_bot_permissions(self, channel_id: int, permissions: int) -> None:
        """A channel permission overwrite that denies the bot ``permissions`` (bits) in this text channel (and its
        threads): reflected in ``app_permissions`` of interactions there and enforced on posting (403 code
        50013; 50001 without View Channel). ``0`` removes the overwrite. CHANNEL_UPDATE is dispatched."""
        channel = self._channels[channel_id]
        channel.bot_deny = permissions
        if channel.guild_id is not None:
            self._dispatch_guild_event(channel.guild_id, "CHANNEL_UPDATE", self._channel_obj(channel), INTENT_GUILDS)

    def set_channel_forbidden(self, channel_id: int, forbidden: bool = True) -> None:
        """Deny the bot Send Messages/Attach Files/Embed Links in a channel: POST/PATCH of channel
        messages there answer 403 code 50013. Interaction responses still work (as on Discord)."""
        channel = self._channels[channel_id]
        channel.forbidden = forbidden
        if channel.guild_id is not None:
            self._dispatch_guild_event(channel.guild_id, "CHANNEL_UPDATE", self._channel_obj(channel), INTENT_GUILDS)

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel: every route on it answers 404 code 10003 (CHANNEL_DELETE is dispatched)."""
        channel = self._channels[channel_id]
        channel.deleted = True
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].channels.pop(channel_id, None)
            self._dispatch_guild_event(channel.guild_id, "CHANNEL_DELETE", self._channel_obj(channel), INTENT_GUILDS)

    def set_dms_closed(self, user_id: int, closed: bool = True) -> None:
        """The user does not accept DMs from the bot: sends answer 403 code 50007."""
        if closed:
            self._dms_closed.add(user_id)
        else:
            self._dms_closed.discard(user_id)

    def set_command_permissions(self, guild_id: int, name: str, permissions: list[dict[str, Any]]) -> None:
        """What a server admin sets in Server Settings → Integrations for command ``name``: Discord's
        permission overrides ``[{"id", "type": 1 role | 2 user, "permission": bool}]`` (the @everyone role's
        id is the guild id). Overrides replace ``default_member_permissions`` for the members they match."""
        self.command_permissions[(guild_id, name)] = [dict(p) for p in permissions]

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        code: int = 0,
        message: str = "",
        times: int = 1,
        retry_after: float | None = None,
        after: bool = False,
    ) -> None:
        """Answer the next ``times`` REST requests matching ``method`` ("*" for any) and
        ``re.search(path_regex, path)`` (path without ``/api/v10`` and query) with ``status``.

        429 gets ``{message, retry_after, global: false}`` plus ``Via``/``Retry-After``/``X-RateLimit-*``
        headers (a normal rate limit to discord.py). With ``after=True`` the request is processed
        first and the error replaces its answer (the "it worked but the response was lost" case).
        """
        self._faults.append(
            _Fault(
                method.upper(),
                re.compile(path_regex),
                status,
                code,
                message or _STATUS_TEXT.get(status, f"{status}: Error"),
                times,
                retry_after,
                after,
            )
        )

    def add_attachment(self, data: bytes, filename: str, content_type: str) -> dict[str, Any]:
        """Store a user's upload (for slash-command attachment options); its ``url`` serves the bytes."""
        if not self.cdn_url:
            raise RuntimeError("start() the fake first")
        att_id = self._snowflake()
        self.attachment_data[att_id] = bytes(data)
        self._attachment_types[att_id] = content_type
        url = self._signed(f"/ephemeral-attachments/{self.application_id}/{att_id}/{urllib.parse.quote(filename)}")
        return {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "content_type": content_type,
            "url": url,
            "proxy_url": url,
            "ephemeral": True,
        }

    # ------------------------------------------------------------------ signed attachment URLs
    def _cdn_now(self) -> float:
        return time.time() + self._cdn_clock_shift

    def _signature(self, path: str, expires: str, issued: str) -> str:
        return hmac.new(self._cdn_key, f"{path}|{expires}|{issued}".encode(), hashlib.sha256).hexdigest()

    def _signed(self, path: str) -> str:
        """A CDN URL for ``path`` signed as Discord signs them: ``ex`` (expiry) and ``is`` (issued) as hex unix
        seconds, ``hm`` a signature over both; valid for ``attachment_ttl`` seconds of the CDN's clock."""
        now = self._cdn_now()
        expires, issued = f"{int(now + self.attachment_ttl):x}", f"{int(now):x}"
        query = urllib.parse.urlencode({"ex": expires, "is": issued, "hm": self._signature(path, expires, issued)})
        return f"{self.cdn_url}{path}?{query}&"

    def _signature_valid(self, raw_path: str) -> bool:
        path, _, query = raw_path.partition("?")
        params = urllib.parse.parse_qs(query)
        expires, issued, signature = (params.get(key, [""])[0] for key in ("ex", "is", "hm"))
        if not (expires and issued and signature):
            return False
        if not hmac.compare_digest(signature, self._signature(path, expires, issued)):
            return False
        try:
            return int(expires, 16) > self._cdn_now()
        except ValueError:
            return False

    def expire_attachments(self) -> None:
        """Let a day pass on the CDN: every attachment URL handed out so far is past its ``ex`` and answers
        404; ``POST /attachments/refresh-urls`` (and new uploads) give URLs that work."""
        self._cdn_clock_shift += self.attachment_ttl + 1

    def post_member_message(
        self,
        channel_id: int,
        user_id: int,
        content: str = "",
        *,
        files: list[tuple[bytes, str, str]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A message a member posted: ``files`` as ``(data, filename, content_type)`` become attachments on the
        CDN (signed URLs), ``embeds`` are stored as given (e.g. ``{"image": {"url": ...}}`` for a link preview).
        Returns the stored message (use it as the target of ``send_message_command``)."""
        channel = self._channels[channel_id]
        if channel.guild_id is not None and user_id not in self.guilds[channel.guild_id].members:
            raise ValueError(f"user {user_id} is not a member of guild {channel.guild_id}")
        attachments = []
        for data, filename, content_type in files or []:
            att_id = self._snowflake()
            self.attachment_data[att_id] = bytes(data)
            self._attachment_types[att_id] = content_type
            url = self._signed(f"/attachments/{channel_id}/{att_id}/{urllib.parse.quote(filename)}")
            attachments.append({"id": str(att_id), "filename": filename, "size": len(data), "url": url,
                                "proxy_url": url, "content_type": content_type})
        embeds = [{"type": "rich", **copy.deepcopy(e)} for e in embeds or []]
        msg_id = self._snowflake()
        msg: dict[str, Any] = {
            "id": str(msg_id), "type": 0, "content": content, "channel_id": str(channel_id),
            "author": self._public_user(user_id), "attachments": attachments, "embeds": embeds,
            "mentions": self._mentions(content), "mention_roles": [], "mention_everyone": False, "pinned": False,
            "tts": False, "timestamp": _now_iso(), "edited_timestamp": None, "flags": 0, "components": [],
        }
        self.messages.setdefault(channel_id, []).append(msg)
        self._msg_index[msg_id] = msg
        self._dispatch_message_event("MESSAGE_CREATE", channel, msg)
        self._notify()
        return msg

    # ------------------------------------------------------------------ payload builders
    def _role_ids_of(self, member: FakeMember) -> list[str]:
        return [str(r) for r in member.roles]

    def _member_obj(self, guild: FakeGuild, member: FakeMember, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": self._role_ids_of(member),
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self._public_user(member.user_id)
        return data

    def _channel_obj(self, channel: FakeChannel) -> dict[str, Any]:
        if channel.type == 1:
            assert channel.recipient_id is not None
            return {
                "id": str(channel.id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._public_user(channel.recipient_id)],
            }
        if channel.type == 11:
            return self._thread_obj(channel)
        overwrites = []
        deny = (FORBIDDEN_CHANNEL_DENY if channel.forbidden else 0) | channel.bot_deny
        if deny:
            overwrites.append({"id": str(self.bot_user_id), "type": 1, "allow": "0", "deny": str(deny)})
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": overwrites,
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _thread_obj(self, thread: FakeChannel) -> dict[str, Any]:
        created = _now_iso()
        return {
            "id": str(thread.id),
            "type": thread.type,
            "guild_id": str(thread.guild_id),
            "parent_id": str(thread.parent_id),
            "owner_id": str(self.owner_user_id),
            "name": thread.name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": len(self.messages.get(thread.id, [])),
            "member_count": 1,
            "total_message_sent": len(self.messages.get(thread.id, [])),
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": created,
                "locked": False,
                "create_timestamp": created,
            },
        }

    def _guild_payload(self, guild: FakeGuild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.to_dict() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": _TIER_BOOSTS[guild.premium_tier],
            "preferred_locale": guild.preferred_locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
        }

    def _guild_create_payload(self, guild: FakeGuild) -> dict[str, Any]:
        data = self._guild_payload(guild)
        members = [self._member_obj(guild, m) for m in guild.members.values()]
        data.update(
            {
                "joined_at": guild.joined_at,
                "large": False,
                "unavailable": False,
                "member_count": len(members),
                "voice_states": [],
                "members": members,
                "channels": [self._channel_obj(c) for c in guild.channels.values() if not c.deleted and c.type != 11],
                "threads": [self._channel_obj(c) for c in guild.channels.values() if not c.deleted and c.type == 11],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "lazy": True,
            }
        )
        return data

    def _application_obj(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self._public_user(self.owner_user_id),
            "team": None,
            "flags": self._application_flags(),
            "bot": self._public_user(self.bot_user_id),
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "install_params": None,
            "custom_install_url": None,
            "integration_types_config": {str(kind): {} for kind in self.app_install_types},
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
            "cover_image": None,
            "guild_id": None,
            "primary_sku_id": None,
            "slug": None,
            "terms_of_service_url": None,
            "privacy_policy_url": None,
        }

    def _application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.allowed_privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13
        if self.allowed_privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15
        if self.allowed_privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    # ------------------------------------------------------------------ waiting
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            if check():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def _wait_in(
        self,
        messages: Callable[[], list[dict[str, Any]]],
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for msg in messages():
                if predicate(msg):
                    found.append(msg)
                    return True
            return False

        await self._wait_until(check, timeout, what)
        return found[0]

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Return the first message (existing or future, ephemeral ones included) in the channel that
        matches ``predicate``; re-checked after edits too. Raises ``TimeoutError``."""
        return await self._wait_in(
            lambda: self.messages.get(channel_id, []), predicate, timeout, f"a message in {channel_id}"
        )

    async def wait_for_dm(
        self,
        user_id: int,
        predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Like ``wait_for_message`` for the bot's DM channel with ``user_id``."""
        return await self._wait_in(lambda: self.dm_messages.get(user_id, []), predicate, timeout, f"a DM to {user_id}")

    async def wait_for_request(
        self, method: str, path_regex: str, timeout: float = 10, *, start: int = 0
    ) -> tuple[str, str]:
        """Wait for a logged REST request (``self.requests[start:]``) matching method and regex."""
        pattern = re.compile(path_regex)
        found: list[tuple[str, str]] = []

        def check() -> bool:
            for req in self.requests[start:]:
                if req[0] == method.upper() and pattern.search(req[1]):
                    found.append(req)
                    return True
            return False

        await self._wait_until(check, timeout, f"{method} {path_regex}")
        return found[0]

    @property
    def gateway_connected(self) -> bool:
        """Whether a client is identified (or resumed) on an open websocket."""
        return any(c.open and c.session is not None for c in self._conns)

    async def wait_until_ready(self, timeout: float = 10) -> None:
        """Wait until a client is connected and has IDENTIFIED (READY + GUILD_CREATEs sent) or RESUMED."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no gateway client became ready within {timeout}s") from None

    async def disconnect_clients(self, *, code: int = 4000, resumable: bool = True, refuse_for: float = 0.0) -> None:
        """Close every gateway websocket (an outage). With ``resumable=False`` the sessions are
        invalidated (a RESUME gets op 9 and the client re-identifies); ``refuse_for`` seconds of
        refused websocket upgrades (503) follow."""
        self._refuse_until = time.monotonic() + refuse_for
        if not resumable:
            for session in self._sessions.values():
                session.valid = False
        self._ready.clear()
        conns = list(self._conns)
        await asyncio.gather(*(c.close(code) for c in conns))
        self._notify()

    # ------------------------------------------------------------------ gateway
    def _live_sessions(self) -> list[_Session]:
        return [s for s in self._sessions.values() if s.valid]

    @staticmethod
    def _session_has_guild(session: _Session, guild_id: int | None) -> bool:
        """Whether a session receives this guild's events: an unsharded one all, a shard those of the guilds
        with ``(guild_id >> 22) % shard_count == shard_id``; DMs (``guild_id`` None) go to shard 0."""
        if session.shard is None:
            return True
        shard_id, count = session.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id

    def _sessions_for(self, guild_id: int | None) -> list[_Session]:
        """The live sessions that receive this guild's events (a DM's, with None), oldest first."""
        return [s for s in self._live_sessions() if self._session_has_guild(s, guild_id)]

    def _note_undelivered(self, event: str, guild_id: int | None) -> None:
        """No session of the guild's shard is there: Discord delivers the event nowhere (once clients exist)."""
        if self._sessions:
            self.undelivered.append((event, guild_id))
            self._notify()

    @staticmethod
    def shard_of(guild_id: int, shard_count: int) -> int:
        """The shard that receives a guild's events (Discord's formula)."""
        return (guild_id >> 22) % shard_count

    def guild_id_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A new guild id (a snowflake of now) whose events go to ``shard_id`` of ``shard_count``."""
        if not 0 <= shard_id < shard_count:
            raise ValueError("shard_id must be at least 0 and below shard_count")
        snowflake = self._snowflake()
        timestamp = snowflake >> 22
        timestamp += (shard_id - timestamp) % shard_count
        guild_id = (timestamp << 22) | (snowflake & ((1 << 22) - 1))
        self._sf_last = max(self._sf_last, guild_id)
        return guild_id

    def _dispatch_to(self, session: _Session, event: str, data: Any,
                     on_written: Callable[[], None] | None = None) -> None:
        session.seq += 1
        text = _dumps({"op": 0, "t": event, "s": session.seq, "d": data})
        session.buffer.append((session.seq, text))
        if len(session.buffer) > 5000:
            del session.buffer[:1000]
        if session.conn is not None:
            session.conn.send_text(text, on_written)

    def _dispatch_guild_event(self, guild_id: int, event: str, data: Any, intent: int) -> None:
        receivers = self._sessions_for(guild_id)
        if not receivers:
            self._note_undelivered(event, guild_id)
        for session in receivers:
            if session.intents & intent:
                self._dispatch_to(session, event, data)

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self._refuse_until:
            return web.Response(status=503, text="503 Service Unavailable")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * MiB)
        await ws.prepare(request)
        conn = _GatewayConnection(ws)
        self._conns.add(conn)
        conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._gateway_message(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await conn.close(4002)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
                if not conn._closing and ws.close_code in (1000, 1001):
                    # A client that closes with 1000 or 1001 ends its session (Discord: it cannot be resumed).
                    conn.session.valid = False
            if not self.gateway_connected:
                self._ready.clear()
            await conn.stop()
            self._notify()
        return ws

    def _token_ok(self, token: Any) -> bool:
        if not isinstance(token, str) or not token:
            return False
        token = token.removeprefix("Bot ")
        return self.token is None or token == self.token

    async def _gateway_message(self, conn: _GatewayConnection, text: str) -> None:
        try:
            msg = json.loads(text)
            op = msg["op"]
        except (ValueError, KeyError, TypeError):
            await conn.close(4002)
            return
        data = msg.get("d")
        if op == 1:
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.close(4003)
        elif op in (3, 4):
            return
        elif op == 8:
            self._request_members(conn.session, data or {})
        else:
            await conn.close(4001)

    async def _identify(self, conn: _GatewayConnection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.close(4005)
            return
        if not self._token_ok(data.get("token")):
            await conn.close(4004)
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await conn.close(4014)
            return
        try:
            shard = self._shard_of_identify(data.get("shard"))
        except ValueError:
            await conn.close(4010)  # Invalid shard
            return
        if (shard[1] if shard else 1) < self.required_shards:
            await conn.close(4011)  # Sharding required
            return
        session = _Session(id=secrets.token_hex(16), intents=intents, shard=shard)
        self.identified_shards.append(shard)
        self._sessions[session.id] = session
        session.conn = conn
        conn.session = session
        self.gateway_identifies += 1
        guilds = [g for g in self.guilds.values() if self._session_has_guild(session, g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self._bot_user(),
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth_session_id_hash": secrets.token_hex(16),
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        self._dispatch_to(session, "READY", ready)
        for guild in guilds:
            self._dispatch_to(session, "GUILD_CREATE", self._guild_create_payload(guild))
        self._ready.set()
        self._notify()

    @staticmethod
    def _shard_of_identify(shard: Any) -> tuple[int, int] | None:
        """IDENTIFY's ``shard: [shard_id, shard_count]`` (None when absent); ValueError when it is invalid."""
        if shard is None:
            return None
        if not isinstance(shard, list) or len(shard) != 2 or not all(type(part) is int for part in shard):
            raise ValueError(f"not a [shard_id, shard_count] pair: {shard!r}")
        shard_id, count = shard
        if count < 1 or not 0 <= shard_id < count:
            raise ValueError(f"no shard {shard_id} of {count}")
        return shard_id, count

    async def _resume(self, conn: _GatewayConnection, data: dict[str, Any]) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or not session.valid or not self._token_ok(data.get("token")):
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        old = session.conn
        if old is not None and old is not conn:
            old.session = None
            await old.close(4000, wait=False)
        session.conn = conn
        conn.session = session
        self.gateway_resumes += 1
        last = int(data.get("seq") or 0)
        for seq, text in session.buffer:
            if seq > last:
                conn.send_text(text)
        self._dispatch_to(session, "RESUMED", {})
        self._ready.set()
        self._notify()

    def _request_members(self, session: _Session, data: dict[str, Any]) -> None:
        guild = self.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        members = list(guild.members.values())
        not_found: list[str] = []
        if data.get("user_ids"):
            wanted = data["user_ids"] if isinstance(data["user_ids"], list) else [data["user_ids"]]
            ids = {int(u) for u in wanted}
            members = [m for m in members if m.user_id in ids]
            not_found = [str(u) for u in ids - {m.user_id for m in members}]
        elif data.get("query"):
            query = str(data["query"]).lower()
            members = [m for m in members if self.users[m.user_id]["username"].lower().startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [self._member_obj(guild, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": not_found,
        }
        if data.get("presences"):
            chunk["presences"] = []
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------ HTTP plumbing
    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        a = API_PREFIX
        r.add_get("/gateway", self._handle_gateway)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._h_cdn)
        r.add_get("/ephemeral-attachments/{app_id}/{attachment_id}/{filename}", self._h_cdn)
        r.add_post(a + "/attachments/refresh-urls", self._h_refresh_urls)
        r.add_get(a + "/gateway", self._h_gateway_info)
        r.add_get(a + "/gateway/bot", self._h_gateway_bot)
        r.add_get(a + "/users/@me", self._h_me)
        r.add_post(a + "/users/@me/channels", self._h_create_dm)
        r.add_delete(a + "/users/@me/guilds/{guild_id}", self._h_leave_guild)
        r.add_get(a + "/users/{user_id}", self._h_user)
        r.add_get(a + "/oauth2/applications/@me", self._h_application)
        r.add_get(a + "/applications/@me", self._h_application)
        r.add_get(a + "/applications/{app_id}/commands", self._h_get_commands)
        r.add_put(a + "/applications/{app_id}/commands", self._h_put_commands)
        r.add_get(a + "/applications/{app_id}/guilds/{guild_id}/commands", self._h_get_commands)
        r.add_put(a + "/applications/{app_id}/guilds/{guild_id}/commands", self._h_put_commands)
        r.add_get(a + "/guilds/{guild_id}", self._h_guild)
        r.add_get(a + "/guilds/{guild_id}/channels", self._h_guild_channels)
        r.add_get(a + "/guilds/{guild_id}/roles", self._h_guild_roles)
        r.add_get(a + "/guilds/{guild_id}/members/{user_id}", self._h_guild_member)
        r.add_get(a + "/channels/{channel_id}", self._h_channel)
        r.add_post(a + "/channels/{channel_id}/typing", self._h_typing)
        r.add_get(a + "/channels/{channel_id}/messages", self._h_history)
        r.add_post(a + "/channels/{channel_id}/messages", self._h_post_message)
        r.add_get(a + "/channels/{channel_id}/messages/{message_id}", self._h_get_message)
        r.add_patch(a + "/channels/{channel_id}/messages/{message_id}", self._h_edit_message)
        r.add_delete(a + "/channels/{channel_id}/messages/{message_id}", self._h_delete_message)
        r.add_post(a + "/interactions/{interaction_id}/{token}/callback", self._h_callback)
        r.add_post(a + "/webhooks/{app_id}/{token}", self._h_followup)
        r.add_get(a + "/webhooks/{app_id}/{token}/messages/{message_id}", self._h_webhook_message)
        r.add_patch(a + "/webhooks/{app_id}/{token}/messages/{message_id}", self._h_webhook_message)
        r.add_delete(a + "/webhooks/{app_id}/{token}/messages/{message_id}", self._h_webhook_message)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_response(fault: _Fault) -> web.Response:
        if fault.status == 429:
            retry_after = 1.0 if fault.retry_after is None else fault.retry_after
            body = {"message": fault.message, "retry_after": retry_after, "global": False}
            if fault.code:
                body["code"] = fault.code
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, int(retry_after + 0.999))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Scope": "user",
            }
            return _json(body, status=429, headers=headers)
        return _json({"message": fault.message, "code": fault.code}, status=fault.status)

    def _check_auth(self, request: web.Request, path: str) -> None:
        if path.startswith(("/interactions/", "/webhooks/")) or path == "/gateway":
            return
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bot ") or not self._token_ok(auth):
            raise _ApiError(401, 0, "401: Unauthorized")

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API_PREFIX + "/"):
            passthrough: web.StreamResponse = await handler(request)
            return passthrough
        api_path = path[len(API_PREFIX) :]
        self.requests.append((request.method, api_path))
        self._notify()
        try:
            fault = self._take_fault(request.method, api_path)
            if fault is not None and not fault.after:
                if fault.status in (401, 403, 429):
                    self.invalid_request_count += 1
                await request.read()
                return self._fault_response(fault)
            self._check_auth(request, api_path)
            response: web.StreamResponse = await handler(request)
            if fault is not None:
                return self._fault_response(fault)
            return response
        except _ApiError as exc:
            if exc.status in (401, 403, 429):
                self.invalid_request_count += 1
            with contextlib.suppress(Exception):
                await request.read()
            return exc.response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _json({"message": f"{exc.status}: {exc.reason}", "code": 0}, status=exc.status)
        except Exception as exc:
            # A bug in the fake, not Discord behaviour: answer 400 at once (a 500 would make discord.py
            # retry for ~25 s) and keep the error for the test to see.
            _log.exception("FakeDiscord failed on %s %s", request.method, api_path)
            self.internal_errors.append(exc)
            return _json({"message": f"FakeDiscord internal error: {exc!r}", "code": 0}, status=400)

    @staticmethod
    def _int(value: Any, error: _ApiError) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise error from None

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], dict[int, _Upload]]:
        """Parse a JSON or multipart (payload_json + files[N]) request body."""
        uploads: dict[int, _Upload] = {}
        if request.content_type.startswith("multipart/"):
            payload: dict[str, Any] = {}
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if name == "payload_json":
                    try:
                        payload = json.loads(await part.text())
                    except ValueError:
                        raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None
                    continue
                data = bytes(await part.read(decode=False))
                match = re.fullmatch(r"files\[(\d+)\]", name)
                if match is None and part.filename is None:
                    continue
                index = int(match.group(1)) if match else len(uploads)
                uploads[index] = _Upload(index, part.filename or f"file{index}", data)
            return payload, uploads
        raw = await request.read()
        if not raw:
            return {}, uploads
        try:
            body = json.loads(raw)
        except ValueError:
            raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None
        if not isinstance(body, dict):
            raise _ApiError(400, 50035, "Invalid Form Body", errors={"_errors": []})
        return body, uploads

    @staticmethod
    def _check_upload_limit(uploads: dict[int, _Upload], limit: int) -> None:
        if len(uploads) > 10:
            raise _too_long("files", 10)
        for upload in uploads.values():
            if len(upload.data) > limit:
                raise _ApiError(413, 40005, "Request entity too large")

    def _limit_for_channel(self, channel: FakeChannel) -> int:
        if channel.guild_id is not None and channel.guild_id in self.guilds:
            return self.guilds[channel.guild_id].filesize_limit
        return _TIER_FILESIZE[0]

    # ------------------------------------------------------------------ REST: misc
    async def _h_cdn(self, request: web.Request) -> web.StreamResponse:
        try:
            att_id = int(request.match_info["attachment_id"])
        except ValueError:
            return web.Response(status=404, text="Not Found")
        if not self._signature_valid(request.raw_path):
            return web.Response(status=404, text="This content is no longer available.")
        data = self.attachment_data.get(att_id)
        if data is None:
            return web.Response(status=404, text="This content is no longer available.")
        ctype = self._attachment_types.get(att_id, "application/octet-stream")
        return web.Response(body=data, headers={"Content-Type": ctype})

    async def _h_refresh_urls(self, request: web.Request) -> web.Response:
        """``POST /attachments/refresh-urls``: fresh signatures for this CDN's attachments that still exist.
        URLs that are not attachments of this CDN (or whose attachment is gone) are left out of the answer."""
        payload, _ = await self._read_body(request)
        urls = payload.get("attachment_urls")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise _form_error("attachment_urls", "BASE_TYPE_REQUIRED", "This field is required")
        if len(urls) > 50:
            raise _too_long("attachment_urls", 50)
        self.refreshed_urls.extend(urls)
        refreshed = []
        for url in urls:
            if not url.startswith(self.cdn_url + "/"):
                continue
            path = url[len(self.cdn_url):].partition("?")[0]
            match = re.fullmatch(r"/(?:ephemeral-)?attachments/\d+/(\d+)/[^/]+", path)
            if match is None or int(match.group(1)) not in self.attachment_data:
                continue
            refreshed.append({"original": url, "refreshed": self._signed(path)})
        return _json({"refreshed_urls": refreshed})

    async def _h_gateway_info(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _h_gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": max(self.recommended_shards, self.required_shards),
                "session_start_limit": {
                    "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": self.max_concurrency,
                },
            }
        )

    async def _h_me(self, request: web.Request) -> web.Response:
        return _json(self._bot_user())

    async def _h_user(self, request: web.Request) -> web.Response:
        unknown = _ApiError(404, 10013, "Unknown User")
        user_id = self._int(request.match_info["user_id"], unknown)
        if user_id not in self.users:
            raise unknown
        return _json(self._public_user(user_id))

    async def _h_application(self, request: web.Request) -> web.Response:
        return _json(self._application_obj())

    async def _h_create_dm(self, request: web.Request) -> web.Response:
        payload, _ = await self._read_body(request)
        invalid = _ApiError(400, 50033, "Invalid Recipient(s)")
        user_id = self._int(payload.get("recipient_id"), invalid)
        if user_id not in self.users or user_id == self.bot_user_id:
            raise invalid
        channel = self._dm_channel(user_id)
        return _json(self._channel_obj(channel))

    def _dm_channel(self, user_id: int) -> FakeChannel:
        channel_id = self._dm_channel_by_user.get(user_id)
        if channel_id is None:
            channel_id = self._snowflake()
            self._channels[channel_id] = FakeChannel(channel_id, 1, recipient_id=user_id)
            self._dm_channel_by_user[user_id] = channel_id
            self.messages[channel_id] = self.dm_messages.setdefault(user_id, [])
        return self._channels[channel_id]

    def _guild_or_404(self, raw: str) -> FakeGuild:
        unknown = _ApiError(404, 10004, "Unknown Guild")
        guild = self.guilds.get(self._int(raw, unknown))
        if guild is None:
            raise unknown
        return guild

    async def _h_leave_guild(self, request: web.Request) -> web.Response:
        """The bot leaves a guild (``guild.leave()``): 204, GUILD_DELETE to connected clients; 404 code 10004
        when it is not in it."""
        guild = self._guild_or_404(request.match_info["guild_id"])
        del self.guilds[guild.id]
        self.left_guilds.append(guild.id)
        self._dispatch_guild_event(guild.id, "GUILD_DELETE", {"id": str(guild.id)}, INTENT_GUILDS)
        self._notify()
        return web.Response(status=204)

    async def _h_guild(self, request: web.Request) -> web.Response:
        guild = self._guild_or_404(request.match_info["guild_id"])
        data = self._guild_payload(guild)
        data["approximate_member_count"] = len(guild.members)
        return _json(data)

    async def _h_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild_or_404(request.match_info["guild_id"])
        return _json([self._channel_obj(c) for c in guild.channels.values() if not c.deleted])

    async def _h_guild_roles(self, request: web.Request) -> web.Response:
        guild = self._guild_or_404(request.match_info["guild_id"])
        return _json([r.to_dict() for r in guild.roles.values()])

    async def _h_guild_member(self, request: web.Request) -> web.Response:
        guild = self._guild_or_404(request.match_info["guild_id"])
        unknown = _ApiError(404, 10007, "Unknown Member")
        member = guild.members.get(self._int(request.match_info["user_id"], unknown))
        if member is None:
            raise unknown
        return _json(self._member_obj(guild, member))

    # ------------------------------------------------------------------ REST: commands
    def _check_app(self, raw: str) -> None:
        if raw != str(self.application_id):
            raise _ApiError(403, 50001, "Missing Access")

    async def _h_get_commands(self, request: web.Request) -> web.Response:
        self._check_app(request.match_info["app_id"])
        if "guild_id" in request.match_info:
            guild = self._guild_or_404(request.match_info["guild_id"])
            return _json(self.guild_commands.get(guild.id, []))
        return _json(self.commands)

    async def _h_put_commands(self, request: web.Request) -> web.Response:
        self._check_app(request.match_info["app_id"])
        guild_id: int | None = None
        if "guild_id" in request.match_info:
            guild_id = self._guild_or_404(request.match_info["guild_id"]).id
        body = await request.read()
        try:
            commands = json.loads(body) if body else []
        except ValueError:
            raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None
        if not isinstance(commands, list):
            raise _form_error("_errors", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        self._validate_commands(commands)
        result = []
        for cmd in commands:
            ctype = int(cmd.get("type") or 1)
            key = (guild_id, ctype, cmd["name"])
            cmd_id = self._command_ids.get(key) or self._snowflake()
            self._command_ids[key] = cmd_id
            out: dict[str, Any] = {
                "id": str(cmd_id),
                "application_id": str(self.application_id),
                "version": str(self._snowflake()),
                "type": ctype,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description") or "",
                "description_localizations": cmd.get("description_localizations"),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "contexts": cmd.get("contexts"),
                # Absent, Discord fills in what the app allows in the Developer Portal.
                "integration_types": cmd.get("integration_types") or list(self.app_install_types),
                "nsfw": bool(cmd.get("nsfw", False)),
            }
            if cmd.get("options"):
                out["options"] = cmd["options"]
            if guild_id is not None:
                out["guild_id"] = str(guild_id)
            result.append(out)
        if guild_id is None:
            self.commands = result
        else:
            self.guild_commands[guild_id] = result
        self._notify()
        return _json(result)

    def _validate_commands(self, commands: list[Any]) -> None:
        seen: set[tuple[int, str]] = set()
        counts: dict[int, int] = {}
        for i, cmd in enumerate(commands):
            if not isinstance(cmd, dict) or not isinstance(cmd.get("name"), str):
                raise _form_error(f"{i}.name", "BASE_TYPE_REQUIRED", "This field is required")
            ctype = int(cmd.get("type") or 1)
            name = cmd["name"]
            counts[ctype] = counts.get(ctype, 0) + 1
            if (ctype, name) in seen:
                raise _form_error(
                    str(i), "APPLICATION_COMMANDS_DUPLICATE_NAME", f"Application command names must be unique ({name})"
                )
            seen.add((ctype, name))
            if ctype == 1:
                if not _COMMAND_NAME_RE.match(name) or name != name.lower():
                    raise _form_error(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
                desc = cmd.get("description") or ""
                if not 1 <= len(desc) <= 100:
                    raise _form_error(
                        f"{i}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                    )
                self._validate_options(cmd.get("options") or [], f"{i}.options")
            elif not 1 <= len(name) <= 32:
                raise _form_error(f"{i}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
            elif cmd.get("description") or cmd.get("options"):
                raise _form_error(f"{i}.description", "APPLICATION_COMMAND_CONTEXT_MENU_INVALID",
                                  "Context menu commands cannot have a description or options")
        if counts.get(1, 0) > 100:
            raise _form_error("_errors", "APPLICATION_COMMANDS_TOO_MANY", "Maximum number of commands reached")

    def _validate_options(self, options: list[dict[str, Any]], path: str) -> None:
        if len(options) > 25:
            raise _too_long(path, 25)
        seen_optional = False
        for j, opt in enumerate(options):
            name = opt.get("name", "")
            if not _COMMAND_NAME_RE.match(name) or name != name.lower():
                raise _form_error(f"{path}.{j}.name", "APPLICATION_COMMAND_INVALID_NAME", "Name is invalid")
            if not 1 <= len(opt.get("description") or "") <= 100:
                raise _form_error(
                    f"{path}.{j}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            if len(opt.get("choices") or []) > 25:
                raise _too_long(f"{path}.{j}.choices", 25)
            if opt.get("type") in (1, 2):
                self._validate_options(opt.get("options") or [], f"{path}.{j}.options")
                continue
            if opt.get("required"):
                if seen_optional:
                    raise _form_error(
                        f"{path}",
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                seen_optional = True

    # ------------------------------------------------------------------ REST: channels & messages
    def _channel_or_404(self, raw: str) -> FakeChannel:
        unknown = _ApiError(404, 10003, "Unknown Channel")
        channel = self._channels.get(self._int(raw, unknown))
        if channel is None or channel.deleted:
            raise unknown
        if channel.guild_id is not None and channel.guild_id not in self.guilds:
            raise _ApiError(403, 50001, "Missing Access")  # a channel of a guild the bot left
        return channel

    def _message_in(self, channel: FakeChannel, raw: str) -> dict[str, Any]:
        unknown = _ApiError(404, 10008, "Unknown Message")
        msg = self._msg_index.get(self._int(raw, unknown))
        if msg is None or msg["channel_id"] != str(channel.id):
            raise unknown
        return msg

    async def _h_channel(self, request: web.Request) -> web.Response:
        return _json(self._channel_obj(self._channel_or_404(request.match_info["channel_id"])))

    async def _h_typing(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        if channel.forbidden:
            raise _ApiError(403, 50013, "Missing Permissions")
        return web.Response(status=204)

    async def _h_history(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        msgs = [m for m in self.messages.get(channel.id, []) if not m["flags"] & FLAG_EPHEMERAL]
        bad = _form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.")
        before = request.query.get("before")
        after = request.query.get("after")
        if before:
            msgs = [m for m in msgs if int(m["id"]) < self._int(before, bad)]
        if after:
            msgs = [m for m in msgs if int(m["id"]) > self._int(after, bad)]
        limit = max(1, min(100, self._int(request.query.get("limit", "50"), bad)))
        if after and not before:
            return _json(list(reversed(msgs[:limit])))
        return _json(list(reversed(msgs))[:limit])

    async def _h_post_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        payload, uploads = await self._read_body(request)
        if channel.forbidden:
            raise _ApiError(403, 50013, "Missing Permissions")
        self._check_bot_may_post(channel, uploads)
        if channel.type == 1 and channel.recipient_id in self._dms_closed:
            raise _ApiError(403, 50007, "Cannot send messages to this user")
        self._check_upload_limit(uploads, self._limit_for_channel(channel))
        nonce = payload.get("nonce")
        key: tuple[int, str] | None = None
        if nonce is not None:
            if len(str(nonce)) > 25:
                raise _too_long("nonce", 25)
            if payload.get("enforce_nonce"):
                key = (channel.id, str(nonce))
                previous = self._nonces.get(key)
                now = time.monotonic()
                if previous is not None and now - previous[0] < _NONCE_WINDOW:
                    existing = self._msg_index.get(previous[1])
                    if existing is not None:
                        return _json(existing)
        msg = self._create_message(channel, payload, uploads)
        if key is not None:
            self._nonces[key] = (time.monotonic(), int(msg["id"]))
        return _json(msg)

    def _check_bot_may_post(self, channel: FakeChannel, uploads: dict[int, _Upload]) -> None:
        """Discord's checks of the bot's own permissions for a channel message (guild channels only)."""
        guild = self.guilds.get(channel.guild_id or 0)
        if guild is None:
            return
        perms = guild.bot_channel_permissions(channel)
        send = SEND_MESSAGES_IN_THREADS if channel.type == 11 else SEND_MESSAGES
        if not perms & VIEW_CHANNEL:
            raise _ApiError(403, 50001, "Missing Access")
        if not perms & send or (uploads and not perms & ATTACH_FILES):
            raise _ApiError(403, 50013, "Missing Permissions")

    async def _h_get_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        return _json(self._message_in(channel, request.match_info["message_id"]))

    async def _h_edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        payload, uploads = await self._read_body(request)
        if channel.forbidden:
            raise _ApiError(403, 50013, "Missing Permissions")
        msg = self._message_in(channel, request.match_info["message_id"])
        if msg["author"]["id"] != str(self.bot_user_id):
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._check_upload_limit(uploads, self._limit_for_channel(channel))
        self._edit_message(msg, payload, uploads)
        return _json(msg)

    async def _h_delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        msg = self._message_in(channel, request.match_info["message_id"])
        if msg["author"]["id"] != str(self.bot_user_id):
            guild = self.guilds.get(channel.guild_id or 0)
            if guild is None or not guild.bot_channel_permissions(channel) & MANAGE_MESSAGES:
                raise _ApiError(403, 50013, "Missing Permissions")
        self._delete_message(msg)
        return web.Response(status=204)

    # ------------------------------------------------------------------ message model
    def _validate_message(self, payload: dict[str, Any], *, allow_ephemeral: bool) -> None:
        content = payload.get("content")
        if content is not None:
            if not isinstance(content, str):
                raise _form_error("content", "BASE_TYPE_STRING", "Must be a string.")
            if len(content) > 2000:
                raise _too_long("content", 2000)
        flags = int(payload.get("flags") or 0)
        if flags & FLAG_EPHEMERAL and not allow_ephemeral:
            raise _form_error("flags", "MESSAGE_FLAGS_INVALID", "Invalid message flags")
        embeds = payload.get("embeds") or []
        if flags & FLAG_IS_COMPONENTS_V2 and (content or embeds):
            raise _form_error(
                "content" if content else "embeds",
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used when using the IS_COMPONENTS_V2 flag",
            )
        self._validate_embeds(embeds)
        self._validate_components(payload.get("components") or [], v2=bool(flags & FLAG_IS_COMPONENTS_V2))

    @staticmethod
    def _validate_embeds(embeds: list[dict[str, Any]]) -> None:
        if len(embeds) > 10:
            raise _too_long("embeds", 10)
        total = 0
        for i, embed in enumerate(embeds):
            for key, limit in (("title", 256), ("description", 4096)):
                value = embed.get(key) or ""
                if len(value) > limit:
                    raise _too_long(f"embeds.{i}.{key}", limit)
                total += len(value)
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _too_long(f"embeds.{i}.fields", 25)
            for j, fld in enumerate(fields):
                name, value = fld.get("name") or "", fld.get("value") or ""
                if not name or not value:
                    key = "name" if not name else "value"
                    raise _form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
                if len(name) > 256:
                    raise _too_long(f"embeds.{i}.fields.{j}.name", 256)
                if len(value) > 1024:
                    raise _too_long(f"embeds.{i}.fields.{j}.value", 1024)
                total += len(name) + len(value)
            footer = (embed.get("footer") or {}).get("text") or ""
            if len(footer) > 2048:
                raise _too_long(f"embeds.{i}.footer.text", 2048)
            author = (embed.get("author") or {}).get("name") or ""
            if len(author) > 256:
                raise _too_long(f"embeds.{i}.author.name", 256)
            total += len(footer) + len(author)
        if total > 6000:
            raise _form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")

    @staticmethod
    def _walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for comp in components:
            out.append(comp)
            out.extend(FakeDiscord._walk_components(comp.get("components") or []))
            if isinstance(comp.get("component"), dict):
                out.extend(FakeDiscord._walk_components([comp["component"]]))
            if isinstance(comp.get("accessory"), dict):
                out.append(comp["accessory"])
        return out

    def _validate_components(self, components: list[dict[str, Any]], *, v2: bool) -> None:
        if not v2:
            if len(components) > 5:
                raise _too_long("components", 5)
            for i, row in enumerate(components):
                if row.get("type") != 1:
                    raise _form_error(f"components.{i}.type", "UNION_TYPE_CHOICES", 'Value of field "type" must be 1.')
                if len(row.get("components") or []) > 5:
                    raise _too_long(f"components.{i}.components", 5)
        seen: set[str] = set()
        for comp in self._walk_components(components):
            custom_id = comp.get("custom_id")
            if custom_id is None:
                continue
            if len(custom_id) > 100:
                raise _too_long("components.custom_id", 100)
            if custom_id in seen:
                raise _form_error(
                    "components", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
                )
            seen.add(custom_id)
            if comp.get("type") == 2 and len(comp.get("label") or "") > 80:
                raise _too_long("components.label", 80)

    def _build_attachments(
        self,
        channel_id: int,
        payload: dict[str, Any],
        uploads: dict[int, _Upload],
        existing: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[tuple[int, bytes, str]]]:
        blobs: list[tuple[int, bytes, str]] = []

        def new(upload: _Upload, meta: dict[str, Any]) -> dict[str, Any]:
            att_id = self._snowflake()
            filename = meta.get("filename") or upload.filename
            ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            url = self._signed(f"/attachments/{channel_id}/{att_id}/{urllib.parse.quote(filename)}")
            att: dict[str, Any] = {
                "id": str(att_id),
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "content_type": ctype,
            }
            if meta.get("description"):
                att["description"] = meta["description"]
            if meta.get("title"):
                att["title"] = meta["title"]
            blobs.append((att_id, upload.data, ctype))
            return att

        by_id = {a["id"]: a for a in existing}
        listed = payload.get("attachments")
        if listed is None:
            return existing + [new(u, {}) for _, u in sorted(uploads.items())], blobs
        out: list[dict[str, Any]] = []
        used: set[int] = set()
        for i, meta in enumerate(listed):
            raw_id = str(meta.get("id"))
            if raw_id in by_id:
                out.append(by_id[raw_id])
                continue
            try:
                index = int(raw_id)
            except ValueError:
                index = -1
            if index not in uploads:
                raise _form_error(f"attachments.{i}.id", "ATTACHMENT_NOT_FOUND", "Unknown attachment")
            used.add(index)
            out.append(new(uploads[index], meta))
        out.extend(new(u, {}) for i, u in sorted(uploads.items()) if i not in used)
        return out, blobs

    def _resolve_embed_attachments(self, embeds: list[dict[str, Any]], attachments: list[dict[str, Any]]) -> None:
        by_name = {a["filename"]: a for a in attachments}
        for embed in embeds:
            embed.setdefault("type", "rich")
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                    att = by_name.get(media["url"][len("attachment://") :])
                    if att is not None:
                        media["url"] = att["url"]
                        media["proxy_url"] = att["proxy_url"]

    def _mentions(self, content: str) -> list[dict[str, Any]]:
        ids = {int(m) for m in re.findall(r"<@!?(\d+)>", content)}
        return [self._public_user(i) for i in sorted(ids) if i in self.users]

    def _create_message(
        self,
        channel: FakeChannel,
        payload: dict[str, Any],
        uploads: dict[int, _Upload],
        *,
        interaction: FakeInteraction | None = None,
        followup: bool = False,
        loading: bool = False,
    ) -> dict[str, Any]:
        if not loading:
            self._validate_message(payload, allow_ephemeral=interaction is not None)
        attachments, blobs = self._build_attachments(channel.id, payload, uploads, [])
        content = payload.get("content") or ""
        embeds = copy.deepcopy(payload.get("embeds") or [])
        components = copy.deepcopy(payload.get("components") or [])
        if not loading and not (
            content.strip() or embeds or attachments or components or payload.get("sticker_ids") or payload.get("poll")
        ):
            raise _ApiError(400, 50006, "Cannot send an empty message")
        reference = None
        referenced = None
        if payload.get("message_reference"):
            ref = payload["message_reference"]
            ref_channel = int(ref.get("channel_id") or channel.id)
            target = self._msg_index.get(int(ref.get("message_id") or 0))
            if target is None or target["channel_id"] != str(ref_channel):
                if ref.get("fail_if_not_exists", True):
                    raise _form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            else:
                reference = {
                    "type": int(ref.get("type") or 0),
                    "message_id": target["id"],
                    "channel_id": target["channel_id"],
                }
                if channel.guild_id is not None:
                    reference["guild_id"] = str(channel.guild_id)
                referenced = {k: v for k, v in target.items() if k != "referenced_message"}
        allowed_flags = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2
        if interaction is not None:
            allowed_flags |= FLAG_EPHEMERAL
        flags = int(payload.get("flags") or 0) & allowed_flags
        if loading:
            flags |= FLAG_LOADING
        self._resolve_embed_attachments(embeds, attachments)
        msg_id = self._snowflake()
        msg_type = 19 if reference is not None else 0
        msg: dict[str, Any] = {
            "id": str(msg_id),
            "type": msg_type,
            "content": content,
            "channel_id": str(channel.id),
            "author": self._public_user(self.bot_user_id),
            "attachments": attachments,
            "embeds": embeds,
            "mentions": self._mentions(content),
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts")),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": flags,
            "components": components,
        }
        if reference is not None:
            msg["message_reference"] = reference
            msg["referenced_message"] = referenced
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        if payload.get("poll"):
            msg["poll"] = copy.deepcopy(payload["poll"])
        if interaction is not None:
            msg["webhook_id"] = str(self.application_id)
            msg["application_id"] = str(self.application_id)
            user = self._public_user(interaction.user_id)
            metadata: dict[str, Any] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": user,
                "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
            }
            if interaction.type == 2:
                name = interaction.payload["data"]["name"]
                metadata["name"] = name
                msg["interaction"] = {"id": str(interaction.id), "type": 2, "name": name, "user": user}
                if not followup:
                    msg["type"] = 20
            if followup and interaction.original_message_id is not None:
                metadata["original_response_message_id"] = str(interaction.original_message_id)
            if interaction.type == 3 and interaction.payload.get("message"):
                metadata["interacted_message_id"] = interaction.payload["message"]["id"]
            msg["interaction_metadata"] = metadata
        for att_id, data, ctype in blobs:
            self.attachment_data[att_id] = data
            self._attachment_types[att_id] = ctype
        self.messages.setdefault(channel.id, []).append(msg)
        self._msg_index[msg_id] = msg
        self.message_payloads[msg_id] = copy.deepcopy(payload)
        if not flags & FLAG_EPHEMERAL:
            self._dispatch_message_event("MESSAGE_CREATE", channel, msg)
        self._notify()
        return msg

    def _edit_message(
        self,
        msg: dict[str, Any],
        payload: dict[str, Any],
        uploads: dict[int, _Upload],
        *,
        completing: bool = False,
    ) -> None:
        check = dict(payload)
        check["flags"] = int(payload.get("flags") or 0) | (msg["flags"] & FLAG_IS_COMPONENTS_V2)
        self._validate_message(check, allow_ephemeral=True)
        channel_id = int(msg["channel_id"])
        attachments, blobs = self._build_attachments(channel_id, payload, uploads, msg["attachments"])
        new = dict(msg)
        if "content" in payload:
            new["content"] = payload["content"] or ""
            new["mentions"] = self._mentions(new["content"])
        if "embeds" in payload:
            new["embeds"] = copy.deepcopy(payload["embeds"] or [])
        if "components" in payload:
            new["components"] = copy.deepcopy(payload["components"] or [])
        if "flags" in payload and payload["flags"] is not None:
            keep = new["flags"] & ~FLAG_SUPPRESS_EMBEDS
            new["flags"] = keep | (int(payload["flags"]) & FLAG_SUPPRESS_EMBEDS)
        if "poll" in payload:
            new["poll"] = copy.deepcopy(payload["poll"])
        new["attachments"] = attachments
        if not (new["content"].strip() or new["embeds"] or new["attachments"] or new["components"] or new.get("poll")):
            raise _ApiError(400, 50006, "Cannot send an empty message")
        self._resolve_embed_attachments(new["embeds"], new["attachments"])
        was_loading = bool(new["flags"] & FLAG_LOADING)
        new["flags"] &= ~FLAG_LOADING
        if not (was_loading or completing):
            new["edited_timestamp"] = _now_iso()
        for att_id, data, ctype in blobs:
            self.attachment_data[att_id] = data
            self._attachment_types[att_id] = ctype
        msg.clear()
        msg.update(new)
        self.message_payloads.setdefault(int(msg["id"]), {}).update(copy.deepcopy(payload))
        channel = self._channels.get(channel_id)
        if channel is not None and not msg["flags"] & FLAG_EPHEMERAL:
            self._dispatch_message_event("MESSAGE_UPDATE", channel, msg)
        self._notify()

    def _delete_message(self, msg: dict[str, Any]) -> None:
        msg_id = int(msg["id"])
        channel_id = int(msg["channel_id"])
        self._msg_index.pop(msg_id, None)
        lst = self.messages.get(channel_id, [])
        for i, m in enumerate(lst):
            if m is msg:
                del lst[i]
                break
        self.deleted_messages.append(msg)
        channel = self._channels.get(channel_id)
        if channel is not None and not msg["flags"] & FLAG_EPHEMERAL:
            data: dict[str, Any] = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if channel.guild_id is not None:
                data["guild_id"] = str(channel.guild_id)
            self._dispatch_message_event("MESSAGE_DELETE", channel, data, raw=True)
        self._notify()

    def _dispatch_message_event(
        self, event: str, channel: FakeChannel, msg: dict[str, Any], *, raw: bool = False
    ) -> None:
        sessions = self._live_sessions()
        if not sessions:
            return
        if raw:
            data = msg
        else:
            data = copy.deepcopy(msg)
            if channel.guild_id is not None:
                guild = self.guilds.get(channel.guild_id)
                data["guild_id"] = str(channel.guild_id)
                if guild is not None and self.bot_user_id in guild.members:
                    data["member"] = self._member_obj(guild, guild.members[self.bot_user_id], with_user=False)
        intent = INTENT_DIRECT_MESSAGES if channel.guild_id is None else INTENT_GUILD_MESSAGES
        for session in sessions:
            if session.intents & intent and self._session_has_guild(session, channel.guild_id):
                self._dispatch_to(session, event, data)

    # ------------------------------------------------------------------ interactions: sending
    def _find_command(self, name: str, guild_id: int | None, ctype: int) -> dict[str, Any] | None:
        if guild_id is not None:
            for cmd in self.guild_commands.get(guild_id, []):
                if cmd["name"] == name and cmd["type"] == ctype:
                    return cmd
        for cmd in self.commands:
            if cmd["name"] == name and cmd["type"] == ctype:
                return cmd
        return None

    def _check_invocation(
        self, cmd: dict[str, Any], guild_id: int | None, user_id: int, *, user_install: bool = False
    ) -> None:
        installs = cmd.get("integration_types") or list(self.app_install_types)
        install = 1 if user_install else 0
        if install not in installs:
            how = "the member's own (user) install" if user_install else "a server install"
            raise PermissionError(f"/{cmd['name']} cannot be used through {how} (integration_types {installs})")
        contexts = cmd.get("contexts")
        if guild_id is None:
            if contexts is not None and 1 not in contexts:
                raise PermissionError(f"/{cmd['name']} cannot be used in DMs")
            if contexts is None and cmd.get("dm_permission") is False:
                raise PermissionError(f"/{cmd['name']} cannot be used in DMs")
            return
        if contexts is not None and 0 not in contexts:
            raise PermissionError(f"/{cmd['name']} cannot be used in guilds")
        override = self._command_override(cmd["name"], guild_id, user_id)
        if override is not None:
            if not override:
                raise PermissionError(f"user {user_id} is denied /{cmd['name']} by the server's command permissions")
            return
        required = cmd.get("default_member_permissions")
        if required is not None:
            have = self.guilds[guild_id].member_permissions(user_id)
            if int(required) & ~have:
                raise PermissionError(f"user {user_id} lacks default_member_permissions {required} for /{cmd['name']}")

    def _command_override(self, name: str, guild_id: int, user_id: int) -> bool | None:
        """The server's override for this member (a user override, else any of their roles, else @everyone),
        or None when none applies. Members with Administrator always can."""
        overrides = self.command_permissions.get((guild_id, name))
        if not overrides:
            return None
        guild = self.guilds[guild_id]
        if guild.member_permissions(user_id) & ADMINISTRATOR:
            return True
        for entry in overrides:
            if entry["type"] == 2 and int(entry["id"]) == user_id:
                return bool(entry["permission"])
        member = guild.members.get(user_id)
        roles = [entry for entry in overrides if entry["type"] == 1 and member is not None
                 and int(entry["id"]) in member.roles]
        if roles:
            return any(entry["permission"] for entry in roles)
        everyone = [entry for entry in overrides if entry["type"] == 1 and int(entry["id"]) == guild_id]
        return bool(everyone[0]["permission"]) if everyone else None

    def _check_options(self, schema: list[dict[str, Any]], given: list[dict[str, Any]], path: str) -> None:
        by_name = {o["name"]: o for o in schema}
        names = set()
        for opt in given:
            spec = by_name.get(opt.get("name", ""))
            if spec is None:
                raise ValueError(f"{path}: option {opt.get('name')!r} is not part of the synced command")
            if spec.get("type") != opt.get("type"):
                raise ValueError(f"{path}: option {opt['name']!r} has type {spec.get('type')}, not {opt.get('type')}")
            names.add(opt["name"])
            if opt["type"] in (1, 2):
                self._check_options(spec.get("options") or [], opt.get("options") or [], f"{path} {opt['name']}")
                continue
            choices = spec.get("choices")
            if choices and not opt.get("focused") and opt.get("value") not in [c["value"] for c in choices]:
                raise ValueError(f"{path}: {opt.get('value')!r} is not a choice of option {opt['name']!r}")
        subs = [o for o in schema if o.get("type") in (1, 2)]
        if subs and not any(o.get("type") in (1, 2) for o in given):
            raise ValueError(f"{path}: a subcommand is required")
        for spec in schema:
            if spec.get("required") and spec["name"] not in names and not any(o.get("focused") for o in given):
                raise ValueError(f"{path}: required option {spec['name']!r} missing")

    def _resolve(
        self,
        options: list[dict[str, Any]],
        guild: FakeGuild | None,
        attachments: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        resolved: dict[str, dict[str, Any]] = {}
        if attachments:
            resolved["attachments"] = {str(a["id"]): dict(a) for a in attachments}

        def walk(opts: list[dict[str, Any]]) -> None:
            for opt in opts:
                kind = opt.get("type")
                if kind in (1, 2):
                    walk(opt.get("options") or [])
                    continue
                if opt.get("focused"):
                    continue
                value = opt.get("value")
                if kind in (6, 9) and value is not None and int(value) in self.users:
                    uid = int(value)
                    resolved.setdefault("users", {})[str(uid)] = self._public_user(uid)
                    if guild is not None and uid in guild.members:
                        member = self._member_obj(guild, guild.members[uid], with_user=False)
                        member["permissions"] = str(guild.member_permissions(uid))
                        resolved.setdefault("members", {})[str(uid)] = member
                if kind in (8, 9) and guild is not None and value is not None and int(value) in guild.roles:
                    resolved.setdefault("roles", {})[str(value)] = guild.roles[int(value)].to_dict()
                if kind == 7 and value is not None and int(value) in self._channels:
                    ch = self._channels[int(value)]
                    data = self._channel_obj(ch)
                    if guild is not None:
                        data["permissions"] = str(guild.member_permissions(self.bot_user_id))
                    resolved.setdefault("channels", {})[str(value)] = data
                if kind == 11 and value is not None and str(value) not in resolved.get("attachments", {}):
                    raise ValueError(f"attachment {value} of option {opt.get('name')!r} was not passed")

        walk(options)
        return resolved

    def _interaction_context(
        self, guild_id: int | None, channel_id: int, user_id: int
    ) -> tuple[FakeGuild | None, FakeChannel]:
        if guild_id is None:
            if user_id not in self.users:
                raise ValueError(f"unknown user {user_id}")
            return None, self._dm_channel(user_id)
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"unknown guild {guild_id}")
        channel = guild.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise ValueError(f"channel {channel_id} is not a channel of guild {guild_id}")
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id} (add_member first)")
        return guild, channel

    def _send_interaction(
        self,
        itype: int,
        guild: FakeGuild | None,
        channel: FakeChannel,
        user_id: int,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        user_install: bool = False,
    ) -> FakeInteraction:
        if not self._sessions:
            raise RuntimeError("no gateway client has identified; the interaction could not be delivered")
        # The latest session of the guild's shard (shard 0 for DMs); with none, Discord delivers it nowhere.
        receivers = self._sessions_for(guild.id if guild is not None else None)
        session = receivers[-1] if receivers else None
        interaction_id = self._snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        limit = guild.filesize_limit if guild is not None else _TIER_FILESIZE[0]
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "locale": self.user_locales.get(user_id, "en-US"),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": limit,
        }
        channel_data = self._channel_obj(channel)
        if guild is not None:
            member_obj = self._member_obj(guild, guild.members[user_id])
            member_obj["permissions"] = str(guild.member_permissions(user_id))
            channel_data["permissions"] = str(guild.member_permissions(user_id))
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                    "guild_locale": guild.preferred_locale,
                    "member": member_obj,
                    "app_permissions": str(guild.bot_channel_permissions(channel)),
                    "authorizing_integration_owners": (
                        {"1": str(user_id)} if user_install else {"0": str(guild.id)}
                    ),
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": self._public_user(user_id),
                    "app_permissions": str(
                        VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
                    ),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        payload["channel"] = channel_data
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        interaction = FakeInteraction(
            self,
            interaction_id=interaction_id,
            token=token,
            type=itype,
            guild_id=guild.id if guild is not None else None,
            channel_id=channel.id,
            user_id=user_id,
            payload=payload,
            attachment_size_limit=limit,
        )
        self.interactions.append(interaction)
        self._interactions_by_id[interaction_id] = interaction
        self._interactions_by_token[token] = interaction
        interaction.dispatched_at = time.monotonic()
        if session is None:
            self._note_undelivered("INTERACTION_CREATE", interaction.guild_id)
        else:
            interaction.shard = session.shard
            # The bot's latency counts from when the frame is on its socket: building many interactions at once
            # (a burst) holds the writer back, which is the fake's time, not the bot's.
            self._dispatch_to(session, "INTERACTION_CREATE", payload,
                              on_written=lambda: setattr(interaction, "dispatched_at", time.monotonic()))
        self._notify()
        return interaction

    async def send_slash_command(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        user_install: bool = False,
    ) -> FakeInteraction:
        """Dispatch a slash command (type 2) as ``user_id`` typed it in ``channel_id``.

        ``user_install=True``: the member runs it through their own install of the app (integration type 1,
        ``authorizing_integration_owners {"1": user}``), refused unless the command's ``integration_types``
        include 1.

        ``options`` in wire form; attachments (from ``add_attachment``) go into
        ``data.resolved.attachments``; user/role/channel options are resolved automatically. If the bot
        synced a command of that name, its id is used, the options are checked against its schema
        (``ValueError``) and ``default_member_permissions``/``contexts`` are enforced like Discord's
        client does (``PermissionError``: the user could not have run it). ``guild_id=None`` is a DM.
        """
        guild, channel = self._interaction_context(guild_id, channel_id, user_id)
        options = copy.deepcopy(options or [])
        cmd = self._find_command(name, guild_id, 1)
        data: dict[str, Any] = {"id": str(cmd["id"] if cmd else self._snowflake()), "name": name, "type": 1}
        if cmd is not None:
            self._check_invocation(cmd, guild_id, user_id, user_install=user_install)
            self._check_options(cmd.get("options") or [], options, f"/{name}")
            if cmd.get("guild_id"):
                data["guild_id"] = cmd["guild_id"]
        if options:
            data["options"] = options
        resolved = self._resolve(options, guild, attachments)
        if resolved:
            data["resolved"] = resolved
        interaction = self._send_interaction(2, guild, channel, user_id, data, user_install=user_install)
        await asyncio.sleep(0)
        return interaction

    async def send_autocomplete(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: list[dict[str, Any]],
    ) -> FakeInteraction:
        """Dispatch an autocomplete interaction (type 4); mark the typed option with ``"focused": True``.
        The bot answers with type 8 (``response["data"]["choices"]``)."""
        guild, channel = self._interaction_context(guild_id, channel_id, user_id)
        cmd = self._find_command(name, guild_id, 1)
        data: dict[str, Any] = {
            "id": str(cmd["id"] if cmd else self._snowflake()),
            "name": name,
            "type": 1,
            "options": copy.deepcopy(options),
        }
        if cmd is not None and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        interaction = self._send_interaction(4, guild, channel, user_id, data)
        await asyncio.sleep(0)
        return interaction

    async def send_message_command(
        self, *, guild_id: int | None, channel_id: int, user_id: int, name: str, target_message: dict[str, Any]
    ) -> FakeInteraction:
        """Run the message context-menu command ``name`` (type 3, "Apps" in a message's menu) on
        ``target_message``: INTERACTION_CREATE type 2 with ``data{type 3, name, target_id,
        resolved.messages}``. ``ValueError`` when the bot synced no message command of that name (the menu
        would not show it); ``PermissionError`` as for slash commands."""
        guild, channel = self._interaction_context(guild_id, channel_id, user_id)
        cmd = self._find_command(name, guild_id, 3)
        if cmd is None:
            raise ValueError(f"no message command {name!r} was synced")
        self._check_invocation(cmd, guild_id, user_id)
        target = copy.deepcopy(target_message)
        data: dict[str, Any] = {
            "id": str(cmd["id"]),
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        interaction = self._send_interaction(2, guild, channel, user_id, data)
        await asyncio.sleep(0)
        return interaction

    def _component_message(self, message: dict[str, Any] | int) -> tuple[dict[str, Any], FakeChannel]:
        msg_id = int(message if isinstance(message, int) else message["id"])
        msg = self._msg_index.get(msg_id)
        if msg is None:
            raise ValueError(f"message {msg_id} does not exist (deleted?)")
        channel = self._channels[int(msg["channel_id"])]
        if channel.deleted:
            raise ValueError(f"channel {channel.id} was deleted")
        return msg, channel

    async def click_button(self, *, message: dict[str, Any] | int, custom_id: str, user_id: int) -> FakeInteraction:
        """Click the button ``custom_id`` of a stored message (type 3 interaction with the current
        message). ``ValueError`` if the message has no such enabled button."""
        msg, channel = self._component_message(message)
        button = next(
            (
                c
                for c in self._walk_components(msg.get("components") or [])
                if c.get("type") == 2 and c.get("custom_id") == custom_id
            ),
            None,
        )
        if button is None:
            raise ValueError(f"message {msg['id']} has no button with custom_id {custom_id!r}")
        if button.get("disabled"):
            raise ValueError(f"button {custom_id!r} is disabled and cannot be clicked")
        guild, channel = (
            self._interaction_context(channel.guild_id, channel.id, user_id)
            if (channel.guild_id is not None)
            else (None, channel)
        )
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2}
        if "id" in button:
            data["id"] = button["id"]
        interaction = self._send_interaction(3, guild, channel, user_id, data, message=msg)
        await asyncio.sleep(0)
        return interaction

    async def select_options(
        self, *, message: dict[str, Any] | int, custom_id: str, user_id: int, values: list[str]
    ) -> FakeInteraction:
        """Choose ``values`` in the string select ``custom_id`` of a stored message (type 3, component 3)."""
        msg, channel = self._component_message(message)
        select = next(
            (c for c in self._walk_components(msg.get("components") or []) if c.get("custom_id") == custom_id),
            None,
        )
        if select is None or select.get("type") != 3:
            raise ValueError(f"message {msg['id']} has no string select {custom_id!r}")
        allowed = {o["value"] for o in select.get("options") or []}
        if not set(values) <= allowed:
            raise ValueError(f"{values} are not options of {custom_id!r}")
        if not select.get("min_values", 1) <= len(values) <= select.get("max_values", 1):
            raise ValueError(f"wrong number of values for {custom_id!r}")
        guild, channel = (
            self._interaction_context(channel.guild_id, channel.id, user_id)
            if (channel.guild_id is not None)
            else (None, channel)
        )
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        interaction = self._send_interaction(3, guild, channel, user_id, data, message=msg)
        await asyncio.sleep(0)
        return interaction

    async def submit_modal(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        custom_id: str,
        fields: dict[str, str],
    ) -> FakeInteraction:
        """Submit the modal ``custom_id`` that the bot showed to ``user_id`` (type 5 interaction).

        The submitted components mirror the modal's layout (action rows or labels); ``fields`` maps
        text inputs' custom_ids to values. ``ValueError`` if no such modal was shown to that user, a
        field is unknown, or a required/min/max length constraint is violated (Discord's client
        would not let the user submit)."""
        source = next(
            (
                i
                for i in reversed(self.interactions)
                if i.user_id == user_id and i.modal is not None and i.modal.get("custom_id") == custom_id
            ),
            None,
        )
        if source is None:
            raise ValueError(f"no modal {custom_id!r} was shown to user {user_id}")
        assert source.modal is not None
        guild, channel = self._interaction_context(guild_id, channel_id, user_id)
        known: set[str] = set()

        def submitted(comp: dict[str, Any]) -> dict[str, Any] | None:
            kind = comp.get("type")
            if kind == 1:
                inner = [s for s in (submitted(c) for c in comp.get("components") or []) if s is not None]
                return {"type": 1, "components": inner}
            if kind == 18 and isinstance(comp.get("component"), dict):
                inner_comp = submitted(comp["component"])
                out: dict[str, Any] = {"type": 18, "component": inner_comp}
                if "id" in comp:
                    out["id"] = comp["id"]
                return out
            if kind == 4:
                cid = comp["custom_id"]
                known.add(cid)
                value = fields.get(cid, comp.get("value") or "")
                if comp.get("required", True) and not value:
                    raise ValueError(f"text input {cid!r} is required")
                if value and not comp.get("min_length", 0) <= len(value) <= comp.get("max_length", 4000):
                    raise ValueError(f"text input {cid!r} length out of range")
                text = {"type": 4, "custom_id": cid, "value": value}
                if "id" in comp:
                    text["id"] = comp["id"]
                return text
            if kind == 3 and comp.get("custom_id"):
                cid = comp["custom_id"]
                known.add(cid)
                options = comp.get("options") or []
                # Not chosen: what the select shows pre-selected (its default options), as a client submits it.
                chosen: Any = fields.get(cid, [o["value"] for o in options if o.get("default")])
                values = [chosen] if isinstance(chosen, str) else list(chosen)
                if options and not set(values) <= {o["value"] for o in options}:
                    raise ValueError(f"{values} are not options of {cid!r}")
                if comp.get("required", True) and not values:
                    raise ValueError(f"select {cid!r} is required")
                if values and not comp.get("min_values", 1) <= len(values) <= comp.get("max_values", 1):
                    raise ValueError(f"wrong number of values for {cid!r}")
                return {"type": 3, "custom_id": cid, "values": values}
            return None

        components = [s for s in (submitted(c) for c in source.modal.get("components") or []) if s is not None]
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"modal {custom_id!r} has no fields {sorted(unknown)}")
        data = {"custom_id": custom_id, "components": components}
        message = source.payload.get("message") if source.type == 3 else None
        interaction = self._send_interaction(5, guild, channel, user_id, data, message=message)
        await asyncio.sleep(0)
        return interaction

    # ------------------------------------------------------------------ interactions: REST
    async def _h_callback(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        unknown = _ApiError(404, 10062, "Unknown interaction")
        interaction = self._interactions_by_id.get(self._int(request.match_info["interaction_id"], unknown))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise unknown
        try:
            payload, uploads = await self._read_body(request)
            return self._callback(interaction, payload, uploads, arrived, request)
        except _ApiError as exc:
            interaction.errors.append({"route": "callback", "status": exc.status, **exc.body()})
            self._notify()
            raise

    _ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}

    def _callback(
        self,
        interaction: FakeInteraction,
        payload: dict[str, Any],
        uploads: dict[int, _Upload],
        arrived: float,
        request: web.Request,
    ) -> web.Response:
        if interaction.response is not None:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        if arrived - interaction.created_at > self.interaction_deadline:
            raise _ApiError(404, 10062, "Unknown interaction")
        rtype = payload.get("type")
        allowed = set(self._ALLOWED_CALLBACKS.get(interaction.type, set()))
        if interaction.type == 5 and "message" not in interaction.payload:
            allowed -= {6, 7}
        if rtype not in allowed:
            raise _form_error("type", "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid interaction callback type")
        data = payload.get("data") or {}
        self._check_upload_limit(uploads, interaction.attachment_size_limit)
        channel = self._channels[interaction.channel_id]
        message: dict[str, Any] | None = None
        if rtype == 4:
            message = self._create_message(channel, data, uploads, interaction=interaction)
            interaction.original_message_id = int(message["id"])
        elif rtype == 5:
            flags = int(data.get("flags") or 0) & FLAG_EPHEMERAL
            message = self._create_message(
                channel, {"content": "", "flags": flags}, {}, interaction=interaction, loading=True
            )
            interaction.original_message_id = int(message["id"])
        elif rtype in (6, 7):
            target = self._msg_index.get(int(interaction.payload["message"]["id"]))
            if target is None:
                raise _ApiError(404, 10008, "Unknown Message")
            if rtype == 7:
                self._edit_message(target, data, uploads)
                message = target
            interaction.original_message_id = int(target["id"])
        elif rtype == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _too_long("data.choices", 25)
        elif rtype == 9:
            if not data.get("custom_id") or not data.get("title"):
                raise _form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
            if len(data["title"]) > 45:
                raise _too_long("data.title", 45)
            if not 1 <= len(data.get("components") or []) <= 5:
                raise _form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            _check_modal_texts(data["components"], "data.components")
            interaction.modal = copy.deepcopy(data)
        interaction.response = payload
        interaction.response_latency = arrived - interaction.dispatched_at
        interaction._responded.set()
        self._notify()
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        callback: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        if interaction.original_message_id is not None and rtype in (4, 5, 7):
            callback["response_message_id"] = str(interaction.original_message_id)
            callback["response_message_loading"] = rtype == 5
            callback["response_message_ephemeral"] = bool(message and message["flags"] & FLAG_EPHEMERAL)
        resource: dict[str, Any] = {"type": rtype}
        if message is not None:
            resource["message"] = message
        return _json({"interaction": callback, "resource": resource})

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction:
        if request.match_info["app_id"] != str(self.application_id):
            raise _ApiError(404, 10015, "Unknown Webhook")
        interaction = self._interactions_by_token.get(request.match_info["token"])
        if interaction is None:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        if time.monotonic() - interaction.created_at > self.token_ttl:
            error = _ApiError(401, 50027, "Invalid Webhook Token")
            interaction.errors.append({"route": "webhook", "status": 401, **error.body()})
            self._notify()
            raise error
        return interaction

    async def _h_followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        try:
            payload, uploads = await self._read_body(request)
            if interaction.response is None or interaction.response.get("type") in (8, 9):
                raise _ApiError(404, 10015, "Unknown Webhook")
            self._check_upload_limit(uploads, interaction.attachment_size_limit)
            channel = self._channels[interaction.channel_id]
            original = interaction.response_message
            if original is not None and original["flags"] & FLAG_LOADING:
                # Discord: a followup while the deferred "thinking" message is unresolved resolves it
                # (edits it; its ephemeral state cannot change) instead of creating a new message.
                edit = {k: v for k, v in payload.items() if k != "flags"}
                self._edit_message(original, edit, uploads, completing=True)
                msg = original
            else:
                msg = self._create_message(channel, payload, uploads, interaction=interaction, followup=True)
            interaction.followups.append(msg)
            self._notify()
        except _ApiError as exc:
            interaction.errors.append({"route": "followup", "status": exc.status, **exc.body()})
            self._notify()
            raise
        if request.query.get("wait", "").lower() in ("1", "true"):
            return _json(msg)
        return web.Response(status=204)

    async def _h_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        try:
            payload, uploads = await self._read_body(request) if request.method == "PATCH" else ({}, {})
            raw = request.match_info["message_id"]
            unknown = _ApiError(404, 10008, "Unknown Message")
            if raw == "@original":
                if interaction.original_message_id is None:
                    raise unknown
                msg_id = interaction.original_message_id
            else:
                msg_id = self._int(raw, unknown)
                own = {int(m["id"]) for m in interaction.followups}
                if interaction.original_message_id is not None:
                    own.add(interaction.original_message_id)
                if msg_id not in own:
                    raise unknown
            msg = self._msg_index.get(msg_id)
            if msg is None:
                raise unknown
            if request.method == "GET":
                return _json(msg)
            if request.method == "DELETE":
                self._delete_message(msg)
                return web.Response(status=204)
            self._check_upload_limit(uploads, interaction.attachment_size_limit)
            self._edit_message(msg, payload, uploads)
            return _json(msg)
        except _ApiError as exc:
            interaction.errors.append({"route": "webhook", "status": exc.status, **exc.body()})
            self._notify()
            raise
