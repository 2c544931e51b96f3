"""Daily briefings through the fake Discord (the real discord.py client): `/brief schedule` is for
members who manage channels, and the briefing posts once a day at its local time, by the bot's
injected clock, across a restart, until `/brief unschedule`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.schedule import first_last_day, local_day_if_due, parse_time, zone
from bot.state import BotState, BriefSchedule
from tests.support.bot_fixtures import NewsStack, make_bot
from tests.support.fake_discord import FakeDiscord, pings, running_bot
from tests.support.waiting import until

EPHEMERAL = 64
TICK = 0.05


class Clock:
    """The bot's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def daily_posts(fake: FakeDiscord, channel_id: int) -> list[dict[str, Any]]:
    """The first message of each daily briefing the bot posted in `channel_id`."""
    sent = fake.requests_to("POST", rf"/channels/{channel_id}/messages")
    return [r.json for r in sent if r.json and (r.json.get("content") or "").startswith("**Daily briefing")]


async def reply(fake: FakeDiscord, name: str, options: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    ix = await fake.interaction(name, options or {}, **kw)
    return (await ix.wait_for_response())["data"]  # type: ignore[no-any-return]


async def ticks(n: int = 10) -> None:
    """Let the scheduler run about `n` times."""
    await asyncio.sleep(n * TICK)


async def test_a_daily_briefing_posts_once_a_day_at_its_local_time_until_unscheduled(
    news_stack: NewsStack, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    # 07:00 UTC is 08:00 in Paris (UTC+1 in March): before the 09:30 briefing.
    clock = Clock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    state = BotState(tmp_path / "bot.sqlite")
    bot = make_bot(news_stack, fake, state, clock=clock, brief_check_seconds=TICK)
    async with running_bot(bot):
        refused = await reply(fake, "brief schedule", {"time": "09:30"}, user=fake.user)
        bad_zone = await reply(fake, "brief schedule", {"time": "09:30", "timezone": "Mars/Olympus"}, user=fake.admin)
        bad_time = await reply(fake, "brief schedule", {"time": "half past nine"}, user=fake.admin)
        accepted = await reply(fake, "brief schedule", {"time": "09:30", "timezone": "Europe/Paris"}, user=fake.admin)
        await ticks()
        before_time = daily_posts(fake, fake.channel_id)

        clock.now = datetime(2026, 3, 2, 8, 31, tzinfo=UTC)  # 09:31 in Paris
        await until(lambda: daily_posts(fake, fake.channel_id), timeout=30, what="the daily briefing")
        await ticks()
        first_day = daily_posts(fake, fake.channel_id)
        listing = await reply(fake, "brief list", user=fake.user)

    # A restart the same day: the briefing was posted today, not again.
    state = BotState(tmp_path / "bot.sqlite")
    async with running_bot(make_bot(news_stack, fake, state, clock=clock, brief_check_seconds=TICK)):
        await ticks()
        after_restart = daily_posts(fake, fake.channel_id)
        clock.now = datetime(2026, 3, 3, 8, 31, tzinfo=UTC)
        await until(lambda: len(daily_posts(fake, fake.channel_id)) == 2, timeout=30, what="the next day's briefing")
        await ticks()
        next_day = daily_posts(fake, fake.channel_id)

        stopped = await reply(fake, "brief unschedule", user=fake.admin)
        clock.now = datetime(2026, 3, 4, 8, 31, tzinfo=UTC)
        await ticks()
        after_unschedule = daily_posts(fake, fake.channel_id)
    state.close()

    assert refused["flags"] & EPHEMERAL and "Manage Channels" in refused["content"]
    assert bad_zone["flags"] & EPHEMERAL and "'Mars/Olympus' is not a time zone" in bad_zone["content"]
    assert bad_time["flags"] & EPHEMERAL and "'half past nine' is not a time of day" in bad_time["content"]
    assert accepted["flags"] & EPHEMERAL
    assert "at 09:30 (Europe/Paris), from today on" in accepted["content"]
    assert before_time == []
    assert len(first_day) == 1, "posted once, not at every tick"
    post = first_day[0]["content"]
    assert post.startswith("**Daily briefing, 2 March 2026**\n**Briefing: ")
    assert "](<https://" in post and pings(first_day[0]) == set()
    assert first_day[0]["allowed_mentions"]["parse"] == []
    assert "Europe/Paris" in listing["content"] and "`09:30`" in listing["content"]
    assert "`09:30` in <#" in listing["content"] and "next: tomorrow" in listing["content"]
    assert len(after_restart) == 1
    assert len(next_day) == 2 and next_day[1]["content"].startswith("**Daily briefing, 3 March 2026**")
    assert stopped["content"].startswith("Stopped the daily briefing")
    assert len(after_unschedule) == 2
    assert fake.rejected == []


def test_a_schedule_is_due_once_per_local_day_from_its_time() -> None:
    paris = zone("Europe/Paris")
    s = BriefSchedule(channel_id=1, guild_id=2, user_id=3, at=parse_time("9:30"))
    assert s.at == "09:30"
    assert local_day_if_due(s, datetime(2026, 3, 2, 8, 29, tzinfo=UTC), paris) is None  # 09:29 there
    assert local_day_if_due(s, datetime(2026, 3, 2, 8, 30, tzinfo=UTC), paris) == "2026-03-02"
    posted = BriefSchedule(1, 2, 3, "09:30", last_day="2026-03-02")
    assert local_day_if_due(posted, datetime(2026, 3, 2, 22, 0, tzinfo=UTC), paris) is None
    # 23:30 UTC on the 2nd is 00:30 on the 3rd in Paris: a new day, before its time.
    assert local_day_if_due(posted, datetime(2026, 3, 2, 23, 30, tzinfo=UTC), paris) is None
    assert local_day_if_due(posted, datetime(2026, 3, 3, 8, 30, tzinfo=UTC), paris) == "2026-03-03"
    # Scheduled after its time today: the first briefing is tomorrow's.
    assert first_last_day("09:30", datetime(2026, 3, 2, 12, 0, tzinfo=UTC), paris) == "2026-03-02"
    assert first_last_day("09:30", datetime(2026, 3, 2, 6, 0, tzinfo=UTC), paris) == ""


@pytest.mark.parametrize("text", ["24:00", "9", "08:60", "noon"])
def test_a_time_that_is_not_hh_mm_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        parse_time(text)


def test_an_unknown_default_time_zone_is_refused_at_start_up_naming_it() -> None:
    from pydantic import ValidationError

    from retrieval.settings import Settings

    with pytest.raises(ValidationError, match="BRIEF_TIMEZONE 'Mars/Olympus' is not a known time zone"):
        Settings(brief_timezone="Mars/Olympus", _env_file=None)  # type: ignore[call-arg]
    assert Settings(brief_timezone="Europe/Paris", _env_file=None).brief_timezone == "Europe/Paris"  # type: ignore[call-arg]


async def test_brief_now_shows_each_story_as_the_chat_models_verified_summary(
    news_stack: NewsStack, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    import itertools

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from retrieval.settings import Settings
    from retrieval.summaries import StorySummariser

    replies = itertools.cycle([AIMessage(content='Told by its first article [1]. Said "nowhere in it" [1].')])
    summariser = StorySummariser(Settings(_env_file=None), GenericFakeChatModel(messages=replies))  # type: ignore[call-arg]
    state = BotState(tmp_path / "bot.sqlite")
    async with running_bot(make_bot(news_stack, fake_discord, state, summariser=summariser)):
        ix = await fake_discord.interaction("brief now", {"since": "2005-03-01"})
        await ix.wait_for_reply(timeout=60)
        await asyncio.sleep(0.5)
        text = "\n\n".join(m.get("content") or "" for m in ix.followups)
    state.close()

    stories = [block for block in text.split("\n\n")[1:] if block.startswith("**")]
    assert stories and all(block.split("\n")[0].split(" ", 1)[1].startswith("Told by its first article [") for block in stories)
    assert "nowhere in it" not in text
