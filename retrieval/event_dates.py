"""When the event a sentence reports happened, resolved against its article's publish date.

News dates events relative to the day it is published: "on Monday" in an article of Sunday
12 June 2022 is 6 June, "yesterday" is the day before, "last year" in an article of 2005 is 2004.
`event_date(sentence, published)` reads the first date expression of a sentence (an explicit
date, a weekday or relative day, a month, a year) and returns the day it names with how precise
it is; a sentence that names no date happened, as far as the article
says, on the day it was published.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from retrieval.text import format_date


class Precision(str, Enum):
    """How much of an event's date is known."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class EventDate:
    """The day an event happened (the first day of its month or year when only that is known),
    how precise that is, and whether the sentence said it (`stated`) or it is the article's
    publish date."""

    day: date
    precision: Precision
    stated: bool = True

    def label(self) -> str:
        """Return the date as people read it: '6 June 2022', 'June 2022' or '2004'."""
        if self.precision is Precision.DAY:
            return format_date(self.day)
        if self.precision is Precision.MONTH:
            return f"{self.day:%B %Y}"
        return str(self.day.year)

    def end(self) -> date:
        """Return the last day the date covers: the day itself, or its month's or year's last."""
        if self.precision is Precision.DAY:
            return self.day
        if self.precision is Precision.MONTH:
            return self.day.replace(day=calendar.monthrange(self.day.year, self.day.month)[1])
        return self.day.replace(month=12, day=31)

    def sort_key(self) -> tuple[date, int]:
        """Order by day; of one month or year, the vaguer date first ("2004" before "3 March 2004")."""
        return (self.day, {Precision.YEAR: 0, Precision.MONTH: 1, Precision.DAY: 2}[self.precision])


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_WEEKDAY = r"(?P<weekday>" + "|".join(_WEEKDAYS) + r")"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}

# Explicit dates: "March 5, 2025", "Mar. 5", "5 March 2025", "5th of March".
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+{_YEAR}\b)?(?!\s*(?:%|percent|million|billion))", re.I)
_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR}\b)?", re.I)
_ISO = re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b")
# A weekday or a day relative to publication.
_RELATIVE_WEEKDAY = re.compile(rf"\b(?:(?P<which>last|next|this|on|until|since|by|from|late|early)\s+)?{_WEEKDAY}\b", re.I)
_RELATIVE_DAY = re.compile(
    r"\b(?P<word>yesterday|today|tonight|this morning|this afternoon|this evening|earlier today|"
    r"the day before|overnight)\b",
    re.I,
)
_AGO = re.compile(r"\b(?P<n>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?P<unit>day|week|month|year)s?\s+ago\b", re.I)
# A month or a year: "in March 2025", "last March", "last month", "last year", "in 2004".
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s+(?:of\s+)?{_YEAR}\b", re.I)
_BARE_MONTH = re.compile(rf"\b(?P<which>in|since|by|until|last|this|early|late|mid|mid-|during|from|through)\s*{_MONTH}\b(?!\s+\d)", re.I)
_RELATIVE_PERIOD = re.compile(
    r"\b(?P<which>last|this|earlier this|later this|next|past|previous)\s+(?P<unit>week|month|year)\b", re.I
)
_IN_YEAR = re.compile(rf"\b(?:in|since|by|until|during|of|from|early|late|mid|mid-|through|before|after)\s*{_YEAR}\b(?![-–]\d)", re.I)
# Capitalised month names that are usually words: "may" as a verb, "march" as a noun.
_AMBIGUOUS_MONTHS = frozenset({"may", "march", "jan", "mar", "sun", "dec"})
_FUTURE = re.compile(r"\b(?:will|would|is set to|are set to|is scheduled|are scheduled|is due|are due|plans? to|is expected to|are expected to|next)\b", re.I)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _month_number(word: str) -> int | None:
    return _MONTHS.get(word.lower().rstrip("."))


def _infer_year(month: int, day: int, published: date, future: bool) -> int:
    """The year of a month and day stated without one: the publish year, or the year before when
    that date would lie more than a month after publication in a sentence about the past
    ("on Dec. 30" in an article of 3 January)."""
    candidate = _safe_date(published.year, month, day) or date(published.year, month, 28)
    if not future and candidate > published + timedelta(days=31):
        return published.year - 1
    if future and candidate < published - timedelta(days=31):
        return published.year + 1
    return published.year


def _explicit(sentence: str, published: date | None, future: bool) -> tuple[int, EventDate] | None:
    found: list[tuple[int, EventDate]] = []
    for pattern in (_MONTH_DAY, _DAY_MONTH, _ISO):
        for match in pattern.finditer(sentence):
            raw_month = match.group("month")
            month = int(raw_month) if raw_month.isdigit() else _month_number(raw_month)
            day = int(match.group("day"))
            if month is None or not 1 <= day <= 31:
                continue
            if raw_month.lower().rstrip(".") in _AMBIGUOUS_MONTHS and not raw_month[0].isupper():
                continue
            year_text = match.group("year")
            if year_text:
                year = int(year_text)
            elif published is not None:
                year = _infer_year(month, day, published, future)
            else:
                continue  # "March 5" in an undated article: which year is unknown
            resolved = _safe_date(year, month, day)
            if resolved is not None:
                found.append((match.start(), EventDate(resolved, Precision.DAY)))
    return min(found, key=lambda item: item[0]) if found else None


def _weekday_or_day(sentence: str, published: date, future: bool) -> tuple[int, EventDate] | None:
    found: list[tuple[int, EventDate]] = []
    for match in _RELATIVE_WEEKDAY.finditer(sentence):
        name = match.group("weekday")
        if not name[0].isupper():
            continue
        if re.match(r"\s*(?:Times|Telegraph|Mirror|Post|Express|Night|Herald)\b", sentence[match.end():]):
            continue  # "the Sunday Times", "Monday Night Football"
        which = (match.group("which") or "").lower()
        target = _WEEKDAYS[name.lower()]
        # The weekday is ahead only when the sentence speaks of the future before it: "was
        # admitted on Friday ... and will remain" is last Friday, "will impose ... on Monday" next.
        future = future and bool(_FUTURE.search(sentence[: match.start()]))
        back = (published.weekday() - target) % 7
        if which == "next" or (future and which != "last"):
            ahead = (target - published.weekday()) % 7
            day = published + timedelta(days=ahead or 7) if which == "next" else published + timedelta(days=ahead)
        elif which == "last":
            day = published - timedelta(days=back or 7)
        else:
            day = published - timedelta(days=back)
        found.append((match.start(), EventDate(day, Precision.DAY)))
    for match in _RELATIVE_DAY.finditer(sentence):
        word = match.group("word").lower()
        day = published - timedelta(days=1) if word in ("yesterday", "the day before") else published
        found.append((match.start(), EventDate(day, Precision.DAY)))
    for match in _AGO.finditer(sentence):
        raw = match.group("n").lower()
        n = int(raw) if raw.isdigit() else (1 if raw in ("a", "an") else _NUMBER_WORDS[raw])
        unit = match.group("unit").lower()
        if unit == "day":
            found.append((match.start(), EventDate(published - timedelta(days=n), Precision.DAY)))
        elif unit == "week":
            found.append((match.start(), EventDate(published - timedelta(days=7 * n), Precision.DAY)))
        elif unit == "month":
            year, month = divmod(published.year * 12 + published.month - 1 - n, 12)
            found.append((match.start(), EventDate(date(year, month + 1, 1), Precision.MONTH)))
        else:
            found.append((match.start(), EventDate(date(published.year - n, 1, 1), Precision.YEAR)))
    return min(found, key=lambda item: item[0]) if found else None


def _period(sentence: str, published: date | None, future: bool) -> tuple[int, EventDate] | None:
    found: list[tuple[int, EventDate]] = []
    for match in _MONTH_YEAR.finditer(sentence):
        month = _month_number(match.group("month"))
        raw = match.group("month")
        if month is None or (raw.lower() in _AMBIGUOUS_MONTHS and not raw[0].isupper()):
            continue
        found.append((match.start(), EventDate(date(int(match.group("year")), month, 1), Precision.MONTH)))
    if published is not None:
        for match in _BARE_MONTH.finditer(sentence):
            raw = match.group("month")
            month = _month_number(raw)
            if month is None or not raw[0].isupper() or raw.lower() in _AMBIGUOUS_MONTHS - {"march"}:
                continue
            which = match.group("which").lower()
            year = published.year
            if which == "last" and month >= published.month:
                year -= 1
            elif which != "this" and not future and month > published.month + 1:
                year -= 1  # "in November" in an article of March is last November
            found.append((match.start(), EventDate(date(year, month, 1), Precision.MONTH)))
        for match in _RELATIVE_PERIOD.finditer(sentence):
            which, unit = match.group("which").lower(), match.group("unit").lower()
            step = {"last": -1, "past": -1, "previous": -1, "next": 1}.get(which, 0)
            if unit == "week":
                found.append((match.start(), EventDate(published + timedelta(days=7 * step), Precision.DAY)))
            elif unit == "month":
                year, month = divmod(published.year * 12 + published.month - 1 + step, 12)
                found.append((match.start(), EventDate(date(year, month + 1, 1), Precision.MONTH)))
            else:
                found.append((match.start(), EventDate(date(published.year + step, 1, 1), Precision.YEAR)))
    for match in _IN_YEAR.finditer(sentence):
        found.append((match.start(), EventDate(date(int(match.group("year")), 1, 1), Precision.YEAR)))
    return min(found, key=lambda item: item[0]) if found else None


def event_date(sentence: str, published: date | None) -> EventDate | None:
    """Return when the event `sentence` reports happened, resolved against `published` (its
    article's publish date, None when undated).

    The first date the sentence states wins: an explicit day ("March 5, 2025", "5 March"), a
    weekday or a day relative to publication ("on Monday", "yesterday", "two days ago"), a month
    or a year ("in March", "last month", "last year", "in 2004"). A sentence that
    states none gets the publish date (`stated=False`); None when it states none and the article
    is undated. A weekday after words about the future ("will meet on Friday") is the next one;
    one before them ("was admitted on Friday and will remain") the last.
    Never raises."""
    future = bool(_FUTURE.search(sentence))
    found = [_explicit(sentence, published, future), _period(sentence, published, future)]
    if published is not None:
        found.append(_weekday_or_day(sentence, published, future))
    stated = [item for item in found if item is not None]
    if stated:
        # The first date a sentence states is the one its event happened on: "The last major
        # outbreak occurred six years ago, with 1,249 cases from Jan. 1 to Oct. 1" is 2019;
        # "was hospitalized Feb. 14, the Vatican said on Tuesday" is 14 February.
        return min(stated, key=lambda item: item[0])[1]
    if published is None:
        return None
    return EventDate(published, Precision.DAY, stated=False)
