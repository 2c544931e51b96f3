"""A fake Discord (REST API + gateway) on 127.0.0.1 for end-to-end tests of the bot.

The real, unpatched discord.py client logs in to it, receives READY and GUILD_CREATE,
and sends its replies over real HTTP; tests act as users (messages, DMs, slash commands,
button clicks, threads) and assert on the JSON the bot sent.

Quick start::

    from tests.support.fake_discord import running_bot, running_fake_discord

    async def test_reply_never_pings():
        async with running_fake_discord(check_unhandled=True) as fake:
            bot = NewsBot(..., intents=intents, guild_ready_timeout=0.1)
            async with running_bot(bot):
                await fake.user_message(f"{fake.bot_user.mention} what happened?")
                sent = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
                assert sent.json["allowed_mentions"] == {"parse": []}

                ix = await fake.interaction("ask", {"question": "What happened?"}, user=fake.user)
                assert (await ix.wait_for_response())["type"] == 5   # deferred
                reply = await ix.wait_for_reply()                     # the message users see
                assert len(reply["content"]) <= 2000

The pytest fixture ``fake_discord`` does the same as ``running_fake_discord(check_unhandled=True)``;
bring it into a test module (or a conftest) with ``from tests.support.fake_discord import fake_discord``
and take a ``fake_discord`` argument. ``tests/test_fake_discord.py`` shows every feature in use
with a tiny bot; run it first when something here looks broken.

Pieces
------
``running_fake_discord(check_unhandled=False, **options)``
    Async context manager: starts a :class:`FakeDiscord`, points discord.py at it
    (``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``) and restores both
    on exit. With ``check_unhandled=True`` it fails if the bot called a route the fake does not
    know (``fake.unhandled``). Options are :class:`FakeDiscord` keyword arguments.
``patched_discord_endpoints(fake)``
    The patch/restore on its own (a plain context manager).
``running_bot(bot, token="fake-token", timeout=10.0)``
    Runs ``bot.start(token)`` in a task, waits until ``bot.is_ready()`` (re-raising what
    ``start`` raised, e.g. ``discord.LoginFailure``), and closes the bot on exit.
``pings(body, replied_user_id=None)``
    Who a message body sent by the bot would notify, by Discord's ``allowed_mentions`` rules.

The state (all ids are realistic snowflakes)
---------------------------------------------
``fake.application_id``, ``fake.bot_user``; one guild ``fake.guild_id`` (``FakeDiscord(guild_id=)``
picks it, e.g. to put it on a given shard) with the text channel
``fake.channel_id``; roles ``fake.everyone_role_id``, ``fake.admin_role_id`` ("admin", Manage
Server) and ``fake.bot_role_id`` (the bot's managed role); members ``fake.bot_user``,
``fake.user`` (no special permission), ``fake.admin`` (admin role) and ``fake.owner`` (owns the
guild and the application, so ``commands.is_owner()`` passes for it). ``fake.add_user(...)``
adds members, ``fake.add_text_channel(name)`` channels, ``fake.dm_channel(user)`` gives the
DM channel with the bot (created on demand), ``await fake.create_thread(name, ...)`` a thread.

Acting as users (each dispatches over the gateway and returns what it sent)
--------------------------------------------------------------------------
``await fake.user_message(content, author=, channel_id=, mentions=, reply_to=, attachments=)``
    MESSAGE_CREATE in a guild channel or thread (with ``guild_id`` and ``member``).
    ``attachments`` is a list of ``(filename, bytes)``; the bot can download them.
``await fake.dm_message(content, author=, attachments=)``
    MESSAGE_CREATE in the author's DM with the bot.
``await fake.create_thread(name, parent_id=, owner=, private=, message_id=)``
    THREAD_CREATE (send it before messages in that thread, as Discord does).
``await fake.interaction(name, options, user=, channel_id=, dm=, locale=, command_type=, target=)``
    A slash command (type 2); ``name`` may be ``"group sub"``; ``options`` is a dict (types come
    from the synced command; FakeUser values become user options with resolved data) or
    Discord's raw option list. Context menus: ``command_type=2, target=<FakeUser>`` or
    ``command_type=3, target=<message id>``. Returns a :class:`FakeInteraction`.
``await fake.component_interaction(custom_id, message_id=, user=, values=)``
    A button/select click (type 3) on a message the bot sent (found by custom_id if no id).
``await fake.modal_submit(ix, values, user=)``
    Submits the modal the bot opened in answer to ``ix`` (type 5).
``await fake.dispatch(event, data, guild_id=)``
    Any raw gateway event. ``await fake.reconnect()`` sends op 7 (the bot RESUMEs).

Waiting for and reading what the bot did
----------------------------------------
``fake.requests``: every HTTP request as :class:`RecordedRequest` (method, path without
``/api/v10``, query, json body, files, status, response). ``fake.unhandled``: requests no route
matched (answered 404). ``fake.rejected``: requests the fake answered with an error as Discord
would (400 invalid form body, 404 unknown interaction, ...).

``await fake.wait_for_request(method, path_regex, predicate=, timeout=, since=)``
    The next matching request (``re.fullmatch`` on the path) that no earlier wait returned.
``await fake.wait_for_bot_message(channel_id=, predicate=, timeout=)``
    The next message the bot created by any route (channel message, interaction response,
    followup). ``fake.messages_in(channel_id)``, ``fake.message(id)``, ``fake.bot_messages()``.
``FakeInteraction``: ``await ix.wait_for_response()`` (the callback ``{"type", "data"}``),
    ``await ix.wait_for_followup()``, ``await ix.wait_for_reply()`` (what the user sees: the
    type 4 message, or the deferred one once edited or replaced by the first followup; for a
    component answered with type 6/7, the component's message), ``ix.callbacks``,
    ``ix.original``, ``ix.followups``, ``ix.modal``, ``ix.payload`` (what was dispatched).
``fake.commands(guild_id=None)`` / ``fake.command(name, guild_id=None)``: synced commands,
    as Discord stores them (``default_member_permissions`` is a string, ids are stable).
``fake.gateway_received``: payloads the bot sent on the gateway (identify token removed);
``fake.identifies``; ``fake.gateway_queries`` (the ``v``/``encoding``/``compress`` it asked for);
``await fake.wait_for_gateway(op)``.

Discord behaviour the fake reproduces (each one is a real failure in production)
-------------------------------------------------------------------------------
* 400 code 50035 for content over 2,000 characters, more than 10 embeds or embed limits
  exceeded, more than 5 action rows; 50006 for an empty message.
* Interaction callbacks after ``interaction_ack_timeout`` seconds (3 s, like Discord) get
  404 code 10062; a second callback gets 400 code 40060; followups before the callback 404.
* A deferred response's loading message is replaced by the first followup or an edit, and
  that first followup keeps the defer's ephemerality whatever flags it sends.
* Without the message content intent, guild messages that do not mention the bot arrive with
  empty content. Message events need the GUILD_MESSAGES / DIRECT_MESSAGES intents.
* ``strict_commands=True`` (default): invoking a command the bot never synced, one whose
  ``default_member_permissions`` the user lacks, or one not allowed in DMs raises
  :class:`CommandUnavailable` (Discord would not show it to that user). Missing required or
  unknown options raise :class:`FakeDiscordError`.
* ``token="..."``: requests with another bot token get 401 (so ``bot.start`` raises
  ``discord.LoginFailure``) and IDENTIFY is closed with 4004.
* ``echo_bot_messages=True``: the bot's own messages come back as MESSAGE_CREATE, as on Discord.
* ``inject_error(method, path_regex, status, code=, message=, times=, retry_after=)``: the next
  matching requests fail (429 with ``retry_after`` is retried by discord.py).

discord.py 2.7.1 quirks worth knowing
-------------------------------------
* JSON is only parsed when Content-Type is exactly ``application/json``.
* The non-sharded client connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` without calling
  GET /gateway; ``AutoShardedClient`` calls GET /gateway/bot only when ``shard_count`` is None.
* ``Client.before_identify_hook`` sleeps 5 s before every IDENTIFY but the first: a sharded test
  bot should override it (``async def before_identify_hook(self, shard_id, *, initial=False):
  pass``) or the second shard takes 5 s.
* ``on_ready`` waits ``guild_ready_timeout`` (2 s) after the last GUILD_CREATE: pass 0.1.
* The client asks for ``compress=zstd-stream`` when ``zstandard`` is importable, otherwise
  ``zlib-stream``; the fake honours either (``compress=False`` sends plain text frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.gateway
import discord.http
import pytest_asyncio
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

try:
    import zstandard
except ImportError:  # discord.py then asks for zlib-stream instead
    zstandard = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

API_VERSION = 10
API_PREFIX = f"/api/v{API_VERSION}"
DISCORD_EPOCH_MS = 1420070400000

# Gateway intents the fake checks before delivering an event.
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

# Interaction and callback types
IX_APPLICATION_COMMAND = 2
IX_COMPONENT = 3
IX_AUTOCOMPLETE = 4
IX_MODAL_SUBMIT = 5
CB_MESSAGE = 4
CB_DEFERRED_MESSAGE = 5
CB_DEFERRED_UPDATE = 6
CB_UPDATE_MESSAGE = 7
CB_AUTOCOMPLETE = 8
CB_MODAL = 9
ALLOWED_CALLBACKS = {
    IX_APPLICATION_COMMAND: {CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_MODAL},
    IX_COMPONENT: {CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE_MESSAGE, CB_MODAL},
    IX_AUTOCOMPLETE: {CB_AUTOCOMPLETE},
    IX_MODAL_SUBMIT: {CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE_MESSAGE},
}

# Channel types
CH_TEXT = 0
CH_DM = 1
CH_PUBLIC_THREAD = 11
CH_PRIVATE_THREAD = 12
THREAD_TYPES = {10, CH_PUBLIC_THREAD, CH_PRIVATE_THREAD}

ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value
EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
    use_application_commands=True,
    use_external_emojis=True,
    create_instant_invite=True,
    change_nickname=True,
).value
ADMIN_ROLE_PERMISSIONS = discord.Permissions(manage_guild=True).value
BOT_ROLE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    manage_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
    use_application_commands=True,
).value

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_COMMAND_NAME = re.compile(r"[-_\w]{1,32}")


class FakeDiscordError(Exception):
    """A test asked the fake for something Discord would not let a user do."""


class CommandUnavailable(FakeDiscordError):
    """The user could not invoke this command on Discord (not synced, lacks permission, DMs)."""


def _iso(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).isoformat()


def _snowflake_time(snowflake: int) -> str:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return _iso(dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC))


@dataclass
class FakeUser:
    """A Discord user known to the fake."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    @property
    def mention(self) -> str:
        """The ``<@id>`` text that mentions this user."""
        return f"<@{self.id}>"

    def to_dict(self) -> dict[str, Any]:
        """Returns the user object as Discord sends it."""
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }


@dataclass
class RecordedFile:
    """A file part of a multipart request."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the fake received, with the answer it gave."""

    index: int
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any  # the JSON body (payload_json for multipart), None without a body
    files: list[RecordedFile] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    response: Any = None
    unhandled: bool = False
    at: float = 0.0  # time.monotonic() when it arrived (how often the bot edits a message)


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, and what the bot answered."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    user: FakeUser
    channel_id: int
    guild_id: int | None
    dispatched_at: float
    message_id: int | None = None  # the message a component belongs to
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    autocomplete_choices: list[dict[str, Any]] | None = None
    _fake: FakeDiscord | None = field(default=None, repr=False)
    _followups_returned: int = field(default=0, repr=False)

    @property
    def response_type(self) -> int | None:
        """The first callback's type (4 message, 5 deferred, 6 deferred update, ...), or None."""
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def original(self) -> dict[str, Any] | None:
        """The current original response message, or None."""
        if self._fake is None or self.original_message_id is None:
            return None
        return self._fake.message(self.original_message_id)

    @property
    def followups(self) -> list[dict[str, Any]]:
        """The followup messages the bot sent, oldest first."""
        assert self._fake is not None
        return [m for mid in self.followup_ids if (m := self._fake.message(mid)) is not None]

    async def wait_for_response(self, timeout: float = 5.0) -> dict[str, Any]:
        """Returns the first callback ``{"type": int, "data": dict | None}``; AssertionError on timeout."""
        assert self._fake is not None
        await self._fake._wait(lambda: bool(self.callbacks), timeout, f"a response to interaction {self.id}")
        return self.callbacks[0]

    async def wait_for_followup(self, timeout: float = 5.0) -> dict[str, Any]:
        """Returns the next followup message not returned before; AssertionError on timeout."""
        assert self._fake is not None
        await self._fake._wait(
            lambda: len(self.followup_ids) > self._followups_returned,
            timeout,
            f"followup #{self._followups_returned + 1} to interaction {self.id}",
        )
        message = self._fake.message(self.followup_ids[self._followups_returned])
        self._followups_returned += 1
        assert message is not None, "the followup was deleted"
        return message

    async def wait_for_reply(self, timeout: float = 5.0) -> dict[str, Any]:
        """Returns the message the user sees as the answer, whichever way the bot sent it.

        That is the type 4 response message, the deferred message once an edit or the first
        followup replaced its loading state, or the first followup. AssertionError on timeout.
        """
        assert self._fake is not None

        def visible() -> dict[str, Any] | None:
            original = self.original
            if original is not None and not original["flags"] & FLAG_LOADING:
                return original
            followups = self.followups
            return followups[0] if followups else None

        await self._fake._wait(lambda: visible() is not None, timeout, f"a reply to interaction {self.id}")
        reply = visible()
        assert reply is not None
        return reply


@dataclass
class _Reply:
    status: int
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _InjectedError:
    method: str
    path_regex: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> _Reply:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return _Reply(status, body)


def _form_error(field_path: str, code: str, message: str) -> _Reply:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        errors = {part: errors}
    return _error(400, 50035, "Invalid Form Body", errors)


def _json_response(reply: _Reply) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json";
    # web.json_response would append "; charset=utf-8".
    if reply.status == 204:
        return web.Response(status=204, headers=reply.headers)
    headers = {"Content-Type": "application/json", **reply.headers}
    return web.Response(status=reply.status, body=json.dumps(reply.data).encode(), headers=headers)


def pings(body: Mapping[str, Any], replied_user_id: int | None = None) -> set[str]:
    """Returns who a message body would notify by Discord's allowed_mentions rules.

    Entries are ``"everyone"``, ``"user:<id>"`` and ``"role:<id>"``. Without ``allowed_mentions``
    Discord parses every mention in the content; a reply pings ``replied_user_id`` only when
    ``allowed_mentions.replied_user`` is true (or ``allowed_mentions`` is absent).
    """
    content = body.get("content") or ""
    user_ids = set(_USER_MENTION.findall(content))
    role_ids = set(_ROLE_MENTION.findall(content))
    everyone = "@everyone" in content or "@here" in content
    allowed = body.get("allowed_mentions")
    result: set[str] = set()
    if allowed is None:
        result |= {f"user:{u}" for u in user_ids} | {f"role:{r}" for r in role_ids}
        if everyone:
            result.add("everyone")
        if replied_user_id is not None:
            result.add(f"user:{replied_user_id}")
        return result
    parse = set(allowed.get("parse") or [])
    allowed_users = {str(u) for u in allowed.get("users") or []}
    allowed_roles = {str(r) for r in allowed.get("roles") or []}
    for user_id in user_ids:
        if "users" in parse or user_id in allowed_users:
            result.add(f"user:{user_id}")
    for role_id in role_ids:
        if "roles" in parse or role_id in allowed_roles:
            result.add(f"role:{role_id}")
    if everyone and "everyone" in parse:
        result.add("everyone")
    if replied_user_id is not None and allowed.get("replied_user"):
        result.add(f"user:{replied_user_id}")
    return result


def _validate_message(body: Mapping[str, Any], files: Sequence[RecordedFile], *, partial: bool) -> _Reply | None:
    """Returns Discord's 400 answer for a message body it would reject, else None."""
    content = body.get("content")
    if content is not None and len(content) > 2000:
        return _form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        return _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    limits = {"title": 256, "description": 4096}
    for i, embed in enumerate(embeds):
        for key, limit in limits.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                return _form_error(f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            return _form_error(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = fld.get(key) or ""
                total += len(text)
                if not text:
                    return _form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
                if len(text) > limit:
                    return _form_error(
                        f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                    )
        for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = (embed.get(key) or {}).get(sub) or ""
            total += len(text)
            if len(text) > limit:
                return _form_error(
                    f"embeds.{i}.{key}.{sub}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                )
    if total > 6000:
        return _form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    components = body.get("components") or []
    if not (body.get("flags") or 0) & FLAG_COMPONENTS_V2:
        if len(components) > 5:
            return _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        for i, row in enumerate(components):
            if len(row.get("components") or []) > 5:
                return _form_error(
                    f"components.{i}.components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
                )
    allowed = body.get("allowed_mentions") or {}
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            return _form_error(
                f"allowed_mentions.{kind}",
                "SET_TYPE_ALREADY_CONTAINS_VALUE",
                f"parse:[{kind}] and {kind}: [ids] are mutually exclusive.",
            )
    if not partial and not (
        content
        or embeds
        or components
        or files
        or body.get("attachments")
        or body.get("sticker_ids")
        or body.get("poll")
    ):
        return _error(400, 50006, "Cannot send an empty message")
    return None


def _walk_components(components: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, Mapping):
                yield from _walk_components([child])


class _GatewaySession:
    """One websocket connection from the bot (one shard)."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.seq = 0
        self.session_id: str | None = None
        self.shard: tuple[int, int] | None = None
        self.intents = 0
        self.ready = False
        self._lock = asyncio.Lock()
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = zstandard.ZstdCompressor().compressobj() if compress == "zstd-stream" and zstandard else None

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        async with self._lock:
            payload: dict[str, Any] = {"op": op, "d": data, "s": None, "t": event}
            if op == 0:
                self.seq += 1
                payload["s"] = self.seq
            if self.ws.closed:
                return
            raw = json.dumps(payload)
            try:
                # The compressed stream must reach the client in order: compress and send under the lock.
                if self._zlib is not None:
                    await self.ws.send_bytes(self._zlib.compress(raw.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
                elif self._zstd is not None:
                    chunk = self._zstd.compress(raw.encode()) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
                    await self.ws.send_bytes(chunk)
                else:
                    await self.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                log.debug("gateway send on a closing connection dropped: %s", event or op)

    async def dispatch(self, event: str, data: Any) -> None:
        await self.send(0, data, event)


class FakeDiscord:
    """A fake Discord REST API and gateway on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        token: str | None = None,
        recommended_shards: int = 1,
        heartbeat_interval_ms: int = 41250,
        interaction_ack_timeout: float | None = 3.0,
        strict_commands: bool = True,
        echo_bot_messages: bool = False,
        compress: bool = True,
        guild_name: str = "Newsroom",
        guild_id: int | None = None,
    ) -> None:
        """Builds the state; nothing listens until :meth:`start`.

        ``token``: the only bot token accepted (None accepts any). ``recommended_shards``: the
        shard count GET /gateway/bot returns. ``interaction_ack_timeout``: seconds a bot has to
        answer an interaction (None: no limit). ``strict_commands``: see the module docstring.
        ``echo_bot_messages``: send the bot's own messages back as gateway events.
        ``compress``: honour the client's ``compress=`` query (else send plain text frames).
        ``guild_id``: the guild's id (to place it on a given shard: shard = (id >> 22) % count).
        """
        self.token = token
        self.recommended_shards = recommended_shards
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_ack_timeout = interaction_ack_timeout
        self.strict_commands = strict_commands
        self.echo_bot_messages = echo_bot_messages
        self.compress = compress

        self._last_ms = 0
        self._increment = 0
        self.requests: list[RecordedRequest] = []
        self.gateway_received: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.identifies: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._consumed_messages: set[int] = set()
        self._bot_message_ids: list[int] = []
        self._sessions: list[_GatewaySession] = []
        self._known_sessions: dict[str, _GatewaySession] = {}  # by session_id, for RESUME
        self._injected: list[_InjectedError] = []
        self._messages: dict[int, dict[str, Any]] = {}
        self._channel_messages: dict[int, list[int]] = {}
        self._attachments: dict[int, tuple[str, bytes]] = {}
        self._interactions: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._global_commands: dict[int, dict[str, Any]] = {}
        self._guild_commands: dict[int, dict[int, dict[str, Any]]] = {}
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

        self.application_id = self._snowflake()
        self.bot_user = FakeUser(self.application_id, "NewsBot", bot=True)
        self.guild_id = guild_id if guild_id is not None else self._snowflake()
        self.guild_name = guild_name
        self.everyone_role_id = self.guild_id
        self.admin_role_id = self._snowflake()
        self.bot_role_id = self._snowflake()
        self._roles: dict[int, dict[str, Any]] = {}
        self._add_role(self.everyone_role_id, "@everyone", EVERYONE_PERMISSIONS, position=0)
        self._add_role(self.admin_role_id, "admin", ADMIN_ROLE_PERMISSIONS, position=2)
        self._add_role(
            self.bot_role_id,
            "NewsBot",
            BOT_ROLE_PERMISSIONS,
            position=1,
            managed=True,
            tags={"bot_id": str(self.bot_user.id)},
        )
        self._users: dict[int, FakeUser] = {}
        self._members: dict[int, dict[str, Any]] = {}
        self._add_member(self.bot_user, [self.bot_role_id])
        self.user = self.add_user("reader", global_name="Reader")
        self.admin = self.add_user("editor", global_name="Editor", roles=[self.admin_role_id])
        self.owner = self.add_user("publisher", global_name="Publisher")
        self._channels: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, int] = {}
        self.channel_id = self.add_text_channel("news")

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Starts listening on 127.0.0.1 on ``port`` (default: a free one); sets ``url``."""
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._handle_attachment)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Closes every gateway connection and stops the server."""
        for session in list(self._sessions):
            with contextlib.suppress(Exception):
                await session.ws.close(code=4000, message=b"fake discord stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return f"{self.url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """The websocket URL of the fake gateway."""
        return f"ws://{self.url.removeprefix('http://')}/gateway"

    @property
    def unhandled(self) -> list[RecordedRequest]:
        """Requests no route of the fake matched (answered 404)."""
        return [r for r in self.requests if r.unhandled]

    @property
    def rejected(self) -> list[RecordedRequest]:
        """Requests a known route answered with an error status, as Discord would."""
        return [r for r in self.requests if not r.unhandled and r.status >= 400]

    def assert_no_unhandled(self) -> None:
        """Raises AssertionError listing the requests no route matched."""
        if self.unhandled:
            listing = "\n".join(f"  {r.method} {r.path} {r.query or ''}" for r in self.unhandled)
            raise AssertionError(f"the bot called routes the fake Discord does not handle:\n{listing}")

    # ------------------------------------------------------------------- state

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if ms <= self._last_ms:
            ms = self._last_ms
            self._increment += 1
            if self._increment >= 4096:
                ms += 1
                self._increment = 0
        else:
            self._increment = 0
        self._last_ms = ms
        return (ms << 22) | (1 << 17) | self._increment

    def _add_role(
        self,
        role_id: int,
        name: str,
        permissions: int,
        *,
        position: int,
        managed: bool = False,
        tags: dict[str, Any] | None = None,
    ) -> None:
        role: dict[str, Any] = {
            "id": str(role_id),
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if tags is not None:
            role["tags"] = tags
        self._roles[role_id] = role

    def _add_member(self, user: FakeUser, roles: Sequence[int]) -> None:
        self._users[user.id] = user
        self._members[user.id] = {
            "roles": [str(r) for r in roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": _iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }

    def add_user(
        self,
        username: str,
        *,
        global_name: str | None = None,
        roles: Sequence[int] = (),
        bot: bool = False,
        member: bool = True,
    ) -> FakeUser:
        """Creates a user (a guild member unless ``member=False``) and returns it."""
        user = FakeUser(self._snowflake(), username, global_name=global_name, bot=bot)
        if member:
            self._add_member(user, roles)
        else:
            self._users[user.id] = user
        return user

    def get_user(self, user_id: int) -> FakeUser | None:
        """Returns the user with this id, or None."""
        return self._users.get(user_id)

    def add_text_channel(self, name: str, *, topic: str | None = None) -> int:
        """Adds a text channel to the guild (before the bot connects) and returns its id."""
        channel_id = self._snowflake()
        self._channels[channel_id] = {
            "id": str(channel_id),
            "type": CH_TEXT,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": len(self._channels),
            "parent_id": None,
            "topic": topic,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "last_message_id": None,
            "default_auto_archive_duration": 1440,
            "flags": 0,
        }
        return channel_id

    def channel(self, channel_id: int) -> dict[str, Any] | None:
        """Returns the channel (text, thread or DM) with this id, or None."""
        return self._channels.get(channel_id)

    def dm_channel(self, user: FakeUser) -> dict[str, Any]:
        """Returns the DM channel between the bot and ``user``, creating it on first use."""
        channel_id = self._dm_channels.get(user.id)
        if channel_id is None:
            channel_id = self._snowflake()
            self._dm_channels[user.id] = channel_id
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": CH_DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user.to_dict()],
            }
        return self._channels[channel_id]

    def _member_payload(self, user_id: int, *, with_user: bool = True, permissions: bool = False) -> dict[str, Any]:
        member = dict(self._members[user_id])
        if with_user:
            member["user"] = self._users[user_id].to_dict()
        if permissions:
            member["permissions"] = str(self.permissions_of(user_id))
        return member

    def permissions_of(self, user_id: int) -> int:
        """Returns the guild permission bits of a member (owner and administrators get all)."""
        if user_id == self.owner.id:
            return ALL_PERMISSIONS
        member = self._members.get(user_id)
        if member is None:
            return 0
        perms = int(self._roles[self.everyone_role_id]["permissions"])
        for role_id in member["roles"]:
            role = self._roles.get(int(role_id))
            if role is not None:
                perms |= int(role["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _guild_base(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "widget_enabled": False,
            "widget_channel_id": None,
            "application_id": None,
            "features": [],
            "roles": list(self._roles.values()),
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
            "incidents_data": None,
        }

    def _guild_create_payload(self) -> dict[str, Any]:
        guild = self._guild_base()
        guild_channels = [c for c in self._channels.values() if c.get("guild_id") and c["type"] not in THREAD_TYPES]
        threads = [c for c in self._channels.values() if c["type"] in THREAD_TYPES]
        guild.update(
            {
                "joined_at": self._members[self.bot_user.id]["joined_at"],
                "large": False,
                "unavailable": False,
                "member_count": len(self._members),
                "members": [self._member_payload(uid) for uid in self._members],
                "channels": guild_channels,
                "threads": threads,
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return guild

    def _thread_payload(
        self,
        thread_id: int,
        name: str,
        parent_id: int,
        owner_id: int,
        *,
        thread_type: int,
        auto_archive: int = 1440,
    ) -> dict[str, Any]:
        now = _iso()
        metadata: dict[str, Any] = {
            "archived": False,
            "auto_archive_duration": auto_archive,
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        }
        if thread_type == CH_PRIVATE_THREAD:
            metadata["invitable"] = True
        return {
            "id": str(thread_id),
            "type": thread_type,
            "guild_id": str(self.guild_id),
            "parent_id": str(parent_id),
            "owner_id": str(owner_id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": metadata,
        }

    async def _open_thread(
        self,
        name: str,
        parent_id: int,
        owner: FakeUser,
        *,
        thread_type: int,
        thread_id: int | None = None,
        auto_archive: int = 1440,
    ) -> dict[str, Any]:
        thread_id = thread_id if thread_id is not None else self._snowflake()
        thread = self._thread_payload(
            thread_id, name, parent_id, owner.id, thread_type=thread_type, auto_archive=auto_archive
        )
        self._channels[thread_id] = thread
        event = dict(thread, newly_created=True)
        if owner.id == self.bot_user.id:
            event["member"] = {"id": str(thread_id), "user_id": str(owner.id), "join_timestamp": _iso(), "flags": 0}
        await self.dispatch("THREAD_CREATE", event, guild_id=self.guild_id, required=False)
        return thread

    async def create_thread(
        self,
        name: str,
        *,
        parent_id: int | None = None,
        owner: FakeUser | None = None,
        private: bool = False,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """Creates a thread as a user and dispatches THREAD_CREATE; returns the channel.

        With ``message_id`` the thread starts from that message (and takes its id, as on Discord).
        """
        parent_id = parent_id or self.channel_id
        owner = owner or self.user
        if self._channels.get(parent_id, {}).get("type") != CH_TEXT:
            raise FakeDiscordError(f"channel {parent_id} is not a guild text channel")
        if message_id is not None and message_id not in self._channel_messages.get(parent_id, []):
            raise FakeDiscordError(f"message {message_id} is not in channel {parent_id}")
        thread_type = CH_PRIVATE_THREAD if private else CH_PUBLIC_THREAD
        return await self._open_thread(name, parent_id, owner, thread_type=thread_type, thread_id=message_id)

    # ---------------------------------------------------------------- messages

    def message(self, message_id: int) -> dict[str, Any] | None:
        """Returns the stored message (as the REST API shows it), or None if unknown/deleted."""
        return self._messages.get(message_id)

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """Returns the messages of a channel, oldest first (users' and the bot's)."""
        return [self._messages[m] for m in self._channel_messages.get(channel_id, []) if m in self._messages]

    def bot_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Returns the messages the bot created (by any route), oldest first."""
        found = [self._messages[m] for m in self._bot_message_ids if m in self._messages]
        return [m for m in found if channel_id is None or int(m["channel_id"]) == channel_id]

    def _mentions_in(self, content: str, extra: Sequence[FakeUser] = ()) -> list[FakeUser]:
        users: dict[int, FakeUser] = {}
        for raw in _USER_MENTION.findall(content):
            user = self._users.get(int(raw))
            if user is not None:
                users[user.id] = user
        for user in extra:
            users[user.id] = user
        return list(users.values())

    def _attachment_payload(
        self, channel_id: int, filename: str, data: bytes, content_type: str | None, description: str | None = None
    ) -> dict[str, Any]:
        attachment_id = self._snowflake()
        self._attachments[attachment_id] = (filename, data)
        url = f"{self.url}/attachments/{channel_id}/{attachment_id}/{filename}"
        payload: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        if description is not None:
            payload["description"] = description
        return payload

    def _new_message(
        self,
        channel_id: int,
        author: FakeUser,
        *,
        content: str = "",
        embeds: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        attachments: Sequence[dict[str, Any]] = (),
        flags: int = 0,
        msg_type: int = 0,
        tts: bool = False,
        mentions: Sequence[FakeUser] = (),
        reference: dict[str, Any] | None = None,
        webhook_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        nonce: str | int | None = None,
    ) -> dict[str, Any]:
        message_id = self._snowflake()
        channel = self._channels[channel_id]
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author.to_dict(),
            "content": content,
            "timestamp": _snowflake_time(message_id),
            "edited_timestamp": None,
            "tts": tts,
            "mention_everyone": "@everyone" in content or "@here" in content,
            "mentions": [u.to_dict() for u in self._mentions_in(content, mentions)],
            "mention_roles": [r for r in _ROLE_MENTION.findall(content) if int(r) in self._roles],
            "attachments": list(attachments),
            "embeds": [dict(e, type=e.get("type", "rich")) for e in embeds],
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": flags,
            "components": list(components),
        }
        if nonce is not None:
            message["nonce"] = nonce
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.application_id)
        if interaction_metadata is not None:
            message["interaction_metadata"] = interaction_metadata
        if reference is not None:
            message["message_reference"] = reference
            referenced = self._messages.get(int(reference["message_id"]))
            message["referenced_message"] = referenced
            message["type"] = 19 if msg_type == 0 else msg_type
        if channel["type"] in THREAD_TYPES:
            message["position"] = channel["total_message_sent"]
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        channel["last_message_id"] = str(message_id)
        self._messages[message_id] = message
        self._channel_messages.setdefault(channel_id, []).append(message_id)
        if author.id == self.bot_user.id:
            self._bot_message_ids.append(message_id)
        return message

    def _gateway_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """Adds what MESSAGE_CREATE carries beyond the REST object (guild_id, member)."""
        event = dict(message)
        channel = self._channels.get(int(message["channel_id"]), {})
        if channel.get("guild_id"):
            event["guild_id"] = channel["guild_id"]
            author_id = int(message["author"]["id"])
            if author_id in self._members and "webhook_id" not in message:
                event["member"] = self._member_payload(author_id, with_user=False)
            event["mentions"] = [
                dict(u, member=self._member_payload(int(u["id"]), with_user=False))
                if int(u["id"]) in self._members
                else u
                for u in message["mentions"]
            ]
        return event

    async def _dispatch_message_create(self, message: dict[str, Any], *, required: bool) -> None:
        event = self._gateway_message(message)
        in_guild = "guild_id" in event
        bot_mentioned = any(int(u["id"]) == self.bot_user.id for u in event["mentions"])
        from_bot = int(event["author"]["id"]) == self.bot_user.id

        def for_session(session: _GatewaySession) -> dict[str, Any] | None:
            needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
            if not session.intents & needed:
                return None
            if in_guild and not session.intents & INTENT_MESSAGE_CONTENT and not (bot_mentioned or from_bot):
                redacted = dict(event, content="", embeds=[], attachments=[], components=[])
                redacted.pop("poll", None)
                return redacted
            return event

        await self.dispatch(
            "MESSAGE_CREATE",
            event,
            guild_id=self.guild_id if in_guild else None,
            required=required,
            per_session=for_session,
        )

    async def user_message(
        self,
        content: str,
        *,
        author: FakeUser | None = None,
        channel_id: int | None = None,
        mentions: Sequence[FakeUser] = (),
        reply_to: int | None = None,
        attachments: Sequence[tuple[str, bytes]] = (),
        embeds: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """Posts a message as a user and dispatches MESSAGE_CREATE; returns the message.

        ``channel_id`` defaults to ``fake.channel_id`` (threads and DM channels work too).
        Mentions are read from ``<@id>`` in the content plus ``mentions``; replying to a
        message mentions its author, as Discord's default reply does.
        """
        author = author or self.user
        channel_id = channel_id or self.channel_id
        channel = self._channels.get(channel_id)
        if channel is None:
            raise FakeDiscordError(f"unknown channel {channel_id}")
        if channel.get("guild_id") and author.id not in self._members:
            raise FakeDiscordError(f"{author.username} is not a member of the guild")
        reference = None
        extra_mentions = list(mentions)
        if reply_to is not None:
            replied = self._messages.get(reply_to)
            if replied is None:
                raise FakeDiscordError(f"unknown message {reply_to}")
            reference = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": replied["channel_id"],
                "fail_if_not_exists": False,
            }
            if channel.get("guild_id"):
                reference["guild_id"] = str(self.guild_id)
            replied_author = self._users.get(int(replied["author"]["id"]))
            if replied_author is not None:
                extra_mentions.append(replied_author)
        files = [
            self._attachment_payload(channel_id, name, data, "application/octet-stream") for name, data in attachments
        ]
        message = self._new_message(
            channel_id,
            author,
            content=content,
            mentions=extra_mentions,
            reference=reference,
            attachments=files,
            embeds=embeds,
        )
        await self._dispatch_message_create(message, required=True)
        return message

    async def dm_message(
        self,
        content: str,
        *,
        author: FakeUser | None = None,
        attachments: Sequence[tuple[str, bytes]] = (),
    ) -> dict[str, Any]:
        """Sends a DM to the bot as ``author`` (default ``fake.user``); returns the message."""
        author = author or self.user
        channel = self.dm_channel(author)
        return await self.user_message(content, author=author, channel_id=int(channel["id"]), attachments=attachments)

    # ----------------------------------------------------------------- gateway

    def _sessions_for(self, guild_id: int | None) -> list[_GatewaySession]:
        found = []
        for session in self._sessions:
            if not session.ready or session.ws.closed:
                continue
            if session.shard is None:
                found.append(session)
                continue
            shard_id, shard_count = session.shard
            target = 0 if guild_id is None else (guild_id >> 22) % shard_count
            if shard_id == target:
                found.append(session)
        return found

    async def dispatch(
        self,
        event: str,
        data: Any,
        *,
        guild_id: int | None = None,
        required: bool = True,
        per_session: Callable[[_GatewaySession], Any] | None = None,
    ) -> None:
        """Sends a DISPATCH event to the shard that owns ``guild_id`` (shard 0 without a guild).

        Raises FakeDiscordError when ``required`` and no bot is connected to receive it.
        """
        sessions = self._sessions_for(guild_id)
        if not sessions and required:
            raise FakeDiscordError(f"no bot is connected to the fake gateway to receive {event}")
        for session in sessions:
            payload = per_session(session) if per_session is not None else data
            if payload is not None:
                await session.dispatch(event, payload)

    async def reconnect(self) -> None:
        """Sends op 7 RECONNECT on every connection; discord.py then RESUMEs."""
        for session in list(self._sessions):
            if session.ready:
                await session.send(7, None)

    async def wait_for_gateway(
        self, op: int, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Returns the first payload with this op the bot sent on the gateway (e.g. 3 presence)."""

        def find() -> dict[str, Any] | None:
            for payload in self.gateway_received:
                if payload.get("op") == op and (predicate is None or predicate(payload)):
                    return payload
            return None

        await self._wait(lambda: find() is not None, timeout, f"gateway op {op} from the bot")
        found = find()
        assert found is not None
        return found

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        compress = request.query.get("compress") if self.compress else None
        session = _GatewaySession(ws, compress)
        self._sessions.append(session)
        try:
            await session.send(10, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_payload(session, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._sessions.remove(session)
            await self._notify()
        return ws

    async def _on_gateway_payload(self, session: _GatewaySession, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        raw_data = payload.get("d")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        recorded = dict(payload)
        if isinstance(data, dict) and "token" in data:
            recorded["d"] = {k: v for k, v in data.items() if k != "token"}
        self.gateway_received.append(recorded)
        if op == 1:
            await session.send(11, None)
        elif op == 2:
            await self._identify(session, data)
        elif op == 6:
            await self._resume(session, data)
        elif op == 8:
            if not session.ready:
                await session.ws.close(code=4003, message=b"Not authenticated.")
            else:
                await self._request_members(session, data)
        await self._notify()

    async def _identify(self, session: _GatewaySession, data: dict[str, Any]) -> None:
        if session.session_id is not None:
            await session.ws.close(code=4005, message=b"Already authenticated.")
            return
        if self.token is not None and data.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = data.get("shard")
        if shard is not None:
            shard_id, shard_count = int(shard[0]), int(shard[1])
            if not 0 <= shard_id < shard_count:
                await session.ws.close(code=4010, message=b"Invalid shard.")
                return
            session.shard = (shard_id, shard_count)
        session.intents = int(data.get("intents", 0))
        session.session_id = secrets.token_hex(16)
        self._known_sessions[session.session_id] = session
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        on_this_shard = not self._guild_on_other_shard(session)
        ready: dict[str, Any] = {
            "v": API_VERSION,
            "user": dict(self.bot_user.to_dict(), verified=True, mfa_enabled=False, email=None, locale="en-US"),
            "guilds": [{"id": str(self.guild_id), "unavailable": True}] if on_this_shard else [],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        await session.dispatch("READY", ready)
        session.ready = True
        if on_this_shard:
            await session.dispatch("GUILD_CREATE", self._guild_create_payload())

    def _guild_on_other_shard(self, session: _GatewaySession) -> bool:
        """True when the guild belongs to another shard than this session's."""
        if session.shard is None:
            return False
        shard_id, shard_count = session.shard
        return (self.guild_id >> 22) % shard_count != shard_id

    async def _resume(self, session: _GatewaySession, data: dict[str, Any]) -> None:
        old = self._known_sessions.get(data.get("session_id") or "")
        if old is None or (self.token is not None and data.get("token") != self.token):
            await session.send(9, False)  # not resumable: the client identifies anew
            return
        if not old.ws.closed:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere.")
        session.session_id = old.session_id
        session.shard = old.shard
        session.intents = old.intents
        session.seq = max(old.seq, int(data.get("seq") or 0))
        session.ready = True
        self._known_sessions[old.session_id or ""] = session
        # Events sent while the bot was away are not replayed.
        await session.dispatch("RESUMED", {"_trace": ["fake-gateway"]})

    async def _request_members(self, session: _GatewaySession, data: dict[str, Any]) -> None:
        query = (data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        user_ids = {int(u) for u in data.get("user_ids") or []}
        members = []
        for user_id in self._members:
            user = self._users[user_id]
            if user_ids and user_id not in user_ids:
                continue
            if query and not user.username.lower().startswith(query):
                continue
            members.append(self._member_payload(user_id))
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(self.guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in user_ids if u not in self._members],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------ interactions

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Returns the synced commands: global ones, or those of ``guild_id``."""
        store = self._global_commands if guild_id is None else self._guild_commands.get(guild_id, {})
        return list(store.values())

    def command(self, name: str, guild_id: int | None = None, command_type: int = 1) -> dict[str, Any] | None:
        """Returns the synced command with this name (global, or in ``guild_id``), or None."""
        for cmd in self.commands(guild_id):
            if cmd["name"] == name and cmd.get("type", 1) == command_type:
                return cmd
        return None

    def _find_command(self, name: str, guild_id: int | None, command_type: int) -> dict[str, Any] | None:
        if guild_id is not None:
            found = self.command(name, guild_id, command_type)
            if found is not None:
                return found
        return self.command(name, None, command_type)

    def _check_available(self, cmd: dict[str, Any], user: FakeUser, in_guild: bool) -> None:
        name = cmd["name"]
        if in_guild:
            required = cmd.get("default_member_permissions")
            if required is not None:
                required_bits = int(required)
                have = self.permissions_of(user.id)
                if required_bits == 0 and not have & ADMINISTRATOR:
                    raise CommandUnavailable(f"/{name} is disabled for everyone but administrators")
                if have & required_bits != required_bits:
                    raise CommandUnavailable(
                        f"{user.username} lacks default_member_permissions {required_bits} for /{name}"
                    )
            contexts = cmd.get("contexts")
            if contexts is not None and 0 not in contexts:
                raise CommandUnavailable(f"/{name} is not allowed in guilds (contexts={contexts})")
        else:
            contexts = cmd.get("contexts")
            if "guild_id" in cmd or cmd.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
                raise CommandUnavailable(f"/{name} is not available in DMs with the bot")

    def _resolve_value(
        self, name: str, option_type: int, value: Any, resolved: dict[str, dict[str, Any]], in_guild: bool
    ) -> Any:
        if option_type in (6, 9) and isinstance(value, FakeUser):
            value = value.id
        if option_type in (6, 7, 8, 9):
            snowflake = int(value)
            if option_type in (6, 9) and snowflake in self._users:
                resolved.setdefault("users", {})[str(snowflake)] = self._users[snowflake].to_dict()
                if in_guild and snowflake in self._members:
                    member = self._member_payload(snowflake, with_user=False, permissions=True)
                    resolved.setdefault("members", {})[str(snowflake)] = member
            elif option_type in (8, 9) and snowflake in self._roles:
                resolved.setdefault("roles", {})[str(snowflake)] = self._roles[snowflake]
            elif option_type == 7 and snowflake in self._channels:
                channel = dict(self._channels[snowflake], permissions=str(ALL_PERMISSIONS))
                resolved.setdefault("channels", {})[str(snowflake)] = channel
            else:
                raise FakeDiscordError(f"option {name!r}: unknown id {snowflake}")
            return str(snowflake)
        return value

    def _build_options(
        self,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None,
        definitions: Sequence[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        in_guild: bool,
        command_name: str,
    ) -> list[dict[str, Any]]:
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            return list(options)  # Discord's raw option list, used as given
        by_name = {d["name"]: d for d in definitions or []}
        if definitions is not None:
            unknown = set(options) - set(by_name)
            if unknown:
                raise FakeDiscordError(f"/{command_name} has no option(s) {sorted(unknown)}; it has {sorted(by_name)}")
            missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in options]
            if missing:
                raise FakeDiscordError(f"/{command_name} needs option(s) {missing}")
        built = []
        for name, value in options.items():
            definition = by_name.get(name)
            if definition is not None:
                option_type = int(definition["type"])
            elif isinstance(value, bool):
                option_type = 5
            elif isinstance(value, int):
                option_type = 4
            elif isinstance(value, float):
                option_type = 10
            elif isinstance(value, FakeUser):
                option_type = 6
            else:
                option_type = 3
            choices = (definition or {}).get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise FakeDiscordError(f"option {name!r}={value!r} is not one of the choices of /{command_name}")
            value = self._resolve_value(name, option_type, value, resolved, in_guild)
            built.append({"name": name, "type": option_type, "value": value})
        return built

    def _interaction_payload(
        self,
        ix_type: int,
        data: dict[str, Any],
        user: FakeUser,
        channel: dict[str, Any],
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> tuple[int, str, dict[str, Any]]:
        interaction_id = self._snowflake()
        token = f"fake-interaction-{secrets.token_urlsafe(24)}"
        in_guild = bool(channel.get("guild_id"))
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": ix_type,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": channel["id"],
        }
        if in_guild:
            payload.update(
                {
                    "guild_id": str(self.guild_id),
                    "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": self._member_payload(user.id, permissions=True),
                    "app_permissions": str(self.permissions_of(self.bot_user.id)),
                    "authorizing_integration_owners": {"0": str(self.guild_id)},
                    "context": 0,
                    "channel": dict(channel, permissions=str(self.permissions_of(user.id))),
                }
            )
        else:
            payload.update(
                {
                    "user": user.to_dict(),
                    "app_permissions": str(BOT_ROLE_PERMISSIONS),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                    "channel": channel,
                }
            )
        if message is not None:
            payload["message"] = message
        return interaction_id, token, payload

    async def _send_interaction(
        self,
        ix_type: int,
        data: dict[str, Any],
        user: FakeUser,
        channel: dict[str, Any],
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        interaction_id, token, payload = self._interaction_payload(ix_type, data, user, channel, locale, message)
        in_guild = bool(channel.get("guild_id"))
        ix = FakeInteraction(
            id=interaction_id,
            token=token,
            type=ix_type,
            payload=payload,
            user=user,
            channel_id=int(channel["id"]),
            guild_id=self.guild_id if in_guild else None,
            dispatched_at=time.monotonic(),
            message_id=int(message["id"]) if message is not None else None,
            _fake=self,
        )
        self._interactions[interaction_id] = ix
        self._interactions_by_token[token] = ix
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=ix.guild_id)
        return ix

    async def interaction(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        user: FakeUser | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str = "en-US",
        command_type: int = 1,
        target: FakeUser | int | None = None,
    ) -> FakeInteraction:
        """Invokes a slash command as ``user`` (default ``fake.user``); returns the interaction.

        ``name`` is ``"cmd"``, ``"cmd sub"`` or ``"cmd group sub"``. ``dm=True`` invokes it in the
        user's DM with the bot. Context menus: ``command_type=2`` with ``target=`` a FakeUser,
        ``command_type=3`` with ``target=`` a message id. Raises CommandUnavailable /
        FakeDiscordError as described in the module docstring.
        """
        user = user or self.user
        if dm:
            channel = self.dm_channel(user)
        else:
            channel_id = channel_id or self.channel_id
            found = self._channels.get(channel_id)
            if found is None:
                raise FakeDiscordError(f"unknown channel {channel_id}")
            channel = found
        in_guild = bool(channel.get("guild_id"))
        parts = name.split() if command_type == 1 else [name]
        cmd = self._find_command(parts[0], self.guild_id if in_guild else None, command_type)
        if cmd is None and self.strict_commands:
            synced = sorted(c["name"] for c in self.commands() + self.commands(self.guild_id))
            raise CommandUnavailable(f"/{parts[0]} was never synced (synced: {synced})")
        if cmd is not None and self.strict_commands:
            self._check_available(cmd, user, in_guild)
        definitions: list[dict[str, Any]] | None = None if cmd is None else list(cmd.get("options") or [])
        for part in parts[1:]:
            if definitions is None:
                break
            sub = next((d for d in definitions if d["name"] == part and d["type"] in (1, 2)), None)
            if sub is None:
                raise FakeDiscordError(f"/{parts[0]} has no subcommand {part!r}")
            definitions = list(sub.get("options") or [])
        resolved: dict[str, dict[str, Any]] = {}
        leaf = self._build_options(options, definitions, resolved, in_guild, name)
        nested: list[dict[str, Any]] = leaf
        for depth, part in reversed(list(enumerate(parts[1:], start=1))):
            kind = 1 if depth == len(parts) - 1 else 2
            nested = [{"name": part, "type": kind, "options": nested}]
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd is not None else str(self._snowflake()),
            "name": parts[0],
            "type": command_type,
        }
        if command_type == 1:
            data["options"] = nested
        elif command_type == 2:
            if not isinstance(target, FakeUser):
                raise FakeDiscordError("a user command needs target=<FakeUser>")
            data["target_id"] = self._resolve_value("target", 6, target, resolved, in_guild)
        else:
            target_message = self._messages.get(int(target)) if isinstance(target, int) else None
            if target_message is None or int(target_message["channel_id"]) != int(channel["id"]):
                raise FakeDiscordError(f"a message command needs target=<id of a message in channel {channel['id']}>")
            data["target_id"] = target_message["id"]
            resolved.setdefault("messages", {})[target_message["id"]] = target_message
        if resolved:
            data["resolved"] = resolved
        if cmd is not None and "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        return await self._send_interaction(IX_APPLICATION_COMMAND, data, user, channel, locale)

    async def component_interaction(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        user: FakeUser | None = None,
        values: Sequence[str] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Clicks a button (or picks select ``values``) on a message the bot sent.

        Without ``message_id`` the newest message holding a component with ``custom_id`` is used.
        Raises FakeDiscordError if no such enabled component exists.
        """
        user = user or self.user
        candidates = [message_id] if message_id is not None else list(reversed(self._bot_message_ids))
        for candidate in candidates:
            message = self._messages.get(candidate)
            if message is None:
                continue
            component = next(
                (c for c in _walk_components(message["components"]) if c.get("custom_id") == custom_id), None
            )
            if component is not None:
                break
        else:
            raise FakeDiscordError(f"no message has a component with custom_id {custom_id!r}")
        if component.get("disabled"):
            raise FakeDiscordError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        channel = self._channels[int(message["channel_id"])]
        return await self._send_interaction(IX_COMPONENT, data, user, channel, locale, message=message)

    async def modal_submit(
        self, ix: FakeInteraction, values: Mapping[str, Any], *, user: FakeUser | None = None
    ) -> FakeInteraction:
        """Submits the modal the bot opened in answer to ``ix`` with ``values`` by custom_id."""
        if ix.modal is None:
            raise FakeDiscordError(f"the bot did not answer interaction {ix.id} with a modal")
        unknown = set(values)

        def submitted(component: Mapping[str, Any]) -> dict[str, Any] | None:
            kind = component["type"]
            if kind == 1:
                children = [s for c in component.get("components") or [] if (s := submitted(c)) is not None]
                return {"type": 1, "components": children}
            if kind == 18:
                child = submitted(component["component"])
                return None if child is None else {"type": 18, "id": component.get("id", 0), "component": child}
            custom_id = component.get("custom_id")
            if custom_id is None:
                return None
            unknown.discard(custom_id)
            value = values.get(custom_id, component.get("value", ""))
            if kind == 4:
                if component.get("required", True) and not value:
                    raise FakeDiscordError(f"modal field {custom_id!r} is required")
                return {"type": 4, "id": component.get("id", 0), "custom_id": custom_id, "value": value}
            return {"type": kind, "id": component.get("id", 0), "custom_id": custom_id, "values": list(value or [])}

        components = [s for c in ix.modal.get("components") or [] if (s := submitted(c)) is not None]
        if unknown:
            raise FakeDiscordError(f"the modal has no field(s) {sorted(unknown)}")
        data = {"custom_id": ix.modal["custom_id"], "components": components}
        channel = self._channels[ix.channel_id]
        message = self._messages.get(ix.message_id) if ix.message_id is not None else None
        return await self._send_interaction(IX_MODAL_SUBMIT, data, user or ix.user, channel, "en-US", message)

    def interaction_by_token(self, token: str) -> FakeInteraction | None:
        """Returns the interaction with this token, or None."""
        return self._interactions_by_token.get(token)

    # ------------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        if self._changed is None:
            return
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        assert self._changed is not None, "the fake is not started"
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        except TimeoutError:
            recent = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-15:])
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last requests:\n{recent}") from None

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,
        since: int | None = None,
    ) -> RecordedRequest:
        """Returns the next request matching ``method`` ("*" for any) and ``re.fullmatch(path_regex)``.

        Without ``since``, requests returned by earlier waits are skipped, so successive waits
        return successive requests; with ``since`` the first match at index >= since is returned.
        Raises AssertionError on timeout.
        """
        pattern = re.compile(path_regex)

        def find() -> RecordedRequest | None:
            start = since or 0
            for rec in self.requests[start:]:
                if since is None and rec.index in self._consumed:
                    continue
                if rec.status == 0:
                    continue  # still being handled
                if method != "*" and rec.method != method.upper():
                    continue
                if pattern.fullmatch(rec.path) and (predicate is None or predicate(rec)):
                    return rec
            return None

        await self._wait(lambda: find() is not None, timeout, f"{method} {path_regex}")
        found = find()
        assert found is not None
        self._consumed.add(found.index)
        return found

    async def wait_for_bot_message(
        self,
        channel_id: int | None = None,
        *,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Returns the next message the bot created (any route) not returned before.

        A deferred response's placeholder counts once an edit or followup gave it content.
        The message is the stored one, so later edits show. AssertionError on timeout.
        """

        def find() -> dict[str, Any] | None:
            for message_id in self._bot_message_ids:
                if message_id in self._consumed_messages:
                    continue
                message = self._messages.get(message_id)
                if message is None or message["flags"] & FLAG_LOADING:
                    continue  # deleted, or still "thinking..." (it counts once edited or replaced)
                if channel_id is not None and int(message["channel_id"]) != channel_id:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        where = f" in channel {channel_id}" if channel_id else ""
        await self._wait(lambda: find() is not None, timeout, f"a message from the bot{where}")
        found = find()
        assert found is not None
        self._consumed_messages.add(int(found["id"]))
        return found

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Returns every recorded request matching ``method`` ("*" any) and the path regex."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if (method == "*" or r.method == method.upper()) and pattern.fullmatch(r.path)]

    def inject_error(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        code: int = 0,
        message: str = "",
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Makes the next ``times`` matching requests fail with ``status`` and Discord's error body.

        A 429 with ``retry_after`` carries the headers discord.py needs to wait and retry.
        """
        body: dict[str, Any] = {"message": message or f"{status}: injected", "code": code}
        headers: dict[str, str] = {}
        if status == 429:
            body["retry_after"] = retry_after if retry_after is not None else 0.05
            body["global"] = False
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(body["retry_after"]),
                "X-RateLimit-Scope": "user",
            }
        self._injected.append(_InjectedError(method.upper(), path_regex, status, body, headers, times))

    # ------------------------------------------------------------- HTTP server

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        stored = self._attachments.get(int(request.match_info["attachment_id"]))
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored[1], content_type="application/octet-stream")

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[RecordedFile]]:
        if not request.body_exists:
            return None, []
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue  # discord.py never nests multipart bodies
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    data = await part.read()
                    files.append(
                        RecordedFile(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(data))
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode("utf-8", "replace"), []

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        body, files = await self._read_body(request)
        full_path = request.path
        in_api = full_path.startswith(API_PREFIX + "/")
        rec = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=full_path[len(API_PREFIX) :] if in_api else full_path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        self.requests.append(rec)
        try:
            reply = await self._route(rec, in_api)
        except Exception as exc:  # a bug in the fake: make it loud, and not a retried 5xx
            log.exception("fake Discord failed on %s %s", rec.method, rec.path)
            rec.unhandled = True
            reply = _error(400, 0, f"fake Discord internal error: {exc!r}")
        rec.status = reply.status
        rec.response = reply.data
        await self._notify()
        return _json_response(reply)

    def _routes(self) -> list[tuple[str, str, Callable[..., Any], bool]]:
        s = r"(?P<{}>\d+)"
        app = s.format("app_id")
        gid = s.format("guild_id")
        cid = s.format("channel_id")
        mid = s.format("message_id")
        tok = r"(?P<token>[^/]+)"
        command = s.format("command_id")
        # The same command routes for global commands and a guild's.
        commands = [
            (method, rf"{scope}/commands{tail}", handler, True)
            for scope in (rf"/applications/{app}", rf"/applications/{app}/guilds/{gid}")
            for method, tail, handler in (
                ("GET", "", self._list_commands),
                ("PUT", "", self._put_commands),
                ("POST", "", self._upsert_command),
                ("GET", f"/{command}", self._get_command),
                ("PATCH", f"/{command}", self._edit_command),
                ("DELETE", f"/{command}", self._delete_command),
            )
        ]
        reply_message = rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)"
        return [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", rf"/users/{s.format('user_id')}", self._get_user, True),
            ("POST", r"/users/@me/channels", self._create_dm, True),
            ("GET", r"/gateway", self._get_gateway, False),
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", r"/applications/@me", self._get_application, True),
            *commands,
            ("GET", rf"/guilds/{gid}", self._get_guild, True),
            ("GET", rf"/guilds/{gid}/channels", self._get_guild_channels, True),
            ("GET", rf"/guilds/{gid}/roles", self._get_roles, True),
            ("GET", rf"/guilds/{gid}/members", self._list_members, True),
            ("GET", rf"/guilds/{gid}/members/{s.format('user_id')}", self._get_member, True),
            ("GET", rf"/channels/{cid}", self._get_channel, True),
            ("GET", rf"/channels/{cid}/messages", self._list_messages, True),
            ("POST", rf"/channels/{cid}/messages", self._create_message, True),
            ("GET", rf"/channels/{cid}/messages/{mid}", self._get_message, True),
            ("PATCH", rf"/channels/{cid}/messages/{mid}", self._edit_message, True),
            ("DELETE", rf"/channels/{cid}/messages/{mid}", self._delete_message, True),
            ("POST", rf"/channels/{cid}/typing", self._typing, True),
            ("PUT", rf"/channels/{cid}/messages/{mid}/reactions/(?P<emoji>[^/]+)/@me", self._add_reaction, True),
            ("DELETE", rf"/channels/{cid}/messages/{mid}/reactions/(?P<emoji>[^/]+)/@me", self._remove_reaction, True),
            ("POST", rf"/channels/{cid}/messages/{mid}/threads", self._thread_from_message, True),
            ("POST", rf"/channels/{cid}/threads", self._thread_without_message, True),
            ("PUT", rf"/channels/{cid}/thread-members/@me", self._join_thread, True),
            ("POST", rf"/interactions/{s.format('interaction_id')}/{tok}/callback", self._interaction_callback, False),
            ("POST", rf"/webhooks/{app}/{tok}", self._execute_webhook, False),
            ("GET", reply_message, self._get_webhook_message, False),
            ("PATCH", reply_message, self._edit_webhook_message, False),
            ("DELETE", reply_message, self._delete_webhook_message, False),
        ]

    async def _route(self, rec: RecordedRequest, in_api: bool) -> _Reply:
        if not in_api:
            rec.unhandled = True
            return _error(404, 0, "404: Not Found")
        for injected in self._injected:
            if (
                injected.times > 0
                and injected.method in (rec.method, "*")
                and re.fullmatch(injected.path_regex, rec.path)
            ):
                injected.times -= 1
                return _Reply(injected.status, injected.body, injected.headers)
        for method, pattern, handler, needs_auth in self._routes():
            if method != rec.method:
                continue
            match = re.fullmatch(pattern, rec.path)
            if match is None:
                continue
            if needs_auth and self.token is not None and rec.headers.get("Authorization") != f"Bot {self.token}":
                return _error(401, 0, "401: Unauthorized")
            reply: _Reply = await handler(rec, **match.groupdict())
            return reply
        rec.unhandled = True
        return _error(404, 0, "404: Not Found")

    # ---------------------------------------------------------- REST handlers

    async def _get_me(self, rec: RecordedRequest) -> _Reply:
        return _Reply(200, dict(self.bot_user.to_dict(), verified=True, mfa_enabled=False, email=None, locale="en-US"))

    async def _get_user(self, rec: RecordedRequest, user_id: str) -> _Reply:
        user = self._users.get(int(user_id))
        return _Reply(200, user.to_dict()) if user else _error(404, 10013, "Unknown User")

    async def _get_gateway(self, rec: RecordedRequest) -> _Reply:
        return _Reply(200, {"url": self.gateway_url})

    async def _get_gateway_bot(self, rec: RecordedRequest) -> _Reply:
        return _Reply(
            200,
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            },
        )

    async def _get_application(self, rec: RecordedRequest) -> _Reply:
        return _Reply(
            200,
            {
                "id": str(self.application_id),
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": self.bot_user.to_dict(),
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": self.owner.to_dict(),
                "team": None,
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": 1,
                "install_params": None,
                "integration_types_config": {"0": {}},
            },
        )

    def _command_store(self, app_id: str, guild_id: str | None) -> dict[int, dict[str, Any]] | _Reply:
        if int(app_id) != self.application_id:
            return _error(403, 50001, "Missing Access")
        if guild_id is None:
            return self._global_commands
        if int(guild_id) != self.guild_id:
            return _error(403, 50001, "Missing Access")
        return self._guild_commands.setdefault(int(guild_id), {})

    @staticmethod
    def _validate_command(cmd: Mapping[str, Any], where: str) -> _Reply | None:
        name = cmd.get("name") or ""
        cmd_type = cmd.get("type", 1)
        # Context menu names may hold spaces and capitals; slash command names may not.
        valid = _COMMAND_NAME.fullmatch(name) and name == name.lower() if cmd_type == 1 else 1 <= len(name) <= 32
        if not valid:
            return _form_error(f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if cmd_type == 1:
            description = cmd.get("description") or ""
            if not 1 <= len(description) <= 100:
                return _form_error(
                    f"{where}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
        options = cmd.get("options") or []
        if len(options) > 25:
            return _form_error(f"{where}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        seen_optional = False
        for i, option in enumerate(options):
            if option.get("type") in (1, 2):
                problem = FakeDiscord._validate_command(dict(option, type=1), f"{where}.options.{i}")
                if problem is not None:
                    return problem
                continue
            option_name = option.get("name") or ""
            if not _COMMAND_NAME.fullmatch(option_name) or option_name != option_name.lower():
                return _form_error(f"{where}.options.{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
            if not 1 <= len(option.get("description") or "") <= 100:
                return _form_error(
                    f"{where}.options.{i}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            if option.get("required"):
                if seen_optional:
                    return _form_error(
                        f"{where}.options.{i}.required",
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                seen_optional = True
            if len(option.get("choices") or []) > 25:
                return _form_error(
                    f"{where}.options.{i}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
        return None

    def _normalize_command(self, payload: Mapping[str, Any], guild_id: str | None, command_id: int) -> dict[str, Any]:
        permissions = payload.get("default_member_permissions")
        cmd: dict[str, Any] = {
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(self._snowflake()),
            "type": payload.get("type", 1),
            "name": payload["name"],
            "name_localizations": payload.get("name_localizations"),
            "description": payload.get("description", ""),
            "description_localizations": payload.get("description_localizations"),
            "options": payload.get("options") or [],
            # Discord answers with a string whatever the client sent.
            "default_member_permissions": None if permissions is None else str(permissions),
            "dm_permission": payload.get("dm_permission", True),
            "contexts": payload.get("contexts"),
            "integration_types": payload.get("integration_types") or [0],
            "nsfw": payload.get("nsfw", False),
        }
        if guild_id is not None:
            cmd["guild_id"] = guild_id
        return cmd

    async def _list_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> _Reply:
        store = self._command_store(app_id, guild_id)
        if isinstance(store, _Reply):
            return store
        return _Reply(200, list(store.values()))

    async def _put_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> _Reply:
        store = self._command_store(app_id, guild_id)
        if isinstance(store, _Reply):
            return store
        if not isinstance(rec.json, list):
            return _form_error("_", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len([c for c in rec.json if c.get("type", 1) == 1]) > 100:
            return _error(400, 30032, "Maximum number of application commands reached (100)")
        for i, payload in enumerate(rec.json):
            problem = self._validate_command(payload, str(i))
            if problem is not None:
                return problem
        existing = {(c["name"], c["type"]): int(c["id"]) for c in store.values()}
        store.clear()
        for payload in rec.json:
            command_id = existing.get((payload["name"], payload.get("type", 1))) or self._snowflake()
            store[command_id] = self._normalize_command(payload, guild_id, command_id)
        return _Reply(200, list(store.values()))

    async def _upsert_command(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> _Reply:
        store = self._command_store(app_id, guild_id)
        if isinstance(store, _Reply):
            return store
        problem = self._validate_command(rec.json or {}, "_")
        if problem is not None:
            return problem
        payload = rec.json
        existing = next(
            (
                int(c["id"])
                for c in store.values()
                if (c["name"], c["type"]) == (payload["name"], payload.get("type", 1))
            ),
            None,
        )
        command_id = existing or self._snowflake()
        store[command_id] = self._normalize_command(payload, guild_id, command_id)
        return _Reply(200 if existing else 201, store[command_id])

    async def _get_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> _Reply:
        store = self._command_store(app_id, guild_id)
        if isinstance(store, _Reply):
            return store
        cmd = store.get(int(command_id))
        return _Reply(200, cmd) if cmd else _error(404, 10063, "Unknown application command")

    async def _edit_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> _Reply:
        store = self._command_store(app_id, guild_id)
        if isinstance(store, _Reply):
            return store
        cmd = store.get(int(command_id))
        if cmd is None:
            return _error(404, 10063, "Unknown application command")
        merged = dict(cmd, **(rec.json or {}))
        problem = self._validate_command(merged, "_")
        if problem is not None:
            return problem
        store[int(command_id)] = self._normalize_command(merged, guild_id, int(command_id))
        return _Reply(200, store[int(command_id)])

    async def _delete_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> _Reply:
        store = self._command_store(app_id, guild_id)
        if isinstance(store, _Reply):
            return store
        if store.pop(int(command_id), None) is None:
            return _error(404, 10063, "Unknown application command")
        return _Reply(204)

    def _check_guild(self, guild_id: str) -> _Reply | None:
        return None if int(guild_id) == self.guild_id else _error(404, 10004, "Unknown Guild")

    async def _get_guild(self, rec: RecordedRequest, guild_id: str) -> _Reply:
        return self._check_guild(guild_id) or _Reply(
            200, dict(self._guild_base(), approximate_member_count=len(self._members))
        )

    async def _get_guild_channels(self, rec: RecordedRequest, guild_id: str) -> _Reply:
        channels = [c for c in self._channels.values() if c.get("guild_id") and c["type"] not in THREAD_TYPES]
        return self._check_guild(guild_id) or _Reply(200, channels)

    async def _get_roles(self, rec: RecordedRequest, guild_id: str) -> _Reply:
        return self._check_guild(guild_id) or _Reply(200, list(self._roles.values()))

    async def _list_members(self, rec: RecordedRequest, guild_id: str) -> _Reply:
        limit = int(rec.query.get("limit", 1))
        members = [self._member_payload(uid) for uid in self._members][:limit]
        return self._check_guild(guild_id) or _Reply(200, members)

    async def _get_member(self, rec: RecordedRequest, guild_id: str, user_id: str) -> _Reply:
        if int(user_id) not in self._members:
            return self._check_guild(guild_id) or _error(404, 10007, "Unknown Member")
        return self._check_guild(guild_id) or _Reply(200, self._member_payload(int(user_id)))

    def _channel_or_error(self, channel_id: str) -> dict[str, Any] | _Reply:
        channel = self._channels.get(int(channel_id))
        return channel if channel is not None else _error(404, 10003, "Unknown Channel")

    async def _get_channel(self, rec: RecordedRequest, channel_id: str) -> _Reply:
        channel = self._channel_or_error(channel_id)
        return channel if isinstance(channel, _Reply) else _Reply(200, channel)

    async def _list_messages(self, rec: RecordedRequest, channel_id: str) -> _Reply:
        channel = self._channel_or_error(channel_id)
        if isinstance(channel, _Reply):
            return channel
        limit = int(rec.query.get("limit", 50))
        messages = list(reversed(self.messages_in(int(channel_id))))  # newest first, as Discord
        if "before" in rec.query:
            messages = [m for m in messages if int(m["id"]) < int(rec.query["before"])]
        if "after" in rec.query:
            messages = [m for m in messages if int(m["id"]) > int(rec.query["after"])]
        return _Reply(200, messages[:limit])

    def _message_or_error(self, channel_id: str, message_id: str) -> dict[str, Any] | _Reply:
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        return message

    async def _get_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Reply:
        message = self._message_or_error(channel_id, message_id)
        return message if isinstance(message, _Reply) else _Reply(200, message)

    def _attachments_from(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        files: Sequence[RecordedFile],
        keep: Sequence[dict[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        by_field = {f.field_name: f for f in files}
        kept = {a["id"]: a for a in keep}
        result: list[dict[str, Any]] = []
        listed = body.get("attachments")
        if listed is None:
            listed = [{"id": i} for i in range(len(files))] if files else [{"id": a["id"]} for a in keep]
        for item in listed:
            item_id = str(item.get("id"))
            if item_id in kept:
                result.append(kept[item_id])
                continue
            upload = by_field.get(f"files[{item_id}]")
            if upload is not None:
                result.append(
                    self._attachment_payload(
                        channel_id,
                        item.get("filename") or upload.filename or "file",
                        upload.data,
                        upload.content_type,
                        item.get("description"),
                    )
                )
        return result

    def _message_from_body(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        files: Sequence[RecordedFile],
        *,
        msg_type: int = 0,
        webhook_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        extra_flags: int = 0,
    ) -> dict[str, Any] | _Reply:
        reference = None
        ref = body.get("message_reference")
        if ref is not None:
            referenced = self._messages.get(int(ref["message_id"]))
            if referenced is None and ref.get("fail_if_not_exists", True):
                return _form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            if referenced is not None:
                reference = {
                    "type": ref.get("type", 0),
                    "message_id": referenced["id"],
                    "channel_id": referenced["channel_id"],
                    "fail_if_not_exists": ref.get("fail_if_not_exists", True),
                }
                if self._channels[channel_id].get("guild_id"):
                    reference["guild_id"] = str(self.guild_id)
        return self._new_message(
            channel_id,
            self.bot_user,
            content=body.get("content") or "",
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            attachments=self._attachments_from(channel_id, body, files),
            flags=(body.get("flags") or 0) | extra_flags,
            msg_type=msg_type,
            tts=bool(body.get("tts")),
            reference=reference,
            webhook_id=webhook_id,
            interaction_metadata=interaction_metadata,
            nonce=body.get("nonce"),
        )

    async def _create_message(self, rec: RecordedRequest, channel_id: str) -> _Reply:
        channel = self._channel_or_error(channel_id)
        if isinstance(channel, _Reply):
            return channel
        body = rec.json or {}
        problem = _validate_message(body, rec.files, partial=False)
        if problem is not None:
            return problem
        if body.get("flags", 0) & FLAG_EPHEMERAL:
            return _form_error("flags", "MESSAGE_FLAGS_INVALID", "Ephemeral messages need an interaction")
        message = self._message_from_body(int(channel_id), body, rec.files)
        if isinstance(message, _Reply):
            return message
        if self.echo_bot_messages:
            await self._dispatch_message_create(message, required=False)
        return _Reply(200, message)

    def _apply_edit(self, message: dict[str, Any], body: Mapping[str, Any], files: Sequence[RecordedFile]) -> None:
        for key in ("content", "embeds", "components"):
            if key in body:
                value = body[key]
                message[key] = value if value is not None else ("" if key == "content" else [])
        if "embeds" in body:
            message["embeds"] = [dict(e, type=e.get("type", "rich")) for e in message["embeds"]]
        if "flags" in body and body["flags"] is not None:
            keep = message["flags"] & ~(FLAG_SUPPRESS_EMBEDS | FLAG_LOADING)
            message["flags"] = keep | (body["flags"] & FLAG_SUPPRESS_EMBEDS)
        if "attachments" in body or files:
            message["attachments"] = self._attachments_from(
                int(message["channel_id"]), body, files, keep=message["attachments"]
            )
        content = message["content"]
        message["mentions"] = [u.to_dict() for u in self._mentions_in(content)]
        message["edited_timestamp"] = _iso()

    async def _edit_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Reply:
        message = self._message_or_error(channel_id, message_id)
        if isinstance(message, _Reply):
            return message
        if int(message["author"]["id"]) != self.bot_user.id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        body = rec.json or {}
        problem = _validate_message(body, rec.files, partial=True)
        if problem is not None:
            return problem
        self._apply_edit(message, body, rec.files)
        if self.echo_bot_messages:
            await self.dispatch(
                "MESSAGE_UPDATE", self._gateway_message(message), guild_id=self._guild_of(message), required=False
            )
        return _Reply(200, message)

    def _guild_of(self, message: Mapping[str, Any]) -> int | None:
        channel = self._channels.get(int(message["channel_id"]), {})
        return self.guild_id if channel.get("guild_id") else None

    def _remove_message(self, message: Mapping[str, Any]) -> None:
        message_id = int(message["id"])
        self._messages.pop(message_id, None)
        with contextlib.suppress(ValueError):
            self._channel_messages[int(message["channel_id"])].remove(message_id)

    async def _delete_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Reply:
        message = self._message_or_error(channel_id, message_id)
        if isinstance(message, _Reply):
            return message
        self._remove_message(message)
        if self.echo_bot_messages:
            event: dict[str, Any] = {"id": message["id"], "channel_id": message["channel_id"]}
            guild_id = self._guild_of(message)
            if guild_id is not None:
                event["guild_id"] = str(guild_id)
            await self.dispatch("MESSAGE_DELETE", event, guild_id=guild_id, required=False)
        return _Reply(204)

    async def _typing(self, rec: RecordedRequest, channel_id: str) -> _Reply:
        channel = self._channel_or_error(channel_id)
        return channel if isinstance(channel, _Reply) else _Reply(204)

    async def _add_reaction(self, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> _Reply:
        message = self._message_or_error(channel_id, message_id)
        if isinstance(message, _Reply):
            return message
        name = emoji.split(":")[0]
        for reaction in message["reactions"]:
            if reaction["emoji"]["name"] == name:
                if not reaction["me"]:
                    reaction["me"] = True
                    reaction["count"] += 1
                break
        else:
            message["reactions"].append({"count": 1, "me": True, "emoji": {"id": None, "name": name}})
        return _Reply(204)

    async def _remove_reaction(self, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> _Reply:
        message = self._message_or_error(channel_id, message_id)
        if isinstance(message, _Reply):
            return message
        name = emoji.split(":")[0]
        message["reactions"] = [r for r in message["reactions"] if not (r["emoji"]["name"] == name and r["me"])]
        return _Reply(204)

    async def _thread_from_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Reply:
        channel = self._threadable_or_error(channel_id)
        if isinstance(channel, _Reply):
            return channel
        message = self._message_or_error(channel_id, message_id)
        if isinstance(message, _Reply):
            return message
        if int(message_id) in self._channels:
            return _error(400, 160004, "A thread has already been created for this message")
        thread = await self._thread_as_asked(rec, channel_id, CH_PUBLIC_THREAD, thread_id=int(message_id))
        if isinstance(thread, _Reply):
            return thread
        message["thread"] = thread
        return _Reply(201, thread)

    async def _thread_without_message(self, rec: RecordedRequest, channel_id: str) -> _Reply:
        channel = self._threadable_or_error(channel_id)
        if isinstance(channel, _Reply):
            return channel
        thread = await self._thread_as_asked(rec, channel_id, int((rec.json or {}).get("type") or CH_PRIVATE_THREAD))
        return thread if isinstance(thread, _Reply) else _Reply(201, thread)

    def _threadable_or_error(self, channel_id: str) -> dict[str, Any] | _Reply:
        """The text channel a thread is asked for, or Discord's error (unknown, not text)."""
        channel = self._channel_or_error(channel_id)
        if isinstance(channel, _Reply) or channel["type"] == CH_TEXT:
            return channel
        return _error(400, 50024, "Cannot execute action on this channel type")

    async def _thread_as_asked(
        self, rec: RecordedRequest, channel_id: str, thread_type: int, thread_id: int | None = None
    ) -> dict[str, Any] | _Reply:
        """The thread the request's body names (its name, its auto-archive minutes), opened by the
        bot in `channel_id`; Discord's form error for a name it would refuse."""
        body = rec.json or {}
        if not 1 <= len(body.get("name") or "") <= 100:
            return _form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        return await self._open_thread(
            body["name"],
            int(channel_id),
            self.bot_user,
            thread_type=thread_type,
            thread_id=thread_id,
            auto_archive=body.get("auto_archive_duration") or 1440,
        )

    async def _join_thread(self, rec: RecordedRequest, channel_id: str) -> _Reply:
        channel = self._channel_or_error(channel_id)
        if isinstance(channel, _Reply):
            return channel
        return (
            _Reply(204)
            if channel["type"] in THREAD_TYPES
            else _error(400, 50024, "Cannot execute action on this channel type")
        )

    async def _create_dm(self, rec: RecordedRequest) -> _Reply:
        recipient = self._users.get(int((rec.json or {}).get("recipient_id") or 0))
        if recipient is None:
            return _error(400, 50007, "Cannot send messages to this user")
        return _Reply(200, self.dm_channel(recipient))

    # ---------------------------------------------------- interaction handlers

    def _interaction_metadata(self, ix: FakeInteraction) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "id": str(ix.id),
            "type": ix.type,
            "user": ix.user.to_dict(),
            "authorizing_integration_owners": ix.payload["authorizing_integration_owners"],
        }
        if ix.type == IX_APPLICATION_COMMAND:
            metadata["name"] = ix.payload["data"]["name"]
            metadata["command_type"] = ix.payload["data"].get("type", 1)
        if ix.type == IX_COMPONENT and ix.message_id is not None:
            metadata["interacted_message_id"] = str(ix.message_id)
        return metadata

    def _interaction_message(
        self, ix: FakeInteraction, body: Mapping[str, Any], files: Sequence[RecordedFile], extra_flags: int = 0
    ) -> dict[str, Any] | _Reply:
        msg_type = 20 if ix.type == IX_APPLICATION_COMMAND else 0
        return self._message_from_body(
            ix.channel_id,
            body,
            files,
            msg_type=msg_type,
            webhook_id=self.application_id,
            interaction_metadata=self._interaction_metadata(ix),
            extra_flags=extra_flags,
        )

    async def _interaction_callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> _Reply:
        ix = self._interactions.get(int(interaction_id))
        if ix is None or ix.token != token:
            return _error(404, 10062, "Unknown interaction")
        if ix.callbacks:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        elapsed = time.monotonic() - ix.dispatched_at
        if self.interaction_ack_timeout is not None and elapsed > self.interaction_ack_timeout:
            return _error(404, 10062, "Unknown interaction")
        body = rec.json or {}
        callback_type = body.get("type")
        data = body.get("data")
        if callback_type not in ALLOWED_CALLBACKS.get(ix.type, set()):
            return _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid response type {callback_type}")
        resource: dict[str, Any] | None = None
        response_message: dict[str, Any] | None = None
        if callback_type == CB_MESSAGE:
            problem = _validate_message(data or {}, rec.files, partial=False)
            if problem is not None:
                return problem
            created = self._interaction_message(ix, data or {}, rec.files)
            if isinstance(created, _Reply):
                return created
            response_message = created
            ix.original_message_id = int(created["id"])
        elif callback_type == CB_DEFERRED_MESSAGE:
            ephemeral = (data or {}).get("flags", 0) & FLAG_EPHEMERAL
            created = self._interaction_message(ix, {"content": ""}, [], extra_flags=FLAG_LOADING | ephemeral)
            assert not isinstance(created, _Reply)
            response_message = created
            ix.original_message_id = int(created["id"])
        elif callback_type in (CB_DEFERRED_UPDATE, CB_UPDATE_MESSAGE):
            target = self._messages.get(ix.message_id) if ix.message_id is not None else None
            if target is None:
                return _error(400, 50035, "This interaction has no message to update")
            ix.original_message_id = int(target["id"])
            if callback_type == CB_UPDATE_MESSAGE:
                problem = _validate_message(data or {}, rec.files, partial=True)
                if problem is not None:
                    return problem
                self._apply_edit(target, data or {}, rec.files)
                response_message = target
        elif callback_type == CB_MODAL:
            modal = data or {}
            if not modal.get("custom_id") or not modal.get("title") or not modal.get("components"):
                return _form_error("data", "BASE_TYPE_REQUIRED", "A modal needs custom_id, title and components")
            ix.modal = modal
        elif callback_type == CB_AUTOCOMPLETE:
            ix.autocomplete_choices = list((data or {}).get("choices") or [])
        ix.callbacks.append({"type": callback_type, "data": data})
        if response_message is not None:
            resource = {"type": callback_type, "message": response_message}
        elif callback_type in (CB_DEFERRED_UPDATE, CB_MODAL):
            resource = {"type": callback_type}
        interaction: dict[str, Any] = {"id": str(ix.id), "type": ix.type}
        if callback_type in (CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_UPDATE_MESSAGE) and response_message is not None:
            interaction["response_message_id"] = response_message["id"]
            interaction["response_message_loading"] = callback_type == CB_DEFERRED_MESSAGE
            interaction["response_message_ephemeral"] = bool(response_message["flags"] & FLAG_EPHEMERAL)
        reply: dict[str, Any] = {"interaction": interaction}
        if resource is not None:
            reply["resource"] = resource
        return _Reply(200, reply)

    def _webhook_interaction(self, app_id: str, token: str) -> FakeInteraction | _Reply:
        ix = self._interactions_by_token.get(token)
        if int(app_id) != self.application_id or ix is None:
            return _error(404, 10015, "Unknown Webhook")
        if not ix.callbacks:
            return _error(404, 10015, "Unknown Webhook")  # no followups before the interaction is acknowledged
        return ix

    def _webhook_target(self, ix: FakeInteraction, message_id: str) -> dict[str, Any] | _Reply:
        if message_id == "@original":
            target_id = ix.original_message_id
        else:
            target_id = int(message_id)
            if target_id not in ix.followup_ids and target_id != ix.original_message_id:
                return _error(404, 10008, "Unknown Message")
        message = self._messages.get(target_id) if target_id is not None else None
        return message if message is not None else _error(404, 10008, "Unknown Message")

    async def _execute_webhook(self, rec: RecordedRequest, app_id: str, token: str) -> _Reply:
        ix = self._webhook_interaction(app_id, token)
        if isinstance(ix, _Reply):
            return ix
        body = rec.json or {}
        problem = _validate_message(body, rec.files, partial=False)
        if problem is not None:
            return problem
        original = ix.original
        if original is not None and original["flags"] & FLAG_LOADING and not ix.followup_ids:
            # The first followup after a deferred response replaces the "thinking..." message.
            self._apply_edit(original, body, rec.files)
            original["flags"] &= ~FLAG_LOADING
            message = original
        else:
            created = self._interaction_message(ix, body, rec.files)
            if isinstance(created, _Reply):
                return created
            message = created
        ix.followup_ids.append(int(message["id"]))
        if rec.query.get("wait") in ("1", "true", "True"):
            return _Reply(200, message)
        return _Reply(204)

    async def _get_webhook_message(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> _Reply:
        ix = self._webhook_interaction(app_id, token)
        if isinstance(ix, _Reply):
            return ix
        message = self._webhook_target(ix, message_id)
        return message if isinstance(message, _Reply) else _Reply(200, message)

    async def _edit_webhook_message(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> _Reply:
        ix = self._webhook_interaction(app_id, token)
        if isinstance(ix, _Reply):
            return ix
        message = self._webhook_target(ix, message_id)
        if isinstance(message, _Reply):
            return message
        body = rec.json or {}
        problem = _validate_message(body, rec.files, partial=True)
        if problem is not None:
            return problem
        self._apply_edit(message, body, rec.files)
        message["flags"] &= ~FLAG_LOADING
        return _Reply(200, message)

    async def _delete_webhook_message(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> _Reply:
        ix = self._webhook_interaction(app_id, token)
        if isinstance(ix, _Reply):
            return ix
        message = self._webhook_target(ix, message_id)
        if isinstance(message, _Reply):
            return message
        self._remove_message(message)
        return _Reply(204)


# --------------------------------------------------------------------- helpers


@contextlib.contextmanager
def patched_discord_endpoints(fake: FakeDiscord) -> Iterator[None]:
    """Points discord.py's REST base URL and default gateway at ``fake``; restores them on exit."""
    route = discord.http.Route
    websocket = discord.gateway.DiscordWebSocket
    old_base = route.BASE
    old_gateway = websocket.DEFAULT_GATEWAY
    route.BASE = fake.api_base
    websocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        route.BASE = old_base
        websocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_fake_discord(*, check_unhandled: bool = False, **options: Any) -> AsyncIterator[FakeDiscord]:
    """Starts a FakeDiscord (``options`` go to its constructor) with discord.py pointed at it.

    On exit the server stops and discord.py's globals are restored. With ``check_unhandled``,
    a clean exit raises AssertionError if the bot called a route the fake does not handle.
    """
    fake = FakeDiscord(**options)
    await fake.start()
    try:
        with patched_discord_endpoints(fake):
            yield fake
        if check_unhandled:
            fake.assert_no_unhandled()
    finally:
        await fake.stop()


async def _wait_until_ready(bot: discord.Client, task: asyncio.Task[None], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not bot.is_ready():
        if task.done():
            task.result()  # re-raises what bot.start raised, e.g. discord.LoginFailure
            raise AssertionError("bot.start returned before the bot was ready")
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot was not ready after {timeout}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_bot(
    bot: discord.Client, token: str = "fake-token", *, timeout: float = 10.0
) -> AsyncIterator[discord.Client]:
    """Runs ``bot.start(token)`` until the bot is ready, yields it, and closes it on exit.

    Raises what ``bot.start`` raised before ready (e.g. ``discord.LoginFailure``), or
    AssertionError after ``timeout`` seconds. Construct the bot with a small
    ``guild_ready_timeout`` (e.g. 0.1) or ``on_ready`` waits 2 s.
    """
    task = asyncio.create_task(bot.start(token), name="fake-discord-bot")
    try:
        await _wait_until_ready(bot, task, timeout)
        yield bot
    finally:
        await bot.close()
        try:
            await asyncio.wait_for(task, timeout)
        except Exception:  # already raised to the caller, or a close-time error
            log.debug("bot task ended with an error", exc_info=True)


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with discord.py pointed at it; fails on unhandled routes."""
    async with running_fake_discord(check_unhandled=True) as fake:
        yield fake
