"""Watches: which newly indexed articles a saved search (a topic, maybe an outlet) should post.

`match_new(retriever, topic, new_ids, outlets=...)` runs the topic through the same hybrid
retrieval as answers, restricted to the period of the new articles, keeps the new articles among
the results that `retrieval.relevance.is_about` the topic, drops those that mention the topic
only in passing (the chunks about the topic cover less than `MIN_TOPIC_SHARE` of the article: a
roundup, a "Related" teaser, a one-line aside), and returns one `WatchMatch` per story (copies of
one story share a `story_id`): the article's first chunk (title, link, outlet, date) and its lead
sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval import schema
from retrieval.briefing import article_passage, lead_sentence
from retrieval.models import Passage, SearchFilters
from retrieval.relevance import MIN_DENSE, is_about
from retrieval.retriever import Retriever
from retrieval.text import terms
from retrieval.workers import run_cpu

log = logging.getLogger(__name__)

# How many passages the topic retrieves among the period's articles: the new articles must be
# among them to match. The period starts at the oldest new article's day, so older coverage of
# the topic does not crowd the new out.
SEARCH_DEPTH = 60
# More matches than this for one watch in one ingest are posted as one digest message.
DIGEST_OVER = 4
# An article fires a watch only when its chunks about the topic (a topic word and a dense
# similarity of at least the watch's `min_dense`) hold at least this share of its text. Fitted
# with bench/watches.py on USA Today February-March 2025 at MIN_DENSE 0.40 (213 articles, 7
# topics): the largest share that keeps recall, 0.87; precision 0.86 -> 0.92, passing mentions
# that fire 11 -> 6 of 51 (0.15: 0.93 / 0.86; 0.25: 0.99 / 0.83). Checked on April-May 2025:
# precision 0.73 -> 0.88, recall 0.95 -> 0.92, passing mentions 14 -> 5 of 44 (README "Watch relevance").
MIN_TOPIC_SHARE = 0.10


@dataclass(frozen=True)
class ChunkRelevance:
    """One chunk of a matched article as the topic sees it: its length, its dense similarity to
    the topic, and whether it holds a word of the topic."""

    chars: int
    similarity: float
    has_topic_word: bool


def topic_share(chunks: Sequence[ChunkRelevance], min_dense: float = MIN_DENSE) -> float:
    """The share (0..1) of an article's text in its chunks about the topic: a topic word and a
    similarity of at least `min_dense`. 0.0 for an article without text."""
    total = sum(c.chars for c in chunks)
    about = sum(c.chars for c in chunks if c.has_topic_word and c.similarity >= min_dense)
    return about / total if total else 0.0


@dataclass(frozen=True)
class WatchMatch:
    """A new article a watch should post: its first chunk and its lead sentence."""

    article: Passage
    lead: str
    score: float
    dense_score: float = 0.0  # of the best matching passage (what `MIN_DENSE` bars)
    chunks: tuple[ChunkRelevance, ...] = field(default=(), repr=False)  # every chunk of the article

    @property
    def story_id(self) -> str:
        return self.article.story_id or self.article.source_id

    def share(self, min_dense: float = MIN_DENSE) -> float:
        """`topic_share` of this article (1.0 when its chunks were not read)."""
        return topic_share(self.chunks, min_dense) if self.chunks else 1.0


async def match_new(
    retriever: Retriever,
    topic: str,
    new_ids: Collection[str],
    *,
    outlets: Sequence[str] = (),
    min_dense: float = MIN_DENSE,
    min_share: float = MIN_TOPIC_SHARE,
) -> list[WatchMatch]:
    """The new articles (`new_ids`, source ids) about `topic`, of `outlets` when given, one per
    story, best first: a matching passage reaches `min_dense`, and the chunks about the topic
    cover at least `min_share` of the article (0: no share bar). Raises RetrievalError when the
    store cannot be searched."""
    if not new_ids or not topic.strip():
        return []
    firsts = await run_cpu(first_chunks, retriever, set(new_ids))
    if not firsts:
        return []
    days = [p.published_at.date() for p in firsts.values() if p.published_at is not None]
    since = min(days) if len(days) == len(firsts) else None  # an undated new article: no bound
    found = await retriever.asearch(topic, k=SEARCH_DEPTH, filters=SearchFilters(outlets=list(outlets), since=since))
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
    if matches:
        chunks = await run_cpu(article_chunks, retriever, topic, [m.article.source_id for m in matches.values()])
        matches = {
            story: replace_chunks(m, chunks.get(m.article.source_id, ()))
            for story, m in matches.items()
        }
        matches = {story: m for story, m in matches.items() if m.share(min_dense) >= min_share}
    log.debug("watch %r: %d of %d new articles match", topic, len(matches), len(new_ids))
    return list(matches.values())


def replace_chunks(match: WatchMatch, chunks: Sequence[ChunkRelevance]) -> WatchMatch:
    return WatchMatch(match.article, match.lead, match.score, match.dense_score, tuple(chunks))


def article_chunks(
    retriever: Retriever, topic: str, source_ids: Sequence[str]
) -> dict[str, list[ChunkRelevance]]:
    """Source id -> every chunk of that article, in order, as `topic` sees it."""
    got = retriever.store.collection.get(
        where=schema.of_articles(source_ids), include=["documents", "metadatas", "embeddings"]
    )
    embeddings = got.get("embeddings")
    if embeddings is None:  # a numpy array when present: no `or []`
        embeddings = []
    vector = np.asarray(retriever.embeddings.embed_query(topic), dtype=np.float32)
    words = set(terms(topic))
    rows = []
    for chunk_id, text, meta, embedding in zip(
        got["ids"], got["documents"] or [], got["metadatas"] or [], embeddings, strict=True
    ):
        m = schema.ChunkMeta.from_metadata(chunk_id, meta)
        stored = np.asarray(embedding, dtype=np.float32)
        norms = float(np.linalg.norm(stored) * np.linalg.norm(vector))
        similarity = float(stored @ vector) / norms if norms else 0.0
        text = text or ""
        rows.append((m.source_id, m.chunk_index, ChunkRelevance(len(text), similarity, bool(words & set(terms(text))))))
    out: dict[str, list[ChunkRelevance]] = {}
    for source_id, _, chunk in sorted(rows, key=lambda r: (r[0], r[1])):
        out.setdefault(source_id, []).append(chunk)
    return out


def first_chunks(retriever: Retriever, source_ids: Collection[str]) -> dict[str, Passage]:
    """Source id -> the first chunk of each of these articles the store holds."""
    where = schema.first_chunks_of(sorted(source_ids))
    got = retriever.store.collection.get(where=where, include=["documents", "metadatas"])
    chunks = zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
    articles = (article_passage(chunk_id, text or "", meta) for chunk_id, text, meta in chunks)
    return {a.source_id: a for a in articles}
