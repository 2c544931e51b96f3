"""The answer to a question about a period the store has no articles from.

`parse_filters` reports such a period as `uncovered` (after the newest article, or a relative
period before the oldest); `uncovered_answer` says which period the articles cover instead of
quoting articles from another time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from retrieval.extractive import closest_passages
from retrieval.models import Answer, Passage
from retrieval.query import Coverage


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def describe_period(start: date | None, end: date | None) -> str:
    """ "from 1 to 7 Dec 2026", "since 1 Dec 2026", "before 1 Jan 2005", "on 2 Dec 2026"."""
    if start is not None and end is not None:
        if start == end:
            return f"on {_day(start)}"
        if start.year == end.year:
            first = f"{start.day}" if start.month == end.month else f"{start.day} {start:%b}"
            return f"from {first} to {_day(end)}"
        return f"from {_day(start)} to {_day(end)}"
    if start is not None:
        return f"since {_day(start)}"
    if end is not None:
        return f"up to {_day(end)}"
    return ""


def uncovered_answer(
    question: str, period: tuple[date | None, date | None], coverage: Coverage, passages: Sequence[Passage]
) -> Answer:
    """The answer to a question about a period the store has no articles from: it says which
    period the articles cover (instead of quoting articles from another time) and lists the
    closest ones, as an abstention does."""
    asked = describe_period(*period)
    text = f"I have no articles {asked}." if asked else "I have no articles from that time."
    if coverage.oldest is not None and coverage.newest is not None:
        text = text[:-1] + f": the articles I have run {describe_period(coverage.oldest, coverage.newest)}."
    return Answer(question=question, text=text, abstained=True, closest=closest_passages(passages))
