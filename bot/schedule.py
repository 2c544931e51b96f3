"""Scheduled daily briefings: when each is due, and posting it once per local day.

A schedule (`bot.state.BriefSchedule`) names a channel, a time of day and maybe a topic; the
guild's time zone (`/brief schedule timezone:`, else the `BRIEF_TIMEZONE` setting) says what
"08:00" means. `BriefScheduler.tick()` runs every `BRIEF_CHECK_SECONDS`: a schedule is due when
the local time has reached its time and it has not posted on this local day. The day it posted
is recorded in the state store, so a restart the same day does not post it again; a bot that was
down at the time posts when it comes back, the same day.

The clock is the bot's (`NewsBot(clock=...)`), so tests move time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import discord

from bot.formatting import render_briefing, split_message
from bot.state import BriefSchedule
from retrieval.briefing import brief
from retrieval.text import format_date

if TYPE_CHECKING:
    from bot.client import NewsBot

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_HH_MM = re.compile(r"^\s*([01]?\d|2[0-3])[:.h]([0-5]\d)\s*$")


def utc_now() -> datetime:
    """The real clock: now, in UTC."""
    return datetime.now(UTC)


def parse_time(text: str) -> str:
    """`text` ("8:00", "08:00", "17.30") as "HH:MM". Raises ValueError naming it otherwise."""
    found = _HH_MM.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time of day: give it as HH:MM, e.g. 08:00 or 17:30.")
    return f"{int(found.group(1)):02d}:{found.group(2)}"


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (an IANA name). Raises ValueError naming it when unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(
            f"{name!r} is not a time zone I know: use a name such as Europe/London, America/New_York or UTC."
        ) from e


def local_day_if_due(schedule: BriefSchedule, now: datetime, tz: ZoneInfo) -> str | None:
    """The local date (ISO) whose briefing `schedule` owes at `now`, None when it owes none: the
    local time has not reached its time yet, or it already posted today."""
    local = now.astimezone(tz)
    hours, minutes = (int(part) for part in schedule.at.split(":"))
    if local.time() < time(hours, minutes):
        return None
    today = local.date().isoformat()
    return None if schedule.last_day == today else today


def first_last_day(at: str, now: datetime, tz: ZoneInfo) -> str:
    """The `last_day` a new schedule starts with: today when its time has already passed today
    (its first briefing is tomorrow's: a schedule set at 09:00 for 08:00 does not post at once),
    '' otherwise."""
    probe = BriefSchedule(channel_id=0, guild_id=0, user_id=0, at=at)
    return local_day_if_due(probe, now, tz) or ""


class BriefScheduler:
    """Posts the scheduled briefings that are due (see the module docstring)."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self._ticking = asyncio.Lock()

    def timezone_of(self, guild_id: int) -> ZoneInfo:
        """The guild's time zone, else the configured default."""
        name = self.bot.state.timezone(guild_id) or self.bot.settings.brief_timezone
        return zone(name)

    async def tick(self) -> int:
        """Post every briefing due now; returns how many were posted."""
        async with self._ticking:
            now = self.bot.clock()
            posted = 0
            for schedule in await asyncio.to_thread(self.bot.state.schedules):
                tz = await asyncio.to_thread(self.timezone_of, schedule.guild_id)
                day = local_day_if_due(schedule, now, tz)
                if day is not None and await self.post(schedule, day):
                    posted += 1
            return posted

    async def post(self, schedule: BriefSchedule, day: str) -> bool:
        """Post one daily briefing and record its day. A briefing that cannot be made (the store
        is down) is tried again at the next tick; one Discord refuses is logged, not retried
        that day."""
        try:
            briefing = await brief(
                self.bot.retriever, topic=schedule.topic, summariser=self.bot.summariser
            )
        except Exception as e:
            log.warning("daily briefing for %s not made (%s: %s); trying again", schedule.channel_id,
                        type(e).__name__, e)
            return False
        await asyncio.to_thread(self.bot.state.mark_briefed, schedule.channel_id, day)
        channel = self.bot.get_partial_messageable(schedule.channel_id)
        try:
            heading = f"**Daily briefing, {format_date(date.fromisoformat(day))}**\n"
            for piece in split_message(heading + render_briefing(briefing)):
                await channel.send(piece, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as e:
            log.warning("daily briefing could not post in %s: %s", schedule.channel_id, e)
            return False
        log.info("posted the daily briefing of %s in %s (%d stories)", day, schedule.channel_id, len(briefing.stories))
        return True
