"""Watches: which newly indexed articles a saved search (a topic, maybe an outlet) should post.

`match_new(retriever, topic, new_ids, outlets=...)` runs the topic through the same hybrid
retrieval as answers, restricted to the period of the new articles, keeps the new articles among
the results that `retrieval.relevance.is_about` the topic, and returns one `WatchMatch` per story
(copies of one story share a `story_id`): the article's first chunk (title, link, outlet, date)
and its lead sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from retrieval import schema
from retrieval.briefing import article_passage, lead_sentence
from retrieval.hybrid import HybridRetriever
from retrieval.models import Passage, SearchFilters
from retrieval.relevance import MIN_DENSE, is_about
from retrieval.workers import run_cpu

log = logging.getLogger(__name__)

# How many passages the topic retrieves among the period's articles: the new articles must be
# among them to match. The period starts at the oldest new article's day, so older coverage of
# the topic does not crowd the new out.
SEARCH_DEPTH = 60
# More matches than this for one watch in one ingest are posted as one digest message.
DIGEST_OVER = 4


@dataclass(frozen=True)
class WatchMatch:
    """A new article a watch should post: its first chunk and its lead sentence."""

    article: Passage
    lead: str
    score: float
    dense_score: float = 0.0  # of the best matching passage (what `MIN_DENSE` bars)

    @property
    def story_id(self) -> str:
        return self.article.story_id or self.article.source_id


async def match_new(
    retriever: HybridRetriever,
    topic: str,
    new_ids: Collection[str],
    *,
    outlets: Sequence[str] = (),
    min_dense: float = MIN_DENSE,
) -> list[WatchMatch]:
    """The new articles (`new_ids`, source ids) about `topic`, of `outlets` when given, one per
    story, best first. Raises RetrievalError when the store cannot be searched."""
    if not new_ids or not topic.strip():
        return []
    return await run_cpu(_match, retriever, topic, set(new_ids), list(outlets), min_dense)


def _match(
    retriever: HybridRetriever, topic: str, new_ids: set[str], outlets: list[str], min_dense: float
) -> list[WatchMatch]:
    firsts = first_chunks(retriever, new_ids)
    if not firsts:
        return []
    days = [p.published_at.date() for p in firsts.values() if p.published_at is not None]
    since = min(days) if len(days) == len(firsts) else None  # an undated new article: no bound
    found = retriever._checked_search(topic, k=SEARCH_DEPTH, filters=SearchFilters(outlets=outlets, since=since))
    matches: dict[str, WatchMatch] = {}
    for p in found:
        first = firsts.get(p.source_id)
        if first is None or not is_about(p, min_dense):
            continue
        match = WatchMatch(
            article=first, lead=lead_sentence(first.text) or first.title, score=p.score,
            dense_score=p.dense_score or 0.0,
        )
        matches.setdefault(match.story_id, match)  # results come best first
    log.debug("watch %r: %d of %d new articles match", topic, len(matches), len(new_ids))
    return list(matches.values())


def first_chunks(retriever: HybridRetriever, source_ids: Collection[str]) -> dict[str, Passage]:
    """Source id -> the first chunk of each of these articles the store holds."""
    where = schema.first_chunks_of(sorted(source_ids))
    got = retriever.store.collection.get(where=where, include=["documents", "metadatas"])
    chunks = zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
    articles = (article_passage(chunk_id, text or "", meta) for chunk_id, text, meta in chunks)
    return {a.source_id: a for a in articles}
