"""The fake Discord works with the real discord.py client, end to end."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from tests.support.fake_discord import (
    DISCORD_EPOCH_MS,
    CommandUnavailable,
    FakeDiscord,
    FakeDiscordError,
    fake_discord,
    pings,
    running_bot,
    running_fake_discord,
)

# The fixture is imported for pytest to find; naming it here marks the import as used.
__all__ = ["fake_discord"]


class ButtonView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="More", custom_id="more")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button[ButtonView]) -> None:
        await interaction.response.send_message("more sources", ephemeral=True)


class AskModal(discord.ui.Modal, title="Ask the newsroom"):
    question: discord.ui.TextInput[AskModal] = discord.ui.TextInput(label="Question", custom_id="question")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"You asked: {self.question.value}", allowed_mentions=discord.AllowedMentions.none()
        )


class TinyBot(commands.Bot):
    """The smallest bot exercising what the news bot does on Discord."""

    def __init__(self, guild_id: int, *, message_content: bool = True, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(
            command_prefix="!",
            intents=intents,
            guild_ready_timeout=0.1,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.dev_guild = discord.Object(guild_id)
        self.seen: list[discord.Message] = []
        self.seen_event = asyncio.Event()

        @self.tree.command(name="ping", description="Check the bot answers")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.followup.send("pong", allowed_mentions=discord.AllowedMentions.none())

        @self.tree.command(name="ask", description="Ask a question about the news")
        @app_commands.describe(question="What you want to know", sources="How many sources to show")
        async def ask(interaction: discord.Interaction, question: str, sources: int = 3) -> None:
            await interaction.response.send_message(
                f"{question} ({sources} sources)", view=ButtonView(), allowed_mentions=discord.AllowedMentions.none()
            )

        @self.tree.command(name="reindex", description="Rebuild the index")
        @app_commands.default_permissions(manage_guild=True)
        async def reindex(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("reindexing", ephemeral=True)

        @self.tree.command(name="form", description="Ask through a form")
        async def form(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(AskModal())

        @self.tree.command(name="slow", description="Answers too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            await interaction.response.defer()

        @self.tree.command(name="progress", description="Reports progress by editing its reply")
        async def progress(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Starting", ephemeral=True)
            await interaction.edit_original_response(content="Halfway")
            await interaction.edit_original_response(content="Finished")

        @self.tree.command(name="private", description="Defers privately, then follows up")
        async def private(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("first", ephemeral=False)
            await interaction.followup.send("second", ephemeral=True)

        @self.tree.context_menu(name="Fact-check this")
        async def fact_check(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(
                f"Checking: {message.content}", ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )

    async def setup_hook(self) -> None:
        self.tree.copy_global_to(guild=self.dev_guild)
        await self.tree.sync(guild=self.dev_guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # the default sleeps 5 s before every IDENTIFY but the first

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.seen.append(message)
        self.seen_event.set()
        if message.content.startswith("thread:"):
            thread = await message.create_thread(name=message.content.removeprefix("thread:").strip())
            await thread.send("Discussion here", allowed_mentions=discord.AllowedMentions.none())
            return
        await message.channel.send(f"You said: {message.content}", allowed_mentions=discord.AllowedMentions.none())


class TinyShardedBot(TinyBot, commands.AutoShardedBot):
    pass


async def until(condition: Any, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def wait_seen(bot: TinyBot, count: int, timeout: float = 5.0) -> discord.Message:
    async def seen_enough() -> None:
        while len(bot.seen) < count:
            bot.seen_event.clear()
            await bot.seen_event.wait()

    await asyncio.wait_for(seen_enough(), timeout)
    return bot.seen[count - 1]


async def test_login_ready_and_command_sync(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        assert bot.user is not None and bot.user.id == fake.bot_user.id
        assert bot.application_id == fake.application_id
        guild = bot.get_guild(fake.guild_id)
        assert guild is not None and not guild.unavailable
        assert guild.get_channel(fake.channel_id) is not None
        assert {m.id for m in guild.members} >= {fake.bot_user.id}
        assert guild.owner_id == fake.owner.id
        admin = guild.get_role(fake.admin_role_id)
        assert admin is not None and admin.permissions.manage_guild

        app_info = await bot.application_info()
        assert app_info.owner.id == fake.owner.id
        assert [r.path for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]

        synced = {c["name"]: c for c in fake.commands(fake.guild_id)}
        assert set(synced) == {"ping", "ask", "reindex", "form", "slow", "progress", "private", "Fact-check this"}
        assert synced["ask"]["description"] == "Ask a question about the news"
        assert [(o["name"], o["type"], o.get("required", False)) for o in synced["ask"]["options"]] == [
            ("question", 3, True),
            ("sources", 4, False),
        ]
        assert synced["reindex"]["default_member_permissions"] == str(discord.Permissions(manage_guild=True).value)
        assert fake.commands() == []  # nothing global
        assert len(fake.identifies) == 1 and "token" not in fake.identifies[0]
        query = fake.gateway_queries[0]
        assert query["v"] == "10" and query["encoding"] == "json"
        assert query["compress"] in ("zstd-stream", "zlib-stream")  # and the fake answered in kind
    assert fake.unhandled == []


async def test_patched_globals_are_restored() -> None:
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with running_fake_discord() as fake:
        assert discord.http.Route.BASE == fake.api_base
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert discord.http.Route.BASE == base == "https://discord.com/api/v10"
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is gateway
    assert isinstance(gateway, type(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY))

    with pytest.raises(RuntimeError):
        async with running_fake_discord():
            raise RuntimeError("a failing test")
    assert discord.http.Route.BASE == base
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is gateway


async def test_unknown_routes_are_recorded_and_fail_the_check() -> None:
    with pytest.raises(AssertionError, match="GET /voice/regions"):
        async with running_fake_discord(check_unhandled=True) as fake:
            bot = TinyBot(fake.guild_id)
            async with running_bot(bot):
                with pytest.raises(discord.NotFound):
                    await bot.http.request(discord.http.Route("GET", "/voice/regions"))
            assert [(r.method, r.path, r.status) for r in fake.unhandled] == [("GET", "/voice/regions", 404)]


async def test_json_content_type_is_exact(fake_discord: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{fake_discord.api_base}/gateway") as response:
        assert response.headers["Content-Type"] == "application/json"
        assert (await response.json())["url"] == fake_discord.gateway_url


async def test_message_reply_pings_nobody(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        sent = await fake.user_message(f"hi {fake.bot_user.mention} and {fake.admin.mention} @everyone")
        request = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
        assert request.json["allowed_mentions"] == {"parse": []}
        assert request.json["content"].startswith("You said: hi")
        assert pings(request.json) == set()
        # Without allowed_mentions, the same text would have pinged everyone it names.
        everybody = {f"user:{fake.bot_user.id}", f"user:{fake.admin.id}", "everyone"}
        assert pings({"content": request.json["content"]}) == everybody

        received = bot.seen[0]
        assert received.id == int(sent["id"])
        assert isinstance(received.channel, discord.TextChannel)
        assert isinstance(received.author, discord.Member) and received.author.id == fake.user.id
        assert bot.user in received.mentions

        reply = await fake.wait_for_bot_message(fake.channel_id)
        assert reply["author"]["id"] == str(fake.bot_user.id)
        assert fake.messages_in(fake.channel_id)[-1] is reply


async def test_dm_is_answered(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        await fake.dm_message("what's new?", author=fake.user)
        dm_id = int(fake.dm_channel(fake.user)["id"])
        request = await fake.wait_for_request("POST", rf"/channels/{dm_id}/messages")
        assert request.json["content"] == "You said: what's new?"
        message = await wait_seen(bot, 1)
        assert isinstance(message.channel, discord.DMChannel)
        assert message.guild is None

        # The bot opening a DM itself goes through POST /users/@me/channels.
        member = bot.get_guild(fake.guild_id).get_member(fake.admin.id)  # type: ignore[union-attr]
        if member is None:
            member = await bot.get_guild(fake.guild_id).fetch_member(fake.admin.id)  # type: ignore[union-attr]
        await member.send("hello", allowed_mentions=discord.AllowedMentions.none())
        await fake.wait_for_request("POST", r"/users/@me/channels")
        admin_dm = int(fake.dm_channel(fake.admin)["id"])
        assert fake.messages_in(admin_dm)[-1]["content"] == "hello"


async def test_slash_command_defers_then_follows_up(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        ix = await fake.interaction("ping", user=fake.user)
        callback = await fake.wait_for_request("POST", rf"/interactions/{ix.id}/{ix.token}/callback")
        assert callback.query == {"with_response": "1"}
        assert callback.json == {"type": 5}
        assert (await ix.wait_for_response())["type"] == 5
        followup = await fake.wait_for_request("POST", rf"/webhooks/{fake.application_id}/{ix.token}")
        assert followup.json["content"] == "pong"
        assert followup.json["allowed_mentions"] == {"parse": []}
        reply = await ix.wait_for_reply()
        assert reply["content"] == "pong"
        assert reply["id"] == str(ix.original_message_id)  # the followup replaced "thinking..."
        assert reply["interaction_metadata"]["user"]["id"] == str(fake.user.id)
        assert (await fake.wait_for_bot_message(fake.channel_id))["content"] == "pong"  # not "thinking..."


async def test_slash_command_options_and_button(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        ix = await fake.interaction("ask", {"question": "Who won?", "sources": 2})
        response = await ix.wait_for_response()
        assert response["type"] == 4
        assert response["data"]["content"] == "Who won? (2 sources)"
        assert response["data"]["allowed_mentions"] == {"parse": []}
        button = response["data"]["components"][0]["components"][0]
        assert button["custom_id"] == "more"

        click = await fake.component_interaction("more", user=fake.admin)
        assert click.message_id == ix.original_message_id
        click_response = await click.wait_for_response()
        assert click_response["type"] == 4
        assert click_response["data"]["content"] == "more sources"
        assert click_response["data"]["flags"] & 64  # ephemeral
        assert fake.requests_to("POST", rf"/interactions/{click.id}/{click.token}/callback")

        with pytest.raises(FakeDiscordError):
            await fake.interaction("ask", {"sources": 2})  # the required option is missing
        with pytest.raises(FakeDiscordError):
            await fake.component_interaction("no-such-button")


async def test_command_permissions_and_modal(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        with pytest.raises(CommandUnavailable):
            await fake.interaction("reindex", user=fake.user)
        with pytest.raises(CommandUnavailable):
            await fake.interaction("never-synced")
        with pytest.raises(CommandUnavailable):
            await fake.interaction("ping", dm=True)  # synced to the guild only
        ix = await fake.interaction("reindex", user=fake.admin)
        assert (await ix.wait_for_response())["data"]["flags"] == 64

        opened = await fake.interaction("form")
        assert (await opened.wait_for_response())["type"] == 9
        submitted = await fake.modal_submit(opened, {"question": "Any news on <@everyone>?"})
        reply = await submitted.wait_for_reply()
        assert reply["content"] == "You asked: Any news on <@everyone>?"


async def test_late_interaction_response_is_rejected() -> None:
    async with running_fake_discord(check_unhandled=True, interaction_ack_timeout=0.1) as fake:
        bot = TinyBot(fake.guild_id)
        async with running_bot(bot):
            await fake.interaction("slow")
            rejected = await fake.wait_for_request("POST", r"/interactions/\d+/[^/]+/callback")
            assert rejected.status == 404
            assert rejected.response["code"] == 10062
            assert fake.rejected == [rejected]


async def test_thread_from_message_and_message_inside(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        started = await fake.user_message("thread: Election night")
        create = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages/{started['id']}/threads")
        assert create.json["name"] == "Election night"
        thread_id = int(create.response["id"])
        assert thread_id == int(started["id"])  # Discord reuses the starter message id
        thread = fake.channel(thread_id)
        assert thread is not None and thread["type"] == 11 and thread["parent_id"] == str(fake.channel_id)
        first = await fake.wait_for_request("POST", rf"/channels/{thread_id}/messages")
        assert first.json["content"] == "Discussion here"

        await fake.user_message("and in the thread?", channel_id=thread_id)
        inside = await wait_seen(bot, 2)
        assert isinstance(inside.channel, discord.Thread)
        assert inside.channel.id == thread_id and inside.channel.parent_id == fake.channel_id
        answer = await fake.wait_for_request("POST", rf"/channels/{thread_id}/messages")
        assert answer.json["content"] == "You said: and in the thread?"

        # A thread a user opens is announced with THREAD_CREATE before anyone posts in it.
        user_thread = await fake.create_thread("Reader questions", owner=fake.user)
        await fake.user_message("hello thread", channel_id=int(user_thread["id"]))
        seen = await wait_seen(bot, 3)
        assert isinstance(seen.channel, discord.Thread) and seen.channel.name == "Reader questions"


async def test_rejected_token_raises_login_failure() -> None:
    async with running_fake_discord(check_unhandled=True, token="the-right-token") as fake:
        bot = TinyBot(fake.guild_id)
        with pytest.raises(discord.LoginFailure):
            async with running_bot(bot, token="a-wrong-token"):
                pass
        assert fake.requests[0].path == "/users/@me" and fake.requests[0].status == 401
        assert bot.is_closed()


async def test_message_over_2000_characters_is_rejected(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        channel = bot.get_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as raised:
            await channel.send("x" * 2001)
        assert raised.value.status == 400 and raised.value.code == 50035
        with pytest.raises(discord.HTTPException) as empty:
            await channel.send(embeds=[])
        assert empty.value.code == 50006
        fake.inject_error(
            "POST", rf"/channels/{fake.channel_id}/messages", 403, code=50013, message="Missing Permissions"
        )
        with pytest.raises(discord.Forbidden):
            await channel.send("hi")


async def test_file_upload_and_attachment_download(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        await fake.user_message("see attached", attachments=[("article.txt", b"Breaking news")])
        message = await wait_seen(bot, 1)
        assert await message.attachments[0].read() == b"Breaking news"

        channel = bot.get_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("report", file=discord.File(__file__, filename="report.py"))
        request = fake.requests_to("POST", rf"/channels/{fake.channel_id}/messages")[-1]
        assert request.json["content"] == "report" and request.files[0].filename == "report.py"
        assert sent.attachments[0].filename == "report.py"


async def test_reconnect_resumes_the_session(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    async with running_bot(bot):
        await fake.reconnect()
        await asyncio.wait_for(resumed.wait(), 5)
        assert any(p["op"] == 6 for p in fake.gateway_received)
        await fake.user_message("still there?")
        request = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
        assert request.json["content"] == "You said: still there?"
        assert len(fake.identifies) == 1


def guild_id_on_shard(shard_id: int, shard_count: int) -> int:
    """A snowflake for a guild that Discord puts on ``shard_id`` (shard = (id >> 22) % count)."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms - ms % shard_count + shard_id) << 22


@pytest.mark.parametrize("shard_count", [2, None], ids=["shard_count=2", "recommended"])
async def test_auto_sharded_bot(shard_count: int | None) -> None:
    # The guild on shard 1 and DMs on shard 0: each event must reach the right connection.
    options: dict[str, Any] = {"recommended_shards": 2, "guild_id": guild_id_on_shard(1, 2)}
    async with running_fake_discord(check_unhandled=True, **options) as fake:
        bot = TinyShardedBot(fake.guild_id, shard_count=shard_count)
        async with running_bot(bot):
            assert sorted(i["shard"][0] for i in fake.identifies) == [0, 1]
            assert bot.shard_count == 2
            guild = bot.get_guild(fake.guild_id)
            assert guild is not None and guild.shard_id == 1
            await fake.user_message("sharded hello")
            request = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
            assert request.json["content"] == "You said: sharded hello"
            await fake.dm_message("dm on shard 0")
            await fake.wait_for_request("POST", r"/channels/\d+/messages")
            ix = await fake.interaction("ping")
            assert (await ix.wait_for_reply())["content"] == "pong"
        if shard_count is None:
            assert fake.requests_to("GET", r"/gateway/bot")


async def test_without_message_content_intent_guild_text_is_empty() -> None:
    async with running_fake_discord(check_unhandled=True) as fake:
        bot = TinyBot(fake.guild_id, message_content=False)
        async with running_bot(bot):
            await fake.user_message("secret")
            first = await wait_seen(bot, 1)
            assert first.content == ""
            await fake.user_message(f"{fake.bot_user.mention} visible")
            second = await wait_seen(bot, 2)
            assert second.content.endswith("visible")


async def test_dm_slash_command_and_context_menu(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        await bot.tree.sync()  # now global too, so usable in DMs
        assert {c["name"] for c in fake.commands()} >= {"ping", "ask"}
        ix = await fake.interaction("ping", dm=True, user=fake.admin)
        assert "guild_id" not in ix.payload and ix.payload["context"] == 1
        assert (await ix.wait_for_reply())["content"] == "pong"
        assert ix.original is not None and int(ix.original["channel_id"]) == int(fake.dm_channel(fake.admin)["id"])

        posted = await fake.user_message("The moon is made of cheese")
        await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
        check = await fake.interaction("Fact-check this", command_type=3, target=int(posted["id"]))
        response = await check.wait_for_response()
        assert response["data"]["content"] == "Checking: The moon is made of cheese"


async def test_replies_and_echoed_bot_messages() -> None:
    async with running_fake_discord(check_unhandled=True, echo_bot_messages=True) as fake:
        bot = TinyBot(fake.guild_id)
        async with running_bot(bot):
            await fake.user_message("first")
            answer = await fake.wait_for_bot_message(fake.channel_id)
            # Discord sends the bot its own message back; the bot must not answer itself.
            await until(lambda: any(m.id == int(answer["id"]) for m in bot.cached_messages))

            await fake.user_message("a follow-up question", reply_to=int(answer["id"]))
            reply = await wait_seen(bot, 2)
            assert reply.reference is not None and reply.reference.message_id == int(answer["id"])
            assert bot.user in reply.mentions  # Discord's default reply pings the replied-to author
            await fake.wait_for_bot_message(fake.channel_id)
            assert len(fake.bot_messages(fake.channel_id)) == 2


@pytest.mark.parametrize("mode", ["zlib-stream", "zstd-stream", None])
async def test_gateway_compression_modes(fake_discord: FakeDiscord, mode: str | None) -> None:
    zstandard = pytest.importorskip("zstandard") if mode == "zstd-stream" else None
    url = f"{fake_discord.gateway_url}?v=10&encoding=json" + (f"&compress={mode}" if mode else "")
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        inflate: Any = zlib.decompressobj() if mode == "zlib-stream" else None
        if zstandard is not None:
            inflate = zstandard.ZstdDecompressor().decompressobj()
        await ws.send_str(json.dumps({"op": 2, "d": {"token": "t", "intents": 0, "properties": {}}}))
        events = []
        for _ in range(3):
            frame = await asyncio.wait_for(ws.receive(), 5)
            if mode is None:
                assert frame.type is aiohttp.WSMsgType.TEXT
                events.append(json.loads(frame.data))
            else:
                assert frame.type is aiohttp.WSMsgType.BINARY
                if mode == "zlib-stream":
                    assert frame.data.endswith(b"\x00\x00\xff\xff")  # what discord.py waits for
                events.append(json.loads(inflate.decompress(frame.data)))
    assert [(e["op"], e["t"], e["s"]) for e in events] == [(10, None, None), (0, "READY", 1), (0, "GUILD_CREATE", 2)]


async def test_edits_of_the_original_response_and_ephemeral_followups(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        ix = await fake.interaction("progress", user=fake.admin)
        assert (await ix.wait_for_response())["data"]["flags"] == 64
        path = rf"/webhooks/{fake.application_id}/{ix.token}/messages/@original"
        assert (await fake.wait_for_request("PATCH", path)).json["content"] == "Halfway"
        assert (await fake.wait_for_request("PATCH", path)).json["content"] == "Finished"
        assert ix.original is not None and ix.original["content"] == "Finished"
        assert ix.original["edited_timestamp"] is not None

        deferred = await fake.interaction("private")
        assert (await deferred.wait_for_response()) == {"type": 5, "data": {"flags": 64}}
        first = await deferred.wait_for_followup()
        second = await deferred.wait_for_followup()
        # The first followup replaces the private "thinking..." message, so it stays private.
        assert first["id"] == str(deferred.original_message_id) and first["flags"] & 64
        assert second["content"] == "second" and second["flags"] & 64


async def test_rate_limited_request_is_retried(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    bot = TinyBot(fake.guild_id)
    async with running_bot(bot):
        fake.inject_error("POST", rf"/channels/{fake.channel_id}/messages", 429, retry_after=0.05)
        await fake.user_message("are you rate limited?")
        limited = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
        retried = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
        assert (limited.status, retried.status) == (429, 200)
        assert retried.json == limited.json
