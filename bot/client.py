"""`NewsBot`: the discord.py bot, with its dependencies passed in. Features live in `bot/cogs/`."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import friendly_message
from bot.options import BadOptionError
from bot.ratelimit import RateLimiter
from bot.schedule import Clock, utc_now
from bot.state import BotState
from retrieval.settings import Settings

if TYPE_CHECKING:
    from ingest.indexer import Indexer
    from retrieval.summaries import StorySummariser
    from retrieval.conversation import ConversationEngine
    from retrieval.retriever import Retriever

log = logging.getLogger(__name__)

COGS = ("bot.cogs.conversation", "bot.cogs.lookup", "bot.cogs.admin", "bot.cogs.follow", "bot.cogs.briefings")


def intents() -> discord.Intents:
    """Only what the bot needs: guilds, messages, and message content (to read mentions)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


class NewsBot(commands.AutoShardedBot):
    """The newsbot Discord client. Sharded through AutoShardedBot (`SHARD_COUNT`, or as many as
    Discord recommends).

    Takes the parts `bot.app.build_app` built: the `engine` answers (its retriever serves
    `/search`), the `indexer` writes (`/reindex`, `/remove`, `/article`, `/stats`), the `state`
    remembers threads and votes, watches and daily briefings; the `clock` (UTC now) says when a
    daily briefing is due; the `summariser` (when a chat model is configured) sums up briefing
    stories."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: ConversationEngine,
        indexer: Indexer,
        state: BotState,
        clock: Clock = utc_now,
        summariser: StorySummariser | None = None,
        **options: Any,
    ) -> None:
        # The bot has no voice features: no start-up warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.shard_count,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.engine = engine
        self.indexer = indexer
        self.state = state
        self.clock = clock
        self.summariser = summariser
        self.rate_limiter = RateLimiter(settings.questions_per_minute)
        self.reindex_lock = asyncio.Lock()
        self.tree.error(self.on_app_command_error)  # the tree's setter: checks the signature

    @property
    def retriever(self) -> Retriever:
        """The engine's retriever: the one `/search` and the answers both use."""
        return self.engine.retriever

    async def setup_hook(self) -> None:
        for extension in COGS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("could not load %s", extension)
        # Runs after the token was accepted and before the gateway connects: a bad token fails
        # fast, and the first question does not pay for loading the models and keyword index.
        for name, part in (("retriever", self.retriever), ("reader", self.engine)):
            warm_up = getattr(part, "warm_up", None)
            if callable(warm_up):
                try:
                    await asyncio.to_thread(warm_up)
                except Exception as e:  # the store may come back: answer what can be answered
                    log.warning("could not warm up the %s (%s: %s)", name, type(e).__name__, e)
        # The model, the store client and the keyword index live as long as the process. A full
        # garbage collection walking them holds the event loop for up to a second (a stall users
        # notice, and interactions expire after 3 s): move them out of the collector's sight.
        gc.collect()
        gc.freeze()
        if self.settings.dev_guild_id:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.settings.dev_guild_id)

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) on %d shard(s)", self.user, getattr(self.user, "id", "?"), self.shard_count or 1)

    async def on_message(self, message: discord.Message) -> None:
        # No text commands: questions are handled by the conversation cog, and admin actions are
        # reachable only through slash commands, where permissions are checked.
        return

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.CheckFailure):
            message = "You don't have permission to use this command."
        elif isinstance(original, BadOptionError):
            message = str(original)
        else:
            message = friendly_message(original)
        await send_ephemeral(interaction, message)


async def send_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Reply to an interaction privately, whether or not it was already acknowledged."""
    none = discord.AllowedMentions.none()
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True, allowed_mentions=none)
        else:
            await interaction.response.send_message(message, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException:
        log.warning("could not tell the user: %s", message)
