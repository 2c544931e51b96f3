"""Search filters read from the question: which outlet, which dates, whether the newest matter.

`parse_filters("what did NPR report about the envoy last week?", today=..., known_outlets=...)`
returns the question without the filter phrases (what is searched for) and the `SearchFilters`
("NPR", the previous Monday-Sunday week). Outlets are only recognised when the store holds them
(`known_outlets`) and only in phrases that name a source ("according to the BBC", "on CNN",
"what did NPR report about"), so a question *about* the BBC is not restricted to the BBC.
Relative dates ("since Monday", "last week", "yesterday") resolve against `today`; the time
phrases are read by `retrieval.date_phrases`.

Outlet names are compared tolerantly (`retrieval.outlets`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple
from datetime import date

from retrieval.date_phrases import read_time_phrases
from retrieval.models import SearchFilters
from retrieval.outlets import outlet_pattern, outlet_words, resolve_outlets
from retrieval.text import FILLER_WORDS

_SOURCE_VERBS = r"(?:report|say|said|write|wrote|written|publish|cover|run|ran|tell|told|state|claim)\w*"
# What may follow "on CNN" when CNN is the source, not part of a longer name ("on the BBC
# licence fee" is about the BBC).
_AFTER_SOURCE = (
    r"(?=\s*(?:[?.!,;:)]|$|\b(?:about|regarding|concerning|on|of|over|in|during|since|between|"
    r"from|this|last|yesterday|today|for|when|and|or|that|lately|recently|report\w*|say\w*|said|"
    r"write|wrote|written|cover\w*)\b))"
)


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


@dataclass(frozen=True)
class Coverage:
    """The publish dates the store holds: `oldest` and `newest`, both None when no article has a
    date (the BBC corpus). A period a question asks about is compared with it."""

    oldest: date | None = None
    newest: date | None = None

    @property
    def dated(self) -> bool:
        return self.oldest is not None and self.newest is not None


class ParsedQuestion(NamedTuple):
    """What `parse_filters` read from a question.

    `text` is what is searched: the question as asked, minus the phrases that name a source
    ("according to the BBC"). Time phrases stay in it: "last year's Cosafa Cup" is part of what
    the article says. `uncovered` is the period the question asks about when it lies outside the
    store's `Coverage` (after the newest article, or a relative period before the oldest): the
    answer should say what the articles cover instead of quoting."""

    text: str
    filters: SearchFilters
    uncovered: tuple[date | None, date | None] | None = None



def parse_filters(
    question: str, *, today: date, known_outlets: list[str], coverage: Coverage | None = None
) -> ParsedQuestion:
    """Read the filters a question states and what is to be searched.

    Returns the question without the phrases that name a source (the original question when
    nothing else would remain), the `SearchFilters`, and the asked period when it lies outside
    `coverage`. Outlets come back spelled as in `known_outlets`; dates are inclusive; relative
    dates resolve against `today` (the day the question was asked). Time phrases stay in the
    searched text; a time word inside a name ("the Sunday Times") is not a date. With a
    `coverage`, a period narrows or ranks only when the store has articles dated in it (none of
    it applies to an undated store); without one, every period applies. Never raises: a phrase
    that is not a valid date ("31 February") is left alone."""
    text = question
    outlets: list[str] = []
    since: date | None = None
    until: date | None = None
    uncovered: tuple[date | None, date | None] | None = None

    def narrow(start: date | None, end: date | None, *, hard: bool, guessed_year: bool = False) -> bool:
        """Apply the period when the store has articles in it; True when it was applied.
        `guessed_year`: the question named no year ("in December"), so it was assumed."""
        nonlocal since, until, uncovered
        if coverage is not None:
            if not coverage.dated:
                return False
            assert coverage.oldest is not None and coverage.newest is not None
            after = start is not None and start > coverage.newest
            before = end is not None and end < coverage.oldest
            # "in December" names no year: the December of the event may be any year's, so
            # the store's dates cannot say it is not covered (BBC questions over a store that
            # also holds 2022 CNN articles: four of them abstained when they did).
            if (after and (hard or not guessed_year)) or (hard and before):
                uncovered = (start, end)
                return False
            if before or after:  # "in 1995" over articles from 2004 on: the event, not the article
                return False
        if start is not None:
            since = start if since is None else max(since, start)
        if end is not None:
            until = end if until is None else min(until, end)
        return True

    known = [o for o in known_outlets if o and o.strip()]
    if known:
        outlet, by_alias = outlet_pattern(known)
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
                    key = " ".join(outlet_words(alias))
                    for name in by_alias.get(key, []) + resolve_outlets([key], known):
                        if name not in outlets:
                            outlets.append(name)
                keep = m.groupdict().get("keep") or ""
                text = text[: m.start()] + f" {keep} " + text[m.end() :]

    # Dates named outright ("in 1995", "in January 2005", "on 2 August", "between 1987 and 1992")
    # usually say when the event happened, not when the article was written: they become a soft
    # preference. Relative dates ("since Monday", "last week", "this week", "in the past 3 days")
    # scope the news itself: they filter. Neither is removed from the searched text.
    hard = False
    soft = False
    phrases = read_time_phrases(text, today)
    for period in phrases.periods:
        applied = narrow(period.start, period.end, hard=period.relative, guessed_year=period.guessed_year)
        if applied and period.relative:
            hard = True
        elif applied:
            soft = True
    prefer_recent = phrases.prefer_recent

    cleaned = _tidy(text)
    if not _has_content(cleaned):
        cleaned = question.strip()
    elif cleaned and cleaned[0].islower() and question.strip()[:1].isupper():
        cleaned = cleaned[0].upper() + cleaned[1:]
    filters = SearchFilters(
        outlets=outlets, since=since, until=until, prefer_recent=prefer_recent, soft_dates=soft and not hard
    )
    return ParsedQuestion(cleaned, filters, uncovered)


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
    _, filters, _ = parse_filters(phrase, today=today, known_outlets=[])
    if filters.since is None:
        raise ValueError(f"I couldn't read the date {text!r}; try 2024-03-01, 'Monday' or 'last week'.")
    return filters.since
