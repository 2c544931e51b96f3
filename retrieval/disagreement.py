"""Disagreements: the articles give different figures for what the question asks.

A question that asks for a number ("how many", "how much", "what percentage") is answered with
the best sentences; when the passages that answer it state different values for that quantity,
the answer says so first, newest first, each value with its outlet, date and citation:

    The articles give different figures, newest first: CNN, 5 January 2025: 155,000 [2];
    BBC, 3 January 2025: 150,000 [1].

A change by the same outlet is shown as an update ("USA Today, 4 March 2025: 159 [3], up from
58 on 18 February 2025 [1]"). A figure is the quantity asked for when it has the question's
unit (a currency for money, % for a share, the counted noun for "how many": "58 cases", "two
people had died", "the death toll rose to 12") in a sentence that is nearly as relevant as the
best one and names what the question names. Two figures are the same when one is the other
rounded ("1.13bn" and "1.1bn", "about 130" and "133") or written differently ("1.5 million",
"1,500,000"; "two", "2").
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from retrieval.evidence import ScoredSentence, SentenceScorer
from retrieval.models import Answer, Citation, Passage
from retrieval.question import AnswerType, analyse
from retrieval.roles import DIFFERENT_PEOPLE, RoleFinder
from retrieval.roles import render as render_roles
from retrieval.sentence_analysis import SentenceAnalyser
from retrieval.text import SMALL_NUMBERS, STOPWORDS, format_date, stem_words, terms

log = logging.getLogger(__name__)

QUANTITY_TYPES = frozenset({AnswerType.COUNT, AnswerType.MONEY, AnswerType.PERCENT, AnswerType.QUANTITY})
# A figure counts when its sentence scores at least this share of the best sentence's relevance.
# Fitted with SUBJECT_WINDOW on the fitted half of tests/data/story-qa.jsonl (measles, hurricanes,
# tariffs, Epstein: found 2/8 -> 5/8 at 0.6 and 12 words, 0/5 false; 0.7 and 8 words before),
# checked on the other half (the pope, the shutdown, Musk and DOGE, the LA fires: found 3/7 before
# and after, false reports 0/11 -> 1/11; README) and on ordinary questions: no answer of bbc-qa
# dev (141, 58 asking a quantity) or cnn-rtqa dev (102, 16) shows a disagreement (2026-12-03).
RELEVANT_RATIO = 0.6
MAX_SHOWN = 4  # values listed
# Figures of articles more than this many days apart are of different moments, not a dispute (a
# 2005 petrol price next to a 2022 one was the one false report on cnn-rtqa dev's quantity questions).
MAX_SPAN_DAYS = 180
UNIT_WINDOW = 3  # words after a number in which its unit may stand ("58 confirmed measles cases")
LEAD_WINDOW = 8  # words before it, with "to", "reached", "at" right before the number ("the death toll rose to 12", "infections were up to 159")
CLOSE_WINDOW = 1  # a unit word right before the number, past "at least", "more than"...: "killing at least 25", "sickened 159"
SUBJECT_WINDOW = 12  # words either side that say what a figure is a figure of (fitted: see RELEVANT_RATIO)

DIFFERENT = "The articles give different figures, newest first: "
UPDATED = "The figure was updated: "
REPORT_OPENINGS = (DIFFERENT, UPDATED, DIFFERENT_PEOPLE)  # how an answer that shows a disagreement starts

_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12, "tn": 1e12}
_WORD_NUMBERS = {word: value for value, word in SMALL_NUMBERS.items() if value >= 2}
_FIGURE = re.compile(
    r"(?:(?P<currency>[$£€])\s?)?(?<![\w.,])(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|"
    + "|".join(rf"{word}\b" for word in _WORD_NUMBERS)
    + r")(?:\s*(?P<scale>thousand|million|billion|trillion|mn|bn|tn|m|k)\b)?(?P<percent>\s*(?:%|percent\b|per cent\b))?",
    re.I,
)
# A question that names the unit it wants an answer in ("How strong were the winds in mph?") asks
# for a quantity of that unit, whatever its wording.
_NAMED_UNIT = re.compile(
    r"\b(?:in|how many)\s+(?P<unit>mph|km/h|kph|knots|acres|hectares|miles|kilometres|kilometers|feet|"
    r"metres|meters|inches|degrees|gallons|barrels|tons|tonnes)\b",
    re.I,
)
# Words before a name that say what it names ("Hurricane Erin", "Pope Leo XIV"): a sentence that
# says "Erin" or "Leo XIV" names it too.
_TITLES = frozenset(stem_words("hurricane storm typhoon cyclone pope president senator governor mayor king queen prince".split()))
_DEATH_QUESTION = re.compile(r"\b(?:die|died|dead|death|deaths|killed|kill|toll|fatalities|lives)\b", re.I)
# Cases of a disease are also counted as people infected or sickened ("has sickened 159").
_CASE_UNITS = frozenset(stem_words("case cases infected infections sickened".split()))
_DEATH_UNITS = frozenset(stem_words("death deaths dead died die killed kill toll fatalities fatality lives".split()))
# Words that, just before a number, say it is the current value of a figure that moved: in
# "escalated from two cases to 58 cases" the figure is 58.
_CURRENT = re.compile(r"\b(?:to|at|reached|hit|now|total(?:ed|led)?|of)\s+(?:about\s+|nearly\s+|more than\s+|at least\s+)?$", re.I)
_QUALIFIER = re.compile(r"\s*\b(?:about|around|roughly|nearly|almost|approximately|some|more than|over|at least|up to)\s*$", re.I)
_APPROXIMATE = re.compile(r"\b(?:about|around|roughly|nearly|almost|approximately|some|more than|over|at least|up to)\s+$", re.I)
_MONTH_BEFORE = re.compile(
    r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?\s+$"
)
_YEAR_LIKE = re.compile(r"^(?:19|20)\d\d$")
_WORDS = re.compile(r"[A-Za-z][\w'-]*")


@dataclass(frozen=True)
class Figure:
    """A value of the asked quantity as one sentence states it."""

    value: float
    subject: frozenset[str]  # the question's terms near it (`_subject`)
    shown: str  # as written: "159", "$1.5 billion", "two"
    digits: int  # significant digits as written: "150,000" has 2, "155,000" 3
    approximate: bool
    sentence: ScoredSentence
    passage: Passage


def same_value(a: Figure, b: Figure) -> bool:
    """True when `a` and `b` state the same figure: equal, or one is the other rounded to the
    precision it is written with ("1.1bn" and "1.13bn"; "about 130" and "133")."""
    if a.value == b.value:
        return True
    coarse, fine = (a, b) if a.digits <= b.digits else (b, a)
    if coarse.value == 0 or fine.value == 0:
        return False
    magnitude = math.floor(math.log10(abs(coarse.value)))
    step = 10 ** (magnitude - coarse.digits + 1)
    return round(fine.value / step) * step == coarse.value or (coarse.approximate and abs(fine.value - coarse.value) <= step)


def _significant(number: str) -> int:
    digits = number.replace(",", "").replace(".", "").lstrip("0")
    if "." in number:
        return len(digits) or 1
    return len(digits.rstrip("0")) or 1


def figures(text: str, kind: AnswerType, units: frozenset[str]) -> list[tuple[int, float, str, int, bool]]:
    """Return the figures of `text` that have the unit asked for, as `(start, value, shown,
    significant digits, approximate)`: money for MONEY, shares for PERCENT, otherwise numbers
    with one of `units` (word stems) just after or before them. Years are not figures."""
    found = []
    for match in _FIGURE.finditer(text):
        raw = match.group("number")
        lowered = raw.lower()
        if lowered in _WORD_NUMBERS:
            value, digits = float(_WORD_NUMBERS[lowered]), 1
        else:
            value, digits = float(raw.replace(",", "")), _significant(raw)
        scale = (match.group("scale") or "").lower()
        if scale in ("m", "k") and not match.group("currency"):
            scale = ""  # "5 m" without a currency is metres, not millions
        value *= _SCALES.get(scale, 1.0)
        before, after = text[: match.start()], text[match.end() :]
        if _YEAR_LIKE.match(raw) and not match.group("currency") and not scale:
            continue
        if re.match(r"[-/:]\d|\s*(?:a\.m\.|p\.m\.|am\b|pm\b)", after) or re.search(r"\d[-/:]$", before):
            continue  # a date, a time or a score
        if _MONTH_BEFORE.search(before):
            continue  # the day of a date: "On Oct. 1, the government shut down"
        if re.match(r"(?:st|nd|rd|th)\b", after, re.I) or re.match(r"[\s-]*years?[\s-]*old\b", after, re.I):
            continue  # an ordinal ("the 15th shutdown") or an age, not an amount of anything
        currency = bool(match.group("currency")) or bool(re.match(r"\s*(?:dollars|pounds|euros)\b", after, re.I))
        percent = bool(match.group("percent"))
        if kind is AnswerType.MONEY:
            wanted = currency
        elif kind is AnswerType.PERCENT:
            wanted = percent
        else:
            following = stem_words(w.lower() for w in _WORDS.findall(after)[:UNIT_WINDOW])
            leading = stem_words(w.lower() for w in _WORDS.findall(before)[-LEAD_WINDOW:])
            close = stem_words(w.lower() for w in _WORDS.findall(_QUALIFIER.sub("", before))[-CLOSE_WINDOW:])
            wanted = not currency and not percent and bool(
                units & set(following) or units & set(leading) and _CURRENT.search(before) or units & set(close)
            )
        if wanted:
            found.append((match.start(), value, match.group(0).strip(), digits, bool(_APPROXIMATE.search(before))))
    return found


def _units(question: str, focus: str) -> frozenset[str]:
    """The words whose stems mark a number as the counted thing: the words after "how many"
    ("measles cases") or the focus noun, or words of dying for a question about deaths ("how many
    people died")."""
    if _DEATH_QUESTION.search(question):
        return _DEATH_UNITS
    counted = re.search(r"\bhow many\s+((?:[a-z-]+\s+){0,1}[a-z-]+)", question, re.I)
    words = counted.group(1).split() if counted else ([focus] if focus else [])
    stems = frozenset(stem_words([w.lower() for w in words if w.lower() not in STOPWORDS]))
    return stems | _CASE_UNITS if stems & _CASE_UNITS else stems


def _subject(text: str, start: int, question_terms: frozenset[str]) -> frozenset[str]:
    """The question's terms among the words around the figure at `start` in `text`: what the
    figure is a figure of ("80% of kindergartners were vaccinated" is not "a 13.6% rate of
    vaccine exemptions")."""
    before = _WORDS.findall(text[:start])[-SUBJECT_WINDOW:]
    after = _WORDS.findall(text[start:])[:SUBJECT_WINDOW]
    return frozenset(terms(" ".join(before + after))) & question_terms


def _names_present(names: Sequence[str], text: str) -> bool:
    sentence_terms = set(terms(text))
    return all(set(terms(name)) - _TITLES <= sentence_terms for name in names)


@dataclass(frozen=True)
class Disagreement:
    """The different figures the passages give for the asked quantity, one a passage, newest
    first."""

    figures: tuple[Figure, ...]


class DisagreementFinder:
    """Finds the passages' different figures for what a question asks, and shows them; with
    `analyser` (spaCy), also the different people they name for the role a "who" question asks
    about (`retrieval.roles`)."""

    def __init__(self, scorer: SentenceScorer, analyser: SentenceAnalyser | None = None) -> None:
        self.scorer = scorer
        self.roles = RoleFinder(scorer, analyser) if analyser is not None else None

    def find(self, question: str, passages: Sequence[Passage]) -> Disagreement | None:
        """Return the different figures the passages give for the quantity `question` asks for,
        or None when it asks for no quantity, or they agree (blocking: embeds the question)."""
        analysis = analyse(question)
        named = _NAMED_UNIT.search(question)
        kind = AnswerType.QUANTITY if named else analysis.answer_type
        if kind not in QUANTITY_TYPES or not passages:
            return None
        units = frozenset(stem_words([named.group("unit").lower()])) if named else _units(question, analysis.focus)
        if kind in (AnswerType.COUNT, AnswerType.QUANTITY) and not units:
            return None
        evidence = self.scorer.score(question, passages)
        best = evidence.best_relevance
        question_terms = frozenset(terms(question)) - units
        per_article: dict[str, Figure] = {}
        for sentence in evidence.sentences:  # best first
            if sentence.relevance < RELEVANT_RATIO * best:
                continue
            passage = passages[sentence.passage_index]
            if passage.source_id in per_article or not _names_present(analysis.names, sentence.text):
                continue
            found = figures(sentence.text, kind, units)
            if not found:
                continue
            current = [f for f in found if _CURRENT.search(sentence.text[: f[0]])]
            start, value, shown, digits, approximate = (current or found)[0]
            subject = _subject(sentence.text, start, question_terms)
            if question_terms and not subject:
                continue  # a figure of something else the sentence mentions
            per_article[passage.source_id] = Figure(value, subject, shown, digits, approximate, sentence, passage)
        if not per_article:
            return None
        # Figures of one quantity: those whose subject is the best figure's, or part of it.
        first = next(iter(per_article.values()))
        anchor, when = first.subject, _aware(first.passage.published_at)
        kept = [
            f for f in per_article.values()
            if (f.subject <= anchor or anchor <= f.subject) and _same_period(_aware(f.passage.published_at), when)
        ]
        distinct: list[Figure] = []
        for figure in kept:
            if not any(same_value(figure, other) for other in distinct):
                distinct.append(figure)
        if len(distinct) < 2:
            return None
        undated = datetime.min.replace(tzinfo=timezone.utc)
        ordered = sorted(kept, key=lambda f: _aware(f.passage.published_at) or undated, reverse=True)
        return Disagreement(tuple(ordered))

    def annotate(self, answer: Answer, passages: Sequence[Passage]) -> Answer:
        """Return `answer` with the disagreement of `passages` about its question shown first
        (its citations extended), or `answer` itself when there is none."""
        if answer.abstained:
            return answer
        question = answer.standalone_question or answer.question
        found = self.find(question, passages)
        named = self.roles.find(question, passages) if found is None and self.roles is not None else None
        if found is None and named is None:
            return answer
        numbers = {c.passage.chunk_id: c.n for c in answer.citations}
        citations = list(answer.citations)

        def cite_passage(passage: Passage, quote: str) -> int:
            n = numbers.get(passage.chunk_id)
            if n is None:
                n = numbers[passage.chunk_id] = len(citations) + 1
                citations.append(Citation(n=n, passage=passage, quote=quote))
            return n

        def cite(figure: Figure) -> int:
            return cite_passage(figure.passage, figure.sentence.text)

        if found is not None:
            line = render(found, cite)
        else:
            assert named is not None
            line = render_roles(named, cite_passage)
        log.info("disagreement for %r: %s", answer.question, line)
        dates = [c.passage.published_at.date() for c in citations if c.passage.published_at]
        return answer.model_copy(
            update={"text": f"{line}\n\n{answer.text}", "citations": citations, "as_of": max(dates) if dates else answer.as_of}
        )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _same_period(a: datetime | None, b: datetime | None) -> bool:
    """Figures of articles far apart in time, or one dated and one not, are of different moments:
    a gas price of 2005 does not contradict one of 2022."""
    if a is None or b is None:
        return a is None and b is None
    return abs((a - b).days) <= MAX_SPAN_DAYS


def _when(figure: Figure) -> str:
    published = figure.passage.published_at
    return format_date(published.date()) if published else "undated"


def render(disagreement: Disagreement, cite: Callable[[Figure], int]) -> str:
    """Return the sentence that shows the figures, newest first; `cite(figure)` gives the `[n]`
    of the figure's passage. Figures of one outlet that differ read as an update."""
    by_outlet: dict[str, list[Figure]] = {}
    for figure in disagreement.figures:  # newest first
        by_outlet.setdefault(figure.passage.outlet or figure.passage.title, []).append(figure)
    parts = []
    for outlet, found in list(by_outlet.items())[:MAX_SHOWN]:
        newest = found[0]
        part = f"{outlet}, {_when(newest)}: {newest.shown} [{cite(newest)}]"
        older = next((f for f in found[1:] if not same_value(f, newest)), None)
        if older is not None and newest.passage.published_at and older.passage.published_at:
            direction = "up" if newest.value > older.value else "down"
            part += f", {direction} from {older.shown} on {_when(older)} [{cite(older)}]"
        parts.append(part)
    if len(parts) == 1:
        return f"{UPDATED}{parts[0]}."
    return DIFFERENT + "; ".join(parts) + "."
