"""Time phrases in a question: the periods it names and whether it asks for the newest.

`read_time_phrases("what happened since Monday?", today)` returns the periods named, in the order
they are read, each resolved against `today` (the day the question was asked), and whether the
question asks for the latest news ("latest", "recently"). Dates named outright ("in 1995", "on
2 August", "between 1987 and 1992") are kept apart from relative ones ("since Monday", "last
week", "in the past 3 days"): the question parser (`retrieval.query`) filters by the second kind
and only prefers the first. A time word inside a name ("the Sunday Times", "Theresa May") is not
a date. Never raises: a phrase that is not a valid date ("31 February") is no period.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9,
    "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12,
    "december": 12,
}  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"  # noqa: E501
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
_YEAR = r"(?:19|20)\d\d\b"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day\b"
_RELATIVE_WORDS = re.compile(
    r"\b(?:last|this|previous|past|next|yesterday|today|tonight|monday|tuesday|wednesday|thursday"
    r"|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_RELATIVE = r"(?:(?:last|this|previous|past)\s+(?:week|month|year)|yesterday|today|tonight)\b"
_DATE = (
    rf"(?:\d{{4}}-\d\d-\d\d\b"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?"
    rf"|{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?"
    rf"|{_MONTH}(?:,?\s+{_YEAR})?"
    rf"|{_YEAR}|{_WEEKDAY}|{_RELATIVE})"
)
# The first end of "between 1 and 5 March": a bare day borrows the month of the second.
_DATE_OR_DAY = rf"(?:{_DATE}|{_DAY})"

_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip

_RANGE_RE = re.compile(
    rf"\b(?:between|from)\s+(?P<a>{_DATE_OR_DAY})\s+(?:and|to|until|till|through|-)\s+(?P<b>{_DATE})",
    re.IGNORECASE,
)
_ROLLING_RE = re.compile(
    r"\b(?:(?:in|during|over|within)\s+)?the\s+(?:past|last)\s+(?P<n>\d+|a|an|one|two|three|four|five"
    r"|six|seven|eight|nine|ten)?\s*(?P<unit>days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)
_BOUND_RE = re.compile(
    rf"\b(?P<op>since|after|from|before|until|till|up\s+to|prior\s+to)\s+(?:the\s+)?(?P<d>{_DATE})",
    re.IGNORECASE,
)
_IN_RE = re.compile(
    rf"\b(?:in|during|throughout|on)\s+(?:the\s+)?(?P<d>{_DATE})(?:'s)?", re.IGNORECASE
)
# Relative phrases that need no preposition. "last year" is left out on purpose: "profits
# doubled compared with last year" is about the story, not about when it was published.
_BARE_RE = re.compile(
    r"\b(?P<d>(?:last|this|previous|past)\s+(?:week|month)|this\s+year|yesterday|today|tonight)\b(?:'s)?",
    re.IGNORECASE,
)
_RECENT_RE = re.compile(
    r"\b(?:the\s+)?(?:latest|most\s+recent(?:ly)?|newest|most\s+up[\s-]to[\s-]date|recent(?:ly)?|lately)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Span:
    start: date
    end: date
    explicit_year: bool = True


def _month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _last_weekday(today: date, weekday: int) -> date:
    """The most recent `weekday` strictly before today ("since Monday" on a Monday: a week ago)."""
    back = (today.weekday() - weekday) % 7 or 7
    return today - timedelta(days=back)


def _relative_span(expr: str, today: date) -> _Span | None:
    words = expr.split()
    if expr in ("today", "tonight"):
        return _Span(today, today)
    if expr == "yesterday":
        day = today - timedelta(days=1)
        return _Span(day, day)
    if len(words) != 2:
        return None
    which, unit = words
    past = which in ("last", "previous", "past")
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        if past:
            return _Span(monday - timedelta(days=7), monday - timedelta(days=1))
        # "This week" in news means the past seven days: a story from Sunday is "this week's"
        # on Thursday, though the calendar week began on Monday.
        return _Span(min(monday, today - timedelta(days=6)), today)
    if unit == "month":
        first = today.replace(day=1)
        if past:
            last_month_end = first - timedelta(days=1)
            return _Span(last_month_end.replace(day=1), last_month_end)
        return _Span(first, today)
    if unit == "year":
        if past:
            return _Span(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
        return _Span(date(today.year, 1, 1), today)
    return None


def _resolve(expr: str, today: date, *, year: int | None = None, month: int | None = None) -> _Span | None:
    """Return the days `expr` (matched by `_DATE` or `_DATE_OR_DAY`) covers, or None.

    A day or month without a year is the most recent one not after today, unless `year` (and,
    for a bare day, `month`) come from the other end of a range."""
    text = re.sub(r"\s+", " ", expr.lower().replace(",", " ").replace(".", " ")).strip()
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", r"\1", text).replace(" of ", " ")
    try:
        if m := re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", text):
            day = date(int(m[1]), int(m[2]), int(m[3]))
            return _Span(day, day)
        if text in _WEEKDAYS:
            day = _last_weekday(today, _WEEKDAYS.index(text))
            return _Span(day, day)
        if span := _relative_span(text, today):
            return span
        if m := re.fullmatch(r"(\d{4})", text):
            return _Span(date(int(m[1]), 1, 1), date(int(m[1]), 12, 31))
        parts = text.split()
        day_n: int | None = None
        month_n: int | None = None
        year_n: int | None = None
        for part in parts:
            if part.isdigit() and len(part) == 4:
                year_n = int(part)
            elif part.isdigit():
                day_n = int(part)
            elif part in _MONTHS:
                month_n = _MONTHS[part]
            else:
                return None
        explicit = year_n is not None
        month_n = month_n or month
        if month_n is None:
            return None
        if year_n is None:
            year_n = year
        if day_n is not None:
            if year_n is None:
                candidate = date(today.year, month_n, day_n)
                year_n = today.year if candidate <= today else today.year - 1
            day = date(year_n, month_n, day_n)
            return _Span(day, day, explicit)
        if year_n is None:
            year_n = today.year if month_n <= today.month else today.year - 1
        return _Span(*_month_span(year_n, month_n), explicit)
    except ValueError:  # 31 February and the like: not a date, so not a filter
        return None


def _rolling_span(n_text: str | None, unit: str, today: date) -> _Span:
    n = 1 if not n_text else (_NUMBER_WORDS.get(n_text.lower()) or int(n_text))
    unit = unit.lower().rstrip("s")
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[unit] * n
    return _Span(today - timedelta(days=days), today)



# Words that begin or make up a date phrase, and so can be taken for one inside a name.
_TIME_WORDS = frozenset(
    "today tonight tomorrow yesterday last this past previous next day week month year morning "
    "night after".split()
) | frozenset(_WEEKDAYS) | frozenset(_MONTHS)
# Those that are written in lower case unless they open a sentence or are part of a name.
_LOWER_TIME_WORDS = frozenset(
    "today tonight tomorrow yesterday last this past previous next day week month year morning night after".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*|\d+")
_QUOTED = re.compile(r"\"[^\"]+\"|“[^”]+”|(?<!\w)'[^']+'(?!\w)|‘[^’]+’")


def _name_time_words(question: str) -> list[tuple[int, int]]:
    """The spans of time words that are part of a name or title, not a date: quoted titles ("The
    Day After Tomorrow"), capitalised words that are lower-case as dates ("the Today programme"),
    and weekdays or months next to another capitalised word ("the Sunday Times", "Theresa May")."""
    spans = [(m.start(), m.end()) for q in _QUOTED.finditer(question) for m in _WORD.finditer(question, q.start(), q.end())]
    words = list(_WORD.finditer(question))

    def opens_sentence(i: int) -> bool:
        before = question[: words[i].start()].rstrip()
        return i == 0 or not before or before[-1] in ".!?:\"“"

    def capital_name_word(i: int) -> bool:
        if not 0 <= i < len(words) or opens_sentence(i):
            return False
        word = words[i].group(0)
        return word[:1].isupper() and word.lower() not in _TIME_WORDS and not word.isdigit()

    for i, m in enumerate(words):
        word = m.group(0)
        lower = re.sub(r"['’]s$", "", word.lower())
        if lower not in _TIME_WORDS or not word[:1].isupper() or opens_sentence(i):
            continue
        if lower in _LOWER_TIME_WORDS or capital_name_word(i - 1) or capital_name_word(i + 1):
            spans.append((m.start(), m.end()))
    return spans


_PART_OF_YEAR_RE = re.compile(
    rf"\b(?:in\s+|during\s+)?the\s+(?P<which>first|last|final)\s+(?P<n>\d+|two|three|four|five|six|seven|eight|nine|ten)?"
    rf"\s*(?P<unit>months?|quarter)\s+of\s+(?P<y>{_YEAR})",
    re.IGNORECASE,
)


def _part_of_year(m: re.Match[str]) -> _Span:
    """"the last three months of 2004" -> October to December 2004."""
    year = int(m["y"])
    n = 3 if m["unit"].lower() == "quarter" else (_NUMBER_WORDS.get((m["n"] or "one").lower()) or int(m["n"]))
    n = min(max(n, 1), 12)
    if m["which"].lower() == "first":
        return _Span(date(year, 1, 1), _month_span(year, n)[1])
    return _Span(date(year, 13 - n, 1), date(year, 12, 31))


class Period(NamedTuple):
    """A period a question names. `start`/`end` are inclusive (None: open on that side).
    `relative` ("last week", "since Monday") scopes the news itself; a date named outright is
    about the event. `guessed_year`: the phrase named no year ("in December"), so it was assumed."""

    start: date | None
    end: date | None
    relative: bool
    guessed_year: bool = False


class TimePhrases(NamedTuple):
    """What `read_time_phrases` found: the `periods` in the order read, and `prefer_recent` when
    the question asks for the newest ("latest", "most recent", "lately")."""

    periods: list[Period]
    prefer_recent: bool


def read_time_phrases(text: str, today: date) -> TimePhrases:
    """Read the periods `text` names and whether it asks for the latest news.

    Phrases are read most specific first ("the last three months of 2004", ranges, "the past 3
    days", "since"/"before" bounds, "in"/"on" dates, bare "last week"); each phrase read is
    blanked out so a shorter pattern cannot read it again. Returns a `TimePhrases`; never raises."""
    periods: list[Period] = []
    # `scan` is the text being read, with time words of names and phrases already read blanked out.
    scan = text
    for name_start, name_end in _name_time_words(text):
        scan = scan[:name_start] + "\x00" * (name_end - name_start) + scan[name_end:]

    def consume(m: re.Match[str]) -> None:
        nonlocal scan
        scan = scan[: m.start()] + "\x00" * (m.end() - m.start()) + scan[m.end() :]

    def is_relative(expr: str) -> bool:
        return bool(_RELATIVE_WORDS.search(expr))

    for m in list(_PART_OF_YEAR_RE.finditer(scan)):
        part = _part_of_year(m)
        periods.append(Period(part.start, part.end, relative=False))
        consume(m)

    for m in list(_RANGE_RE.finditer(scan)):
        end_span = _resolve(m["b"], today)
        start_span = None
        if end_span is not None:
            start_span = _resolve(m["a"], today, year=end_span.start.year, month=end_span.start.month)
        if start_span is None or end_span is None:
            continue
        start = start_span.start
        if start > end_span.end and not start_span.explicit_year:
            start = start.replace(year=start.year - 1)
        guessed = not (start_span.explicit_year or end_span.explicit_year)
        periods.append(Period(start, end_span.end, relative=is_relative(m.group(0)), guessed_year=guessed))
        consume(m)

    for m in list(_ROLLING_RE.finditer(scan)):
        rolling = _rolling_span(m["n"], m["unit"], today)
        periods.append(Period(rolling.start, rolling.end, relative=True))
        consume(m)

    for m in list(_BOUND_RE.finditer(scan)):
        span = _resolve(m["d"], today)
        if span is None:
            continue
        op = m["op"].lower().split()[0]
        if op in ("since", "from"):
            periods.append(Period(span.start, None, relative=True))
        elif op == "after":
            periods.append(Period(span.end + timedelta(days=1), None, relative=True))
        elif op in ("before", "prior"):
            periods.append(Period(None, span.start - timedelta(days=1), relative=True))
        else:  # until, till, up to
            periods.append(Period(None, span.end, relative=True))
        consume(m)

    for m in list(_IN_RE.finditer(scan)):
        span = _resolve(m["d"], today)
        # "What will happen in 2030?" is about the future, not about when articles were written.
        if span is None or span.start > today:
            continue
        periods.append(
            Period(span.start, span.end, relative=is_relative(m["d"]), guessed_year=not span.explicit_year)
        )
        consume(m)

    for m in list(_BARE_RE.finditer(scan)):
        span = _resolve(m["d"], today)
        if span is None:
            continue
        periods.append(Period(span.start, span.end, relative=is_relative(m["d"])))
        consume(m)

    return TimePhrases(periods, prefer_recent=bool(_RECENT_RE.search(scan)))
