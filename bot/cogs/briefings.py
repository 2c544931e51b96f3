"""Briefings: `/brief now` (the top stories of a period), and daily briefings a channel gets at a
time of day (`/brief schedule`, `/brief unschedule`, `/brief list`).

The briefing is `retrieval.briefing.brief`; when a daily briefing is due and posting it is
`bot.schedule.BriefScheduler`, which this cog runs every `BRIEF_CHECK_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.client import send_ephemeral
from bot.cogs.follow import MAX_TOPIC_CHARS, cannot_post, may_manage_watches
from bot.formatting import render_briefing, split_message
from bot.options import OUTLET_HELP, TOPIC_HELP, BadOptionError, outlets_option, since_option
from bot.schedule import BriefScheduler, first_last_day, parse_time, zone
from bot.state import BriefSchedule
from retrieval.briefing import brief as make_briefing

if TYPE_CHECKING:
    from bot.client import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
NEEDS_PERMISSION = "Daily briefings need the Manage Channels permission (or an admin role)."
SERVERS_ONLY = "Daily briefings post in a server's channels; `/brief now` works here."


class Briefings(commands.Cog):
    brief = app_commands.Group(name="brief", description="Briefings: the top stories of a period, now or every day.")

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.scheduler = BriefScheduler(bot)

    async def cog_load(self) -> None:
        self.ticker.change_interval(seconds=self.bot.settings.brief_check_seconds)
        self.ticker.start()

    async def cog_unload(self) -> None:
        self.ticker.cancel()

    @brief.command(name="now", description="The top stories of a period (default: the latest day).")
    @app_commands.describe(
        topic=TOPIC_HELP,
        since="From this date (2025-03-01, 'Monday', 'last week'); default: the day before the newest article",
        outlet=OUTLET_HELP,
    )
    async def now(
        self, interaction: discord.Interaction, topic: str | None = None, since: str | None = None,
        outlet: str | None = None,
    ) -> None:
        day = since_option(since, self.bot.engine.today())
        await interaction.response.defer(thinking=True)
        briefing = await make_briefing(
            self.bot.retriever, since=day, topic=topic or "", outlets=outlets_option(outlet),
            summariser=self.bot.summariser,
        )
        for piece in split_message(render_briefing(briefing)):
            await interaction.followup.send(piece, allowed_mentions=NONE)

    @brief.command(name="schedule", description="Post a briefing in a channel every day at a time.")
    @app_commands.describe(
        time="Time of day, HH:MM (e.g. 08:00), in the server's time zone",
        timezone="The server's time zone for all its daily briefings (e.g. Europe/London); default: as set before",
        topic=TOPIC_HELP,
        channel="Where to post (default: here)",
    )
    async def schedule(
        self, interaction: discord.Interaction, time: str, timezone: str | None = None, topic: str | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        guild = interaction.guild
        if guild is None or interaction.channel_id is None:
            await send_ephemeral(interaction, SERVERS_ONLY)
            return
        if not may_manage_watches(interaction):
            log.warning("refused /brief schedule to %s (%s)", interaction.user, interaction.user.id)
            await send_ephemeral(interaction, NEEDS_PERMISSION)
            return
        topic = " ".join((topic or "").split())
        if len(topic) > MAX_TOPIC_CHARS:
            raise BadOptionError(f"A briefing topic takes at most {MAX_TOPIC_CHARS} characters.")
        try:
            at = parse_time(time)
            tz = zone(timezone) if timezone else await asyncio.to_thread(self.scheduler.timezone_of, guild.id)
        except ValueError as e:
            raise BadOptionError(str(e)) from e
        target_id = channel.id if channel is not None else interaction.channel_id
        missing = cannot_post(interaction, channel)
        if missing:
            await send_ephemeral(interaction, f"I can't post in <#{target_id}>: I need the {missing} permission there.")
            return
        if timezone:
            await asyncio.to_thread(self.bot.state.set_timezone, guild.id, tz.key)
        last_day = first_last_day(at, self.bot.clock(), tz)
        saved = BriefSchedule(target_id, guild.id, interaction.user.id, at, topic, last_day)
        await asyncio.to_thread(self.bot.state.set_schedule, saved)
        log.info("daily briefing at %s %s (topic %r) in %s by %s (%s)", at, tz.key, topic, target_id,
                 interaction.user, interaction.user.id)
        about = f" on **{topic}**" if topic else ""
        first = "tomorrow" if last_day else "today"
        await send_ephemeral(
            interaction,
            f"A daily briefing{about} will be posted in <#{target_id}> at {at} ({tz.key}), from {first} on. "
            "`/brief unschedule` stops it.",
        )

    @brief.command(name="unschedule", description="Stop a channel's daily briefing.")
    @app_commands.describe(channel="The channel whose daily briefing stops (default: here)")
    async def unschedule(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        if interaction.guild is None or interaction.channel_id is None:
            await send_ephemeral(interaction, SERVERS_ONLY)
            return
        if not may_manage_watches(interaction):
            await send_ephemeral(interaction, NEEDS_PERMISSION)
            return
        target_id = channel.id if channel is not None else interaction.channel_id
        ours = {s.channel_id for s in await asyncio.to_thread(self.bot.state.schedules, guild_id=interaction.guild.id)}
        if target_id not in ours or not await asyncio.to_thread(self.bot.state.remove_schedule, target_id):
            await send_ephemeral(interaction, f"<#{target_id}> has no daily briefing (`/brief list` shows them).")
            return
        log.info("daily briefing in %s stopped by %s (%s)", target_id, interaction.user, interaction.user.id)
        await send_ephemeral(interaction, f"Stopped the daily briefing in <#{target_id}>.")

    @brief.command(name="list", description="This server's daily briefings.")
    async def list_schedules(self, interaction: discord.Interaction) -> None:
        if interaction.guild is None:
            await send_ephemeral(interaction, SERVERS_ONLY)
            return
        guild_id = interaction.guild.id
        listed = await asyncio.to_thread(self.bot.state.schedules, guild_id=guild_id)
        tz = await asyncio.to_thread(self.scheduler.timezone_of, guild_id)
        if not listed:
            await send_ephemeral(interaction, f"No daily briefing here (time zone {tz.key}). `/brief schedule` starts one.")
            return
        today = self.bot.clock().astimezone(tz).date().isoformat()
        lines = [f"Daily briefings (time zone {tz.key}):"] + [
            f"`{s.at}` in <#{s.channel_id}>" + (f" on **{s.topic}**" if s.topic else "")
            + (" - next: tomorrow" if s.last_day == today else " - next: today")
            for s in listed
        ]
        for piece in split_message("\n".join(lines)):
            await send_ephemeral(interaction, piece)

    # --- the daily briefings ------------------------------------------------------------------
    @tasks.loop(seconds=30)
    async def ticker(self) -> None:
        try:
            await self.scheduler.tick()
        except Exception:
            log.exception("posting the daily briefings failed; trying again at the next check")

    @ticker.before_loop
    async def before_ticker(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Briefings(bot))
