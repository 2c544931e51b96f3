"""Following the news: topic watches (`/watch`, `/watches`, `/unwatch`) that post new stories
after every ingest, this process's or another's (noticed through the store version). Briefings
(`/brief ...`) are in `bot.cogs.briefings`.

The matching is `retrieval.watches.match_new`; what was matched and posted is kept in the bot
state (`bot.state.BotState`), so a restart neither loses watches nor posts a story again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.client import send_ephemeral
from bot.cogs.admin import is_admin
from bot.formatting import render_watch_posts, split_message
from bot.options import OUTLET_HELP
from bot.state import Watch
from retrieval.watches import DIGEST_OVER, match_new

if TYPE_CHECKING:
    from bot.client import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
MAX_TOPIC_CHARS = 200
NEEDS_PERMISSION = (
    "Watches that post into a channel need the Manage Channels permission (or an admin role). "
    "You can watch a topic in your DMs with me."
)


def may_manage_watches(interaction: discord.Interaction) -> bool:
    """Manage Channels where the command runs, or an admin (`is_admin`); anyone in DMs. What
    watches and daily briefings that post into a channel need."""
    if interaction.guild is None:
        return True
    return interaction.permissions.manage_channels or is_admin(interaction)


def cannot_post(interaction: discord.Interaction, channel: discord.TextChannel | None) -> str:
    """The permission the bot lacks to post in `channel` (default: where the command runs), ''
    when it has them."""
    if channel is None or channel.id == interaction.channel_id:
        perms = interaction.app_permissions
    else:
        me = channel.guild.me
        if me is None:  # not cached: Discord will say at the first post (logged then)
            return ""
        perms = channel.permissions_for(me)
    for name in ("view_channel", "send_messages"):
        if not getattr(perms, name):
            return name.replace("_", " ").title()
    return ""


class Follow(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self._checking = asyncio.Lock()
        self._handled_version: str | None = None

    async def cog_load(self) -> None:
        # A bot's first start takes the archive as seen: watches post what arrives from now on.
        try:
            await asyncio.to_thread(self._unseen)
        except Exception as e:  # the catalog may come back; the watcher tries again
            log.warning("could not read the catalog for the watches (%s: %s)", type(e).__name__, e)
        self.watcher.change_interval(seconds=self.bot.settings.watch_check_seconds)
        self.watcher.start()

    async def cog_unload(self) -> None:
        self.watcher.cancel()

    # --- watches ------------------------------------------------------------------------------
    @app_commands.command(name="watch", description="Post new stories about a topic in a channel (or your DMs).")
    @app_commands.describe(
        topic="Words or a question: new articles about it are posted",
        outlet=OUTLET_HELP,
        channel="Where to post (default: here)",
    )
    async def watch(
        self, interaction: discord.Interaction, topic: str, outlet: str | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        topic = " ".join(topic.split())
        if not topic or len(topic) > MAX_TOPIC_CHARS:
            await send_ephemeral(interaction, f"A watch topic takes 1 to {MAX_TOPIC_CHARS} characters.")
            return
        guild = interaction.guild
        if guild is None:
            if channel is not None:
                await send_ephemeral(interaction, "In DMs a watch posts here; the channel option is for servers.")
                return
            target_id = interaction.channel_id
        else:
            if not may_manage_watches(interaction):
                log.warning("refused /watch to %s (%s)", interaction.user, interaction.user.id)
                await send_ephemeral(interaction, NEEDS_PERMISSION)
                return
            target_id = channel.id if channel is not None else interaction.channel_id
            missing = cannot_post(interaction, channel)
            if missing:
                await send_ephemeral(interaction, f"I can't post in <#{target_id}>: I need the {missing} permission there.")
                return
            existing = await asyncio.to_thread(self.bot.state.watches, guild_id=guild.id)
            if len(existing) >= self.bot.settings.watches_per_guild:
                await send_ephemeral(
                    interaction,
                    f"This server has {len(existing)} watches, the most it may have; `/unwatch` one first.",
                )
                return
        assert target_id is not None
        saved = await asyncio.to_thread(
            self.bot.state.add_watch, guild.id if guild else None, target_id, interaction.user.id, topic, outlet or ""
        )
        log.info("watch %d %r (outlet %r) in %s by %s (%s)", saved.watch_id, topic, outlet, target_id,
                 interaction.user, interaction.user.id)
        source = f" from {outlet}" if outlet else ""
        await send_ephemeral(
            interaction,
            f"Watching **{topic}**{source}: new stories will be posted in <#{target_id}>. "
            f"Watch id `{saved.watch_id}` (`/unwatch {saved.watch_id}` stops it).",
        )

    @app_commands.command(name="watches", description="The topic watches posting in this channel.")
    async def watches(self, interaction: discord.Interaction) -> None:
        listed = await asyncio.to_thread(self.bot.state.watches, channel_id=interaction.channel_id)
        if not listed:
            await send_ephemeral(interaction, "No watch posts in this channel. `/watch topic` starts one.")
            return
        lines = [self._describe(w) for w in listed]
        for piece in split_message("\n".join(lines)):
            await send_ephemeral(interaction, piece)

    @staticmethod
    def _describe(w: Watch) -> str:
        source = f" from {w.outlet}" if w.outlet else ""
        last = f" - last posted: {w.last_title}" if w.last_title else " - nothing posted yet"
        return f"`{w.watch_id}` **{w.topic}**{source}{last}"

    @app_commands.command(name="unwatch", description="Stop a topic watch.")
    @app_commands.describe(watch_id="The watch's id (see /watches)")
    @app_commands.rename(watch_id="id")
    async def unwatch(self, interaction: discord.Interaction, watch_id: int) -> None:
        found = await asyncio.to_thread(self.bot.state.watch, watch_id)
        guild_id = interaction.guild.id if interaction.guild else None
        mine = found is not None and found.guild_id == guild_id and (
            found.user_id == interaction.user.id if guild_id is None else True
        )
        if found is None or not mine:
            await send_ephemeral(interaction, f"There is no watch {watch_id} here (`/watches` lists them).")
            return
        if found.user_id != interaction.user.id and not may_manage_watches(interaction):
            await send_ephemeral(interaction, NEEDS_PERMISSION)
            return
        await asyncio.to_thread(self.bot.state.remove_watch, watch_id)
        log.info("unwatch %d by %s (%s)", watch_id, interaction.user, interaction.user.id)
        await send_ephemeral(interaction, f"Stopped watch {watch_id} ({found.topic}).")

    # --- posting new stories ------------------------------------------------------------------
    @tasks.loop(seconds=30)
    async def watcher(self) -> None:
        try:
            await self.check_watches()
        except Exception:
            log.exception("checking the watches failed; trying again at the next check")

    @watcher.before_loop
    async def before_watcher(self) -> None:
        await self.bot.wait_until_ready()

    def _unseen(self) -> dict[str, str]:
        return self.bot.state.unseen(self.bot.indexer.catalog.fingerprints())

    def _current_version(self) -> str | None:
        """Bring the keyword index up to the store (new chunks must be searchable) and return
        the version it is at."""
        index = self.bot.retriever.keyword_index
        index.refresh()
        return index.version

    async def check_watches(self) -> int:
        """Match every watch against the articles indexed since the last check and post what
        matches, once per story. Returns how many messages were posted."""
        async with self._checking:
            watches = await asyncio.to_thread(self.bot.state.watches)
            if not watches:  # nothing to match: only keep up with what is indexed
                new = await asyncio.to_thread(self._unseen)
                if new:
                    await asyncio.to_thread(self.bot.state.mark_seen, new)
                return 0
            version = await asyncio.to_thread(self._current_version)
            if version == self._handled_version:
                return 0
            new = await asyncio.to_thread(self._unseen)
            posted = 0
            if new:
                for watch in watches:
                    posted += await self._run(watch, new)
                await asyncio.to_thread(self.bot.state.mark_seen, new)
            self._handled_version = version
            return posted

    async def _run(self, watch: Watch, new: dict[str, str]) -> int:
        outlets = [watch.outlet] if watch.outlet else []
        matches = await match_new(self.bot.retriever, watch.topic, new, outlets=outlets)
        done = await asyncio.to_thread(self.bot.state.posted_stories, watch.watch_id)
        matches = [m for m in matches if m.story_id not in done]
        if not matches:
            return 0
        channel = self.bot.get_partial_messageable(watch.channel_id)
        messages = render_watch_posts(watch.watch_id, watch.topic, matches, DIGEST_OVER)
        try:
            for text in messages:
                await channel.send(text, allowed_mentions=NONE)
        except discord.HTTPException as e:
            log.warning("watch %d could not post in %s: %s", watch.watch_id, watch.channel_id, e)
            return 0
        await asyncio.to_thread(
            self.bot.state.record_posts, watch.watch_id,
            [(m.story_id, m.article.source_id, m.article.title) for m in matches],
        )
        log.info("watch %d posted %d stories in %d messages", watch.watch_id, len(matches), len(messages))
        return len(messages)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Follow(bot))
