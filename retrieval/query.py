"""Search filters read from the question: which outlet, which dates, whether the newest matter.

`parse_filters("what did NPR report about the envoy last week?", today=..., known_outlets=...)`
returns the question without the filter phrases (what is searched for) and the `SearchFilters`
("NPR", the previous Monday-Sunday week). Outlets are only recognised when the store holds them
(`known_outlets`) and only in phrases that name a source ("according to the BBC", "on CNN",
"what did NPR report about"), so a question *about* the BBC is not restricted to the BBC.
Relative dates ("since Monday", "last week", "yesterday") resolve against `today`.

`outlet_matches` / `resolve_outlets` are the tolerant outlet comparison used by the retriever:
"BBC", "the BBC" and "bbc.co.uk" all match the outlet "BBC News".
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from retrieval.models import SearchFilters
from retrieval.text import FILLER_WORDS

# --- outlets ------------------------------------------------------------------------------------

# Words that say nothing about which outlet is meant ("BBC News" is the BBC).
_GENERIC_OUTLET_WORDS = frozenset({"the", "news", "online", "com", "co", "uk", "org", "net", "www"})


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w for w in words if w != "the"]


def _core(words: list[str]) -> list[str]:
    return [w for w in words if w not in _GENERIC_OUTLET_WORDS]


def _acronym(words: list[str]) -> str:
    return "".join(w[0] for w in words) if len(words) >= 3 else ""


def outlet_matches(requested: str, outlet: str) -> bool:
    """True when `requested` (as a user writes it) names `outlet` (as the store holds it).

    Case, "the", punctuation and generic words ("News", ".com") are ignored; a name matches a
    longer name it starts ("BBC" matches "BBC Sport"), and an acronym matches its words ("NPR",
    "National Public Radio")."""
    r, o = _words(requested), _words(outlet)
    if not r or not o:
        return False
    if r == o:
        return True
    core_r, core_o = _core(r) or r, _core(o) or o
    if core_r == core_o or "".join(core_r) == "".join(core_o):
        return True
    if core_o[: len(core_r)] == core_r:
        return True
    joined_r, joined_o = "".join(core_r), "".join(core_o)
    return joined_r in (_acronym(o), _acronym(core_o)) or joined_o in (_acronym(r), _acronym(core_r))


def resolve_outlets(requested: Iterable[str], known: Iterable[str]) -> list[str]:
    """Return the known outlets (store spelling, sorted) that any of `requested` names."""
    known = list(known)
    return sorted({o for o in known for r in requested if outlet_matches(r, o)})


def _outlet_aliases(outlet: str) -> set[str]:
    """Ways a question may name `outlet`: its words, its core words, its acronym."""
    words = _words(outlet)
    aliases = {" ".join(words)} if words else set()
    core = _core(words)
    if core:
        aliases.add(" ".join(core))
    for acronym in (_acronym(words), _acronym(core)):
        if len(acronym) >= 3:
            aliases.add(acronym)
    # "BBC Sport", "CNN Business": the leading acronym names the outlet on its own.
    first = re.findall(r"[A-Za-z0-9]+", re.sub(r"^\s*the\s+", "", outlet, flags=re.IGNORECASE))
    if len(first) >= 2 and first[0].isupper() and 2 <= len(first[0]) <= 5:
        aliases.add(first[0].lower())
    return {a for a in aliases if a}


# --- dates --------------------------------------------------------------------------------------

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


# --- the parser ---------------------------------------------------------------------------------

_SOURCE_VERBS = r"(?:report|say|said|write|wrote|written|publish|cover|run|ran|tell|told|state|claim)\w*"
# What may follow "on CNN" when CNN is the source, not part of a longer name ("on the BBC
# licence fee" is about the BBC).
_AFTER_SOURCE = (
    r"(?=\s*(?:[?.!,;:)]|$|\b(?:about|regarding|concerning|on|of|over|in|during|since|between|"
    r"from|this|last|yesterday|today|for|when|and|or|that|lately|recently|report\w*|say\w*|said|"
    r"write|wrote|written|cover\w*)\b))"
)


def _outlet_pattern(known_outlets: list[str]) -> tuple[str, dict[str, list[str]]]:
    """Regex alternation over every alias of the known outlets, longest first, and alias ->
    the outlets it names ("BBC" names both "BBC News" and "BBC Sport")."""
    by_alias: dict[str, list[str]] = {}
    for outlet in sorted(known_outlets):
        for alias in _outlet_aliases(outlet):
            by_alias.setdefault(alias, []).append(outlet)
    aliases = sorted(by_alias, key=len, reverse=True)
    pieces = [r"[\s.\-]*".join(re.escape(w) for w in alias.split()) for alias in aliases]
    return r"(?:" + "|".join(rf"\b{p}\b" for p in pieces) + r")", by_alias


def _remove(text: str, start: int, end: int) -> str:
    return text[:start] + " " + text[end:]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([?.!,;:])", r"\1", text)
    text = re.sub(r"([,;:])\s*(?=[,;:?.!]|$)", "", text)
    text = re.sub(r"^\s*[,;:]\s*", "", text)
    # "latest on Brexit" -> "Brexit", not "on Brexit"
    text = re.sub(r"^\s*(?:on|about|regarding|concerning)\s+(?=\S)", "", text, flags=re.IGNORECASE)
    return text.strip()


def _has_content(text: str) -> bool:
    return any(w not in FILLER_WORDS for w in re.findall(r"[a-z0-9]+", text.lower()))


def parse_filters(question: str, *, today: date, known_outlets: list[str]) -> tuple[str, SearchFilters]:
    """Split a question into what to search for and the filters it states.

    Returns the question with the filter phrases removed (the original question when nothing
    but filter words would remain) and the `SearchFilters`. Outlets come back spelled as in
    `known_outlets`; dates are inclusive; relative dates resolve against `today`. Never raises:
    a phrase that is not a valid date ("31 February") is left in the question."""
    text = question
    outlets: list[str] = []
    since: date | None = None
    until: date | None = None

    def narrow(start: date | None, end: date | None) -> None:
        nonlocal since, until
        if start is not None:
            since = start if since is None else max(since, start)
        if end is not None:
            until = end if until is None else min(until, end)

    known = [o for o in known_outlets if o and o.strip()]
    if known:
        outlet, by_alias = _outlet_pattern(known)
        the = r"(?:the\s+)?"
        many = rf"{the}{outlet}(?:\s*(?:,|\band\b|\bor\b)\s*{the}{outlet})*"
        source_patterns = [
            # "What did NPR report about X?", "Has CNN covered X?" -> "X?"
            rf"^\s*(?:so\s+|and\s+)?(?:(?:what|which\s+\w+)\s+)?(?:did|does|has|have|had|is|was|were|are)\s+"
            rf"{many}(?:'s)?\s+(?:been\s+)?{_SOURCE_VERBS}(?:\s+(?:about|on|regarding|concerning|of))?\s+",
            rf",?\s*\baccording\s+to\s+{many}\s*,?",
            rf"\b(?:on|from|in|by|at|via)\s+{many}(?:'s\s+(?:website|site|coverage|reporting))?{_AFTER_SOURCE}",
            rf"\b{many}(?:'s)?\s+(?:reports?|reporting|reported|coverage|stories|story|articles?)\s+"
            rf"(?:about|on|of|regarding|concerning)\s+",
            rf"\b(?P<keep>did|does|has|have|had)\s+{many}(?=\s+{_SOURCE_VERBS})",
        ]
        alias_re = re.compile(outlet, re.IGNORECASE)
        for pattern in source_patterns:
            regex = re.compile(pattern, re.IGNORECASE)
            while m := regex.search(text):
                for alias in alias_re.findall(m.group(0)):
                    key = " ".join(_words(alias))
                    for name in by_alias.get(key, []) + resolve_outlets([key], known):
                        if name not in outlets:
                            outlets.append(name)
                keep = m.groupdict().get("keep") or ""
                text = text[: m.start()] + f" {keep} " + text[m.end() :]

    # Dates named outright ("in 1995", "in January 2005", "on 2 August", "between 1987 and 1992")
    # usually say when the event happened, not when the article was written: they become a soft
    # preference and stay in the searched text. Relative dates ("since Monday", "last week",
    # "this week", "in the past 3 days") scope the news itself: they filter.
    hard = False
    soft = False

    def is_relative(expr: str) -> bool:
        return bool(_RELATIVE_WORDS.search(expr))

    while m := _RANGE_RE.search(text):
        end_span = _resolve(m["b"], today)
        start_span = None
        if end_span is not None:
            start_span = _resolve(m["a"], today, year=end_span.start.year, month=end_span.start.month)
        if start_span is None or end_span is None:
            break
        start = start_span.start
        if start > end_span.end and not start_span.explicit_year:
            start = start.replace(year=start.year - 1)
        narrow(start, end_span.end)
        if is_relative(m.group(0)):
            hard = True
            text = _remove(text, m.start(), m.end())
        else:
            soft = True
            text = text[: m.start()] + "\x00" * (m.end() - m.start()) + text[m.end() :]

    while m := _ROLLING_RE.search(text):
        span = _rolling_span(m["n"], m["unit"], today)
        narrow(span.start, span.end)
        hard = True
        text = _remove(text, m.start(), m.end())

    for m in list(_BOUND_RE.finditer(text))[::-1]:
        span = _resolve(m["d"], today)
        if span is None:
            continue
        op = m["op"].lower().split()[0]
        if op in ("since", "from"):
            narrow(span.start, None)
        elif op == "after":
            narrow(span.end + timedelta(days=1), None)
        elif op in ("before", "prior"):
            narrow(None, span.start - timedelta(days=1))
        else:  # until, till, up to
            narrow(None, span.end)
        hard = True
        text = _remove(text, m.start(), m.end())

    for m in list(_IN_RE.finditer(text))[::-1]:
        span = _resolve(m["d"], today)
        # "What will happen in 2030?" is about the future, not about when articles were written.
        if span is None or span.start > today:
            continue
        narrow(span.start, span.end)
        if is_relative(m["d"]):
            hard = True
            text = _remove(text, m.start(), m.end())
        else:
            soft = True

    for m in list(_BARE_RE.finditer(text))[::-1]:
        span = _resolve(m["d"], today)
        if span is None:
            continue
        narrow(span.start, span.end)
        if is_relative(m["d"]):
            hard = True
            text = _remove(text, m.start(), m.end())
        else:
            soft = True

    prefer_recent = False
    while m := _RECENT_RE.search(text):
        prefer_recent = True
        text = _remove(text, m.start(), m.end())

    text = re.sub(r"\x00+", lambda m: question[m.start() : m.end()], text) if "\x00" in text else text
    cleaned = _tidy(text)
    if not _has_content(cleaned):
        cleaned = question.strip()
    elif cleaned and cleaned[0].islower() and question.strip()[:1].isupper():
        cleaned = cleaned[0].upper() + cleaned[1:]
    filters = SearchFilters(
        outlets=outlets, since=since, until=until, prefer_recent=prefer_recent, soft_dates=soft and not hard
    )
    return cleaned, filters


def parse_date_option(text: str, today: date) -> date:
    """Read a date a user typed in a command option: an ISO date ("2024-03-01") or words like
    "last week", "Monday" or "since March" (resolved against `today`). Returns the first day
    meant. Raises ValueError naming `text` when it is not a date this can read."""
    phrase = text.strip()
    try:
        return date.fromisoformat(phrase)
    except ValueError:
        pass
    # parse_filters reads dates in the phrases a question states them in ("since Monday",
    # "last week"); a bare "Monday" or "March" is read as "since ...".
    if not re.match(r"(?:since|last|this|in|yesterday|today)\b", phrase, re.I):
        phrase = f"since {phrase}"
    _, filters = parse_filters(phrase, today=today, known_outlets=[])
    if filters.since is None:
        raise ValueError(f"I couldn't read the date {text!r}; try 2024-03-01, 'Monday' or 'last week'.")
    return filters.since
