"""Timeline answers: how a story developed, as a dated list of events from the articles.

A question that asks how something developed ("how did X unfold", "timeline of X", "what has
happened with X since March", "what's the latest on X") is answered with up to ten lines, one
event each: the sentences of the retrieved articles most about X, each dated by
`retrieval.event_dates` against its article's publish date, ordered by that date, each with its
citation, the newest last as "As of <date>". Sentences of undated articles that state no date
come first, marked "Undated", in the order they were retrieved.

The timeline is extractive whichever answerer is configured: every line quotes its article, and
the text goes through the same citation check as any answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.citations import verify
from retrieval.event_dates import EventDate, event_date
from retrieval.evidence import Evidence, ScoredSentence, SentenceScorer, dot
from retrieval.extractive import WholeAnswerer, abstention
from retrieval.models import Answer, Passage
from retrieval.policy import AbstentionPolicy
from retrieval.text import ENDS_SENTENCE

log = logging.getLogger(__name__)

MAX_EVENTS = 10
PER_ARTICLE = 3  # events from one article: a timeline draws on several
# An event must score at least this share of the best sentence's relevance to the story. First
# guess, checked on tests/data/timeline-qa.jsonl (see the README's timeline figures).
EVENT_RATIO = 0.6
NEAR_DUPLICATE = 0.85  # cosine similarity above which two sentences report the same event
TIMELINE_K = 20  # passages retrieved for a timeline: events are spread over many articles
MIN_WORDS = 6

# The words that ask how a story developed, shared by `_TIMELINE` (is this a timeline question?)
# and `_ASKING` (what to strip to leave the story's name).
_HOW = r"how\s+(?:did|has|have|had)"
_MOVED = r"unfold(?:ed)?|develop(?:ed)?|evolve(?:d)?|progress(?:ed)?|play(?:ed)?\s+out|come\s+about|escalate(?:d)?"
_HAPPENED = r"what\s+(?:has|have)\s+happened"
_PHRASES = "|".join((
    r"time\s*line\s+(?:of|for)",
    r"chronology\s+of",
    r"what(?:'s|’s|\s+is)\s+the\s+latest\s+(?:on|with|in|about)",
    r"(?:latest|recent)\s+developments?\s+(?:on|in|with)",
    r"sequence\s+of\s+events(?:\s+(?:of|in)\b)?",
    r"key\s+events\s+(?:of|in)",
))
_TIMELINE = re.compile(
    rf"\b(?:{_HOW}\b.{{2,120}}?\b(?:{_MOVED})|{_HAPPENED}\s+(?:with|to|in|since|over)|{_PHRASES})", re.I | re.S
)
# "since March" stays in the topic; the filler words of a request go.
_FILLER = r"change(?:d)?|over\s+time|give\s+me|show\s+me|(?:the\s+)?story\s+of|a\s+|the\s+"
_ASKING = re.compile(rf"\b(?:{_HOW}|{_MOVED}|{_HAPPENED}(?:\s+(?:with|to|in))?|{_PHRASES}|{_FILLER})", re.I)
# Lines that are page furniture, not events: "Updated Feb. 5, 2025, 5:52 p.m. ET".
_FURNITURE = re.compile(r"^(?:updated|published|posted|contributing|this story|read more|watch|photo|subscribe)\b|\bhere(?:'s| is) (?:what|a look)|\bwhat to know\b|\b[ap]\.m\. ET\b", re.I)

# What pages put before a sentence: a bullet, the label of a generated summary.
_LEAD = re.compile(r"^\s*(?:[-–—•*]\s+)?(?:AI-assisted summary\s+)?", re.I)


def is_timeline_question(question: str) -> bool:
    """True when `question` asks how something developed ("how did X unfold", "timeline of X",
    "what has happened with X since March", "what's the latest on X")."""
    return bool(_TIMELINE.search(question))


def timeline_topic(question: str) -> str:
    """Return what the timeline is about: `question` without the words that ask for a timeline
    ("How did the Glazer takeover unfold?" -> "Glazer takeover"); `question` itself when nothing
    would remain."""
    topic = _ASKING.sub(" ", question)
    topic = " ".join(topic.replace("?", " ").split()).strip(" ,.")
    return topic if len(topic) >= 3 else question


@dataclass(frozen=True)
class Event:
    """One line of a timeline: a sentence, its passage index and when it happened (None: an
    undated article's sentence that states no date)."""

    sentence: ScoredSentence
    when: EventDate | None

    def sort_key(self, passages: Sequence[Passage]) -> tuple[int, object, object, int, int]:
        passage = passages[self.sentence.passage_index]
        if self.when is None:
            return (0, 0, 0, self.sentence.passage_index, self.sentence.start)
        published = passage.published_at.date() if passage.published_at else self.when.day
        return (1, self.when.sort_key(), published, self.sentence.passage_index, self.sentence.start)


def select_events(evidence: Evidence, *, limit: int = MAX_EVENTS) -> list[Event]:
    """Return up to `limit` events for the timeline, oldest first: sentences scoring at least
    EVENT_RATIO of the best, no near-duplicates, at most PER_ARTICLE from one article."""
    best = evidence.best_relevance
    chosen: list[ScoredSentence] = []
    per_article: dict[str, int] = {}
    for sentence in sorted(evidence.sentences, key=lambda s: s.relevance, reverse=True):
        if len(chosen) == limit or sentence.relevance < EVENT_RATIO * best:
            break
        text = sentence.text.strip()
        if len(text.split()) < MIN_WORDS or not ENDS_SENTENCE.search(text) or text.endswith("?"):
            continue  # a headline or a question, not an event
        if _FURNITURE.search(text):
            continue
        source = evidence.passages[sentence.passage_index].source_id
        if per_article.get(source, 0) >= PER_ARTICLE:
            continue
        if any(dot(sentence.vector, c.vector) > NEAR_DUPLICATE or _same_words(sentence.text, c.text) for c in chosen):
            continue
        chosen.append(sentence)
        per_article[source] = per_article.get(source, 0) + 1
    events = []
    for sentence in chosen:
        passage = evidence.passages[sentence.passage_index]
        published = passage.published_at.date() if passage.published_at else None
        events.append(Event(sentence, event_date(sentence.text, published)))
    events.sort(key=lambda e: e.sort_key(evidence.passages))
    return events


def _same_words(a: str, b: str) -> bool:
    """Overlapping chunks (and copies of one story) repeat sentences nearly word for word."""
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(1, min(len(wa), len(wb))) > 0.8


def _line(event: Event, n: int, *, last: bool) -> str:
    text = _LEAD.sub("", " ".join(event.sentence.text.split()))
    match = re.search(r"[.!?]+$", text)
    if match:
        text = f"{text[: match.start()].rstrip()} [{n}]{text[match.start():]}"
    else:
        text = f"{text} [{n}]" + ("" if ENDS_SENTENCE.search(text) else ".")
    label = "Undated" if event.when is None else event.when.label()
    return f"- As of {label}: {text}" if last and event.when is not None else f"- {label}: {text}"


def compose_timeline(events: Sequence[Event]) -> str:
    """Return the timeline text, one line an event, `[k]` = passage k-1 (unverified)."""
    return "\n".join(
        _line(event, event.sentence.passage_index + 1, last=i == len(events) - 1) for i, event in enumerate(events)
    )


class TimelineAnswerer(WholeAnswerer):
    """Answers "how did X develop" with a dated, cited list of events (offline): `answer` returns
    the timeline for a question over its passages, or the abstention when they do not cover it."""

    name = "timeline"

    def __init__(self, scorer: SentenceScorer, policy: AbstentionPolicy) -> None:
        self.scorer = scorer
        self.policy = policy

    def _answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        evidence = self.scorer.score(timeline_topic(question), passages)
        evidence.question = question
        features = self.policy.features(evidence)
        score = self.policy.confidence(features)
        if self.policy.decide(features):
            return abstention(question, evidence, score, answerer=self.name)
        events = select_events(evidence)
        verified = verify(compose_timeline(events), passages)
        if verified.problems:
            log.info("timeline lines removed: %s", "; ".join(verified.problems))
        if not verified.supported:
            return abstention(question, evidence, score, answerer=self.name)
        dates = [c.passage.published_at.date() for c in verified.citations if c.passage.published_at]
        return Answer(
            question=question,
            text=verified.text,
            citations=verified.citations,
            as_of=max(dates) if dates else None,
            evidence_score=score,
            answerer=self.name,
        )
