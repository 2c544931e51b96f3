"""Hybrid retrieval: dense search in Chroma plus BM25, fused by reciprocal rank fusion.

`HybridRetriever.search(question, k=..., filters=...)` returns typed `Passage`s; the same
retriever is a LangChain `BaseRetriever` (`invoke` returns `Document`s whose metadata carries
the scores) for chains that want one.

How a search runs:
1. The keyword index checks that it is current with the store (`retrieval.keyword`).
2. Dense: the question is embedded (the `Embeddings` given) and `collection.query` returns the
   `depth` nearest chunks that pass the filters: filtered after an over-fetch when many chunks
   pass, by a Chroma `where` when few do (see `HybridRetriever._dense`).
3. Keyword: BM25 over title + text returns the `depth` best chunks under the same filters.
4. Fusion: score = dense_weight / (rrf_k + dense rank) + keyword_weight / (rrf_k + keyword rank);
   `prefer_recent` then lifts newer articles a little (a boost, not a sort).
5. Diversity: copies of one story (same `story_id`) count as one article and only the best copy
   is kept; at most `max_per_article` chunks of an article are returned.
6. The picked chunks' text and metadata are fetched from Chroma in one call (with the vector of
   the ones BM25 alone found, for their `dense_score`); a chunk the store no longer has is
   dropped, so a deletion shows at once even while a large keyword index is still being rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from retrieval.errors import EmptyIndexError, RetrievalError
from retrieval.keyword import ChunkInfo, KeywordHit, KeywordIndex
from retrieval.models import Passage, SearchFilters
from retrieval.query import resolve_outlets
from retrieval.settings import Settings
from retrieval.workers import run_cpu

log = logging.getLogger(__name__)

Mode = Literal["dense", "bm25", "hybrid"]
_SECONDS_PER_DAY = 86_400.0
# How many times the final list is re-picked when chunks vanished from the store meanwhile.
_REFILL_ROUNDS = 3
# Dense search filters after the search when at least this share of the chunks pass the filters,
# fetching this many times the chunks the passing share would need (see `_dense`).
_POST_FILTER_MIN_SHARE = 0.05
_POST_FILTER_MARGIN = 2.0


@dataclass
class _Candidate:
    chunk_id: str
    source_id: str
    story_id: str
    published_ts: int
    outlet: str = ""
    text: str | None = None
    metadata: dict[str, Any] | None = None
    dense_rank: int | None = None
    dense_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None
    score: float = 0.0


def day_bounds(filters: SearchFilters) -> tuple[int | None, int | None]:
    """Return the filters' dates as inclusive epoch seconds: `since` at 00:00:00 UTC, `until` at
    23:59:59 UTC (published_ts is stored in UTC)."""
    since = until = None
    if filters.since is not None:
        since = int(datetime.combine(filters.since, dtime.min, tzinfo=UTC).timestamp())
    if filters.until is not None:
        until = int(datetime.combine(filters.until, dtime.max, tzinfo=UTC).timestamp())
    return since, until


def chroma_where(
    outlets: list[str] | None, since_ts: int | None, until_ts: int | None
) -> dict[str, Any] | None:
    """The Chroma `where` for the filters; None when there are none."""
    clauses: list[dict[str, Any]] = []
    if outlets is not None:
        clauses.append({"outlet": {"$in": outlets}})
    if since_ts is not None:
        clauses.append({"published_ts": {"$gte": since_ts}})
    if until_ts is not None:
        clauses.append({"published_ts": {"$lte": until_ts}})
        if since_ts is None:
            clauses.append({"published_ts": {"$ne": -1}})  # undated articles do not qualify
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def passes(c: _Candidate, outlets: list[str] | None, since_ts: int | None, until_ts: int | None) -> bool:
    """Whether a candidate passes the filters, as `chroma_where` would have it."""
    if outlets is not None and c.outlet not in outlets:
        return False
    if since_ts is not None and c.published_ts < since_ts:
        return False
    return until_ts is None or (c.published_ts != -1 and c.published_ts <= until_ts)


def _parse_published(value: object) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval over the store with filters, story collapse and a per-article cap.

    Build it with the settings, an `Embeddings` and a Chroma client (tests inject a temp-dir
    client and `DeterministicFakeEmbedding`), or with `from_settings`. `mode` picks `dense`,
    `bm25` or `hybrid` (the default; the evaluation compares the three). Wire
    `indexer.on_change(retriever.index_changed)` so the keyword index follows this process's
    writes at once; writes by other processes are noticed within `version_check_seconds`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    embeddings: Embeddings
    client: Any = Field(description="A chromadb client (ClientAPI).")
    mode: Mode = "hybrid"
    k: int = Field(10, description="Passages `invoke` returns.")
    filters: SearchFilters | None = Field(None, description="Filters `invoke` applies.")
    max_per_article: int | None = Field(
        None, description="Chunks of one article at most (None = settings.max_per_article; 0 = no cap)."
    )
    rrf_k: int = Field(60, description="Reciprocal rank fusion constant.")
    depth: int = Field(50, description="Chunks taken from each of dense and BM25 before fusion.")
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    recency_weight: float = Field(
        0.4, description="With prefer_recent, the newest article's score is raised by this fraction."
    )
    recency_half_life_days: float = Field(
        30.0, description="With prefer_recent, the boost halves for every this many days older."
    )
    span_weight: float = Field(
        0.5, description="With soft dates, articles of the period gain this fraction of their score."
    )
    version_check_seconds: float = Field(
        0.5, description="How often (at most) the keyword index compares its version to the store's."
    )
    background_rebuild_min_chunks: int = Field(
        5_000,
        description="A stale keyword index this large is rebuilt in the background (searches use "
        "the old one meanwhile); a smaller one is rebuilt before the search.",
    )

    _keyword: KeywordIndex = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._keyword = KeywordIndex(
            self.settings,
            self.client,
            check_seconds=self.version_check_seconds,
            background_min_chunks=self.background_rebuild_min_chunks,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        embeddings: Embeddings,
        client: Any = None,
        **kwargs: Any,
    ) -> HybridRetriever:
        """Build the retriever on the configured store (or `client`) with `embeddings`.

        Raises StoreUnavailableError when the Chroma server cannot be reached."""
        from retrieval.store import open_client

        return cls(
            settings=settings,
            embeddings=embeddings,
            client=client if client is not None else open_client(settings),
            **kwargs,
        )

    # --- keeping up with the store ------------------------------------------------------------
    @property
    def keyword_index(self) -> KeywordIndex:
        return self._keyword

    def index_changed(self) -> None:
        """Tell the retriever the store changed (pass to `Indexer.on_change`): the keyword index
        catches up now (small) or starts rebuilding in the background (large)."""
        self._keyword.invalidate()
        self._keyword.ensure_current()

    def warm_up(self) -> None:
        """Load what the first search would otherwise load: the keyword index and the model."""
        self._keyword.ensure_current()
        if self.mode != "bm25":
            self.embeddings.embed_query("warm up")

    def outlets(self) -> list[str]:
        """The distinct outlets in the store, sorted (for `parse_filters(known_outlets=...)`)."""
        return self._keyword.outlets()

    # --- searching ----------------------------------------------------------------------------
    def search(self, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]:
        """Return up to `k` passages for `query`, best first, honouring `filters`.

        An outlet filter naming no outlet in the store returns []. Raises EmptyIndexError when
        nothing is indexed, RetrievalError when the store cannot be searched."""
        filters = filters or SearchFilters()
        query = query.strip()
        if not query or k <= 0:
            return []
        try:
            return self._search(query, k, filters)
        except RetrievalError:
            raise
        except Exception as e:
            raise RetrievalError(f"searching the store failed ({type(e).__name__}: {e})") from e

    async def asearch(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[Passage]:
        """`search` in a worker thread, so the event loop is never blocked."""
        return await run_cpu(self.search, query, k=k, filters=filters)

    def _search(self, query: str, k: int, filters: SearchFilters) -> list[Passage]:
        keyword = self._keyword
        keyword.ensure_current()
        outlets: list[str] | None = None
        if filters.outlets:
            outlets = resolve_outlets(filters.outlets, keyword.outlets())
            if not outlets:
                log.info("no outlet in the store matches %s", filters.outlets)
                return []
        since_ts, until_ts = day_bounds(filters)
        prefer_span = None
        if filters.soft_dates and (since_ts is not None or until_ts is not None):
            prefer_span, since_ts, until_ts = (since_ts, until_ts), None, None
        depth = max(self.depth, 3 * k)

        vector: list[float] | None = None
        dense: list[_Candidate] = []
        if self.mode != "bm25":
            vector = self.embeddings.embed_query(query)
            dense = self._dense(vector, depth, outlets, since_ts, until_ts)
        hits: list[KeywordHit] = []
        if self.mode != "dense":
            hits = keyword.search(query, k=depth, outlets=outlets, since_ts=since_ts, until_ts=until_ts)
        if not dense and not hits:
            if keyword.collection().count() == 0:
                raise EmptyIndexError("nothing is indexed yet: ingest some articles first")
            return []
        ranked = self._fuse(dense, hits)
        if filters.prefer_recent:
            self._boost_recent(ranked)
        if prefer_span is not None:
            self._boost_span(ranked, *prefer_span)
        ranked.sort(key=lambda c: c.score, reverse=True)
        return self._pick(ranked, k, vector)

    def _dense(
        self, vector: list[float], depth: int, outlets: list[str] | None, since_ts: int | None, until_ts: int | None
    ) -> list[_Candidate]:
        """The `depth` chunks nearest to `vector` that pass the filters, without their text.

        A Chroma `where` makes the store filter before it searches, which is slow when many
        chunks pass (over 0.5 s at 100k chunks for a sixth of them). So when the keyword index
        says at least `_POST_FILTER_MIN_SHARE` of the chunks pass, the search over-fetches
        without the filters and filters afterwards; when at least `depth` nearest chunks pass,
        they are exactly the nearest that pass. Otherwise, `where` it is."""
        where = chroma_where(outlets, since_ts, until_ts)
        if where is not None:
            share = self._keyword.share(outlets, since_ts, until_ts)
            if share is not None and share >= _POST_FILTER_MIN_SHARE:
                fetch = math.ceil(depth * _POST_FILTER_MARGIN / share)
                nearest = self._nearest(vector, fetch, None)
                kept = [c for c in nearest if passes(c, outlets, since_ts, until_ts)][:depth]
                if len(kept) == depth or len(nearest) < fetch:  # enough, or the whole store seen
                    for rank, c in enumerate(kept, start=1):
                        c.dense_rank = rank
                    return kept
        return self._nearest(vector, depth, where)

    def _nearest(self, vector: list[float], n: int, where: dict[str, Any] | None) -> list[_Candidate]:
        """The `n` chunks nearest to `vector` (passing `where`), ranked. Only ids and distances
        come from the store: a chunk's text is read only if it is picked (`_fetch`), and what
        ranking needs comes from the keyword index, or from the store for chunks newer than it."""
        collection = self._keyword.collection()
        result = collection.query(query_embeddings=[vector], n_results=n, where=where, include=["distances"])
        ids = result["ids"][0] if result["ids"] else []
        distances = (result.get("distances") or [[]])[0]
        known = self._keyword.describe(ids)
        unknown = [chunk_id for chunk_id in ids if chunk_id not in known]
        if unknown:
            got = collection.get(ids=unknown, include=["metadatas"])
            for chunk_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                known[chunk_id] = ChunkInfo.from_metadata(chunk_id, meta)
        out: list[_Candidate] = []
        for chunk_id, distance in zip(ids, distances, strict=True):
            info = known.get(chunk_id)
            if info is None:  # deleted between the query and the get
                continue
            out.append(
                _Candidate(
                    chunk_id=chunk_id,
                    source_id=info.source_id,
                    story_id=info.story_id,
                    published_ts=info.published_ts,
                    outlet=info.outlet,
                    dense_rank=len(out) + 1,
                    dense_score=1.0 - float(distance),  # cosine distance -> similarity
                )
            )
        return out

    def _fuse(self, dense: list[_Candidate], hits: list[KeywordHit]) -> list[_Candidate]:
        by_id = {c.chunk_id: c for c in dense}
        for hit in hits:
            candidate = by_id.get(hit.chunk_id)
            if candidate is None:
                candidate = by_id[hit.chunk_id] = _Candidate(
                    chunk_id=hit.chunk_id,
                    source_id=hit.source_id,
                    story_id=hit.story_id,
                    published_ts=hit.published_ts,
                    outlet=hit.outlet,
                )
            candidate.keyword_rank = hit.rank
            candidate.keyword_score = hit.score
        for c in by_id.values():
            if self.mode == "dense":
                c.score = c.dense_score or 0.0
            elif self.mode == "bm25":
                c.score = c.keyword_score or 0.0
            else:
                c.score = 0.0
                if c.dense_rank is not None:
                    c.score += self.dense_weight / (self.rrf_k + c.dense_rank)
                if c.keyword_rank is not None:
                    c.score += self.keyword_weight / (self.rrf_k + c.keyword_rank)
        return list(by_id.values())

    def _boost_recent(self, candidates: list[_Candidate]) -> None:
        """Raise dated candidates' scores by up to `recency_weight`, halving per half-life of age
        behind the newest candidate (the corpus may be old: "latest" is relative to it)."""
        dated = [c.published_ts for c in candidates if c.published_ts >= 0]
        if not dated or self.recency_weight <= 0:
            return
        newest = max(dated)
        half_life = max(self.recency_half_life_days, 1e-6)
        for c in candidates:
            if c.published_ts < 0:
                continue
            age_days = (newest - c.published_ts) / _SECONDS_PER_DAY
            c.score += abs(c.score) * self.recency_weight * math.pow(0.5, age_days / half_life)

    def _boost_span(self, candidates: list[_Candidate], since_ts: int | None, until_ts: int | None) -> None:
        """Soft dates: candidates published in the span gain `span_weight` of their score;
        undated and other articles stay (the date may describe the event, not the article)."""
        low = since_ts if since_ts is not None else -(2**62)
        high = until_ts if until_ts is not None else 2**62
        for c in candidates:
            if c.published_ts >= 0 and low <= c.published_ts <= high:
                c.score += abs(c.score) * self.span_weight

    def _diversify(self, ranked: list[_Candidate], k: int, gone: set[str]) -> list[_Candidate]:
        cap = self.settings.max_per_article if self.max_per_article is None else self.max_per_article
        best_copy: dict[str, str] = {}
        taken: Counter[str] = Counter()
        chosen: list[_Candidate] = []
        for c in ranked:
            if c.chunk_id in gone:
                continue
            # Copies of one story count as one article: keep the copy that ranks first.
            if best_copy.setdefault(c.story_id, c.source_id) != c.source_id:
                continue
            if cap > 0 and taken[c.source_id] >= cap:
                continue
            taken[c.source_id] += 1
            chosen.append(c)
            if len(chosen) == k:
                break
        return chosen

    def _pick(self, ranked: list[_Candidate], k: int, vector: list[float] | None) -> list[Passage]:
        gone: set[str] = set()
        chosen: list[_Candidate] = []
        for _ in range(_REFILL_ROUNDS):
            chosen = self._diversify(ranked, k, gone)
            missing = [c for c in chosen if c.text is None]
            if not missing:
                break
            self._fetch(missing, vector)
            vanished = {c.chunk_id for c in missing if c.text is None}
            if not vanished:
                break
            log.debug("%d keyword hit(s) no longer in the store", len(vanished))
            gone |= vanished
        return [self._passage(c) for c in chosen if c.text is not None]

    def _fetch(self, candidates: list[_Candidate], vector: list[float] | None) -> None:
        """Fill in text and metadata (and, for keyword-only candidates, the dense similarity)."""
        scoring = vector is not None and any(c.dense_score is None for c in candidates)
        include = ["documents", "metadatas"] + (["embeddings"] if scoring else [])
        got = self._keyword.collection().get(ids=[c.chunk_id for c in candidates], include=include)
        embeddings = got.get("embeddings") if scoring else None
        query = np.asarray(vector, dtype=np.float32) if scoring else None
        rows = {chunk_id: i for i, chunk_id in enumerate(got["ids"])}
        for c in candidates:
            i = rows.get(c.chunk_id)
            if i is None:
                continue
            c.text = (got["documents"] or [""] * len(rows))[i] or ""
            c.metadata = dict((got["metadatas"] or [{}] * len(rows))[i] or {})
            if query is not None and embeddings is not None and c.dense_score is None:
                stored = np.asarray(embeddings[i], dtype=np.float32)
                norms = float(np.linalg.norm(stored) * np.linalg.norm(query))
                c.dense_score = float(stored @ query) / norms if norms else 0.0

    @staticmethod
    def _passage(c: _Candidate) -> Passage:
        meta = c.metadata or {}

        def text_of(key: str) -> str:
            value = meta.get(key)
            return str(value) if value is not None else ""

        def int_of(key: str) -> int:
            value = meta.get(key)
            return int(value) if isinstance(value, int | float) else 0

        return Passage(
            chunk_id=c.chunk_id,
            text=c.text or "",
            source_id=c.source_id,
            story_id=c.story_id,
            title=text_of("title"),
            url=text_of("url"),
            outlet=text_of("outlet"),
            author=text_of("author"),
            published_at=_parse_published(meta.get("published_at")),
            chunk_index=int_of("chunk_index"),
            char_start=int_of("char_start"),
            char_end=int_of("char_end"),
            score=c.score,
            dense_rank=c.dense_rank,
            keyword_rank=c.keyword_rank,
            dense_score=c.dense_score,
            keyword_score=c.keyword_score,
        )

    # --- LangChain ----------------------------------------------------------------------------
    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: SearchFilters | None = None,
    ) -> list[Document]:
        passages = self.search(query, k=k or self.k, filters=filters or self.filters)
        return [passage_document(p) for p in passages]


def passage_document(passage: Passage) -> Document:
    """A `Passage` as a LangChain `Document`: the chunk text, its store metadata and the scores."""
    metadata = passage.model_dump(exclude={"text"}, mode="json")
    metadata["published_at"] = passage.published_at.isoformat() if passage.published_at else ""
    return Document(id=passage.chunk_id, page_content=passage.text, metadata=metadata)
