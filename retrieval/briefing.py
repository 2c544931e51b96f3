"""Briefings: the top stories of a period, grouped by story, ranked, one lead sentence each.

`brief(retriever, since=..., until=..., topic=..., outlets=...)` returns a `Briefing`:
1. The period defaults to the 24 hours before the newest indexed article (of the outlet asked
   for): a store of old news still briefs on its last day, not on an empty "today".
2. The articles of the period are read from the store (their first chunk: title, link, outlet,
   date and the lead). With a topic, only the articles the hybrid retriever finds for it, and
   that `retrieval.relevance.is_about` the topic, are kept.
3. Articles group into stories: copies (one `story_id`) always, and articles about the same
   event when their headline-and-lead words overlap enough (`SAME_EVENT_JACCARD`).
4. Stories rank by how many articles and outlets covered them, then how recent they are.
5. With a `summariser` (a chat model is configured), each story gets a verified summary
   (`retrieval.summaries`); without one, or when its summary fails, the lead sentence stands.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from retrieval import schema
from retrieval.models import Passage, SearchFilters
from retrieval.outlets import resolve_outlets
from retrieval.relevance import is_about
from retrieval.schema import ChunkMeta
from retrieval.text import split_sentences, terms
from retrieval.workers import run_cpu

if TYPE_CHECKING:
    from retrieval.retriever import Retriever
    from retrieval.store import ChunkStore
    from retrieval.summaries import StorySummariser

log = logging.getLogger(__name__)

MAX_STORIES = 10
DEFAULT_PERIOD = timedelta(hours=24)
# How many passages a topic briefing retrieves before keeping those about the topic.
TOPIC_DEPTH = 60
# Two articles report one event when the Jaccard similarity of the stemmed content words of
# their headline and lead sentence is at least this. Measured by reading the pairs that
# bench/briefing_pairs.py lists for USA Today, March 2025 (898 pairs of articles published within
# two days of each other): 27 of the 28 pairs at or above 0.20 report one event (JFK files,
# Target boycott, auto tariffs, Trump-Putin call, Blue Ghost landing...), the first pair of two
# events comes at 0.18; below 0.20 some same-event pairs are missed (0.17, 0.15). Not yet
# checked on a second month.
SAME_EVENT_JACCARD = 0.20
# Leads shorter than this many words are datelines or bylines ("The Associated Press"), not leads.
_MIN_LEAD_WORDS = 8
_DATELINE = re.compile(r"^(?:updated|published)\b|\b(?:updated|published)\b.*\b[ap]\.m\.", re.I)


@dataclass(frozen=True)
class Story:
    """One story of a briefing: its articles (best first: the earliest, which broke it), the
    lead sentence that sums it up, and the chat model's verified summary ('' when none; its
    `[n]` markers number `articles`)."""

    articles: list[Passage]
    lead: str
    summary: str = ""

    @property
    def outlets(self) -> list[str]:
        return sorted({a.outlet for a in self.articles if a.outlet})

    @property
    def newest(self) -> datetime | None:
        dates = [a.published_at for a in self.articles if a.published_at is not None]
        return max(dates) if dates else None


@dataclass(frozen=True)
class Briefing:
    """The stories of `since`..`until` (inclusive), best first; `topic` and `outlets` as asked."""

    since: datetime | None
    until: datetime | None
    stories: list[Story] = field(default_factory=list)
    topic: str = ""
    outlets: list[str] = field(default_factory=list)
    articles: int = 0  # how many articles the period held (after the topic and outlet)


def lead_sentence(text: str) -> str:
    """The first sentence of `text` that reads as a lead (at least `_MIN_LEAD_WORDS` words, not
    an "Updated ..." dateline); the first sentence when none does; '' for no text."""
    sentences = [text[a:b].strip() for a, b in split_sentences(text)]
    for sentence in sentences:
        if len(sentence.split()) >= _MIN_LEAD_WORDS and not _DATELINE.search(sentence):
            return sentence
    return sentences[0] if sentences else ""


def event_words(article: Passage) -> set[str]:
    """What `SAME_EVENT_JACCARD` compares: stemmed content words of the headline and lead."""
    return set(terms(f"{article.title} {lead_sentence(article.text)}"))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def group_stories(articles: list[Passage], threshold: float = SAME_EVENT_JACCARD) -> list[list[Passage]]:
    """Articles grouped into stories: one `story_id` is one story, and two stories merge when any
    article of one is about the same event as any of the other (single linkage). Each group is
    ordered oldest first (the article that broke the story leads it)."""
    groups: dict[str, list[Passage]] = {}
    for article in articles:
        groups.setdefault(article.story_id or article.source_id, []).append(article)
    keys = list(groups)
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    words = {k: [event_words(a) for a in groups[k]] for k in keys}
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if root(a) != root(b) and any(jaccard(x, y) >= threshold for x in words[a] for y in words[b]):
                parent[root(b)] = root(a)
    merged: dict[str, list[Passage]] = {}
    for k in keys:
        merged.setdefault(root(k), []).extend(groups[k])
    far_future = datetime.max.replace(tzinfo=UTC)
    return [sorted(g, key=lambda p: (p.published_at or far_future, p.source_id)) for g in merged.values()]


def rank_stories(groups: list[list[Passage]]) -> list[Story]:
    """Stories best first: more articles, then more outlets, then the most recent."""
    def key(story: Story) -> tuple[int, int, float]:
        newest = story.newest
        return (len(story.articles), len(story.outlets), newest.timestamp() if newest else float("-inf"))

    stories = [Story(articles=g, lead=lead_sentence(g[0].text) or g[0].title) for g in groups]
    return sorted(stories, key=key, reverse=True)


async def brief(
    retriever: Retriever,
    *,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    topic: str = "",
    outlets: list[str] | None = None,
    limit: int = MAX_STORIES,
    summariser: StorySummariser | None = None,
) -> Briefing:
    """Return the briefing of `since`..`until` (dates are whole days; default: the 24 hours
    before the newest indexed article), of the articles about `topic` (all when empty), from
    `outlets` (all when empty), at most `limit` stories. A briefing with no stories means the
    period (or the topic or outlet) holds no article. Each story is summarised by `summariser`
    when given. Raises RetrievalError when the store cannot be read."""
    topic = topic.strip()
    period = await run_cpu(_period, retriever, since, until, outlets or [])
    if isinstance(period, Briefing):  # no such outlet, or nothing dated to default the period to
        briefing = replace(period, topic=topic)
    else:
        articles = period.articles
        if topic:
            filters = SearchFilters(outlets=period.outlets, since=_day(period.start), until=_day(period.end))
            found = await retriever.asearch(topic, k=TOPIC_DEPTH, filters=filters)
            about = {p.source_id for p in found if is_about(p)}
            articles = [a for a in articles if a.source_id in about]
        stories = await run_cpu(_stories, articles, limit)
        log.info(
            "briefing %s..%s topic=%r: %d articles, %d stories",
            period.start, period.end, topic, len(articles), len(stories),
        )
        briefing = Briefing(
            since=period.start, until=period.end, stories=stories, topic=topic, outlets=period.outlets,
            articles=len(articles),
        )
    return await summariser.summarise(briefing) if summariser is not None else briefing


def _stories(articles: list[Passage], limit: int) -> list[Story]:
    return rank_stories(group_stories(articles))[:limit]


@dataclass(frozen=True)
class _Period:
    """The period a briefing covers, the outlets it is of (as the store names them; [] = all)
    and the first chunks of the articles published in it."""

    start: datetime | None
    end: datetime | None
    outlets: list[str]
    articles: list[Passage]


def _period(
    retriever: Retriever, since: date | datetime | None, until: date | datetime | None, outlets: list[str]
) -> _Period | Briefing:
    """The period's articles (of `outlets`), or the empty briefing when the outlets name none in
    the store or no article is dated to default the period to. Blocking."""
    names: list[str] | None = None
    if outlets:
        names = resolve_outlets(outlets, retriever.outlets())
        if not names:
            return Briefing(since=None, until=None, outlets=outlets)
    store = retriever.store
    start, end = _bounds(since, until)
    if start is None and end is None:
        newest = _newest_ts(store, names)
        if newest is None:
            return Briefing(since=None, until=None, outlets=names or [])
        end = datetime.fromtimestamp(newest, UTC)
        start = end - DEFAULT_PERIOD
    where = schema.first_chunks(names, _ts(start), _ts(end))
    got = store.collection.get(where=where, include=["documents", "metadatas"])
    articles = [
        article_passage(chunk_id, text or "", meta)
        for chunk_id, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
    ]
    return _Period(start=start, end=end, outlets=names or [], articles=articles)


def _bounds(since: date | datetime | None, until: date | datetime | None) -> tuple[datetime | None, datetime | None]:
    """The period as UTC datetimes: a date `since` from its first second, a date `until` to its last."""
    def at(value: date | datetime | None, end: bool) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.combine(value, time.max if end else time.min, UTC)

    return at(since, False), at(until, True)


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _newest_ts(store: ChunkStore, outlets: list[str] | None) -> int | None:
    """The publish time of the newest dated article (of `outlets`), None when none is dated."""
    where = schema.first_chunks(outlets, None, None, dated=True)
    got = store.collection.get(where=where, include=["metadatas"])
    stamps = [schema.ChunkInfo.from_metadata(i, m).published_ts for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)]
    stamps = [s for s in stamps if s != schema.NO_DATE]
    return max(stamps) if stamps else None


def article_passage(chunk_id: str, text: str, meta: schema.Metadata) -> Passage:
    """A stored chunk as a `Passage` (no scores): briefings and watches read first chunks so."""
    return Passage(**ChunkMeta.from_metadata(chunk_id, meta).model_dump(), chunk_id=chunk_id, text=text)
