"""Hybrid retrieval: dense search in Chroma plus BM25, their scores fused.

`await HybridRetriever.asearch(question, k=..., filters=...)` returns typed `Passage`s; the same
retriever is a LangChain `BaseRetriever` (`invoke` returns `Document`s whose metadata carries
the scores) for chains that want one.

How a search runs:
1. The keyword index checks that it is current with the store (`retrieval.keyword`); it keeps
   the store's chunk table (`retrieval.store.ChunkStore`) current with it.
2. Dense: the question is embedded (the `Embeddings` given) and the store returns the `depth`
   nearest chunks that pass the filters: filtered after an over-fetch when many chunks pass, by
   a Chroma `where` when few do (see `HybridRetriever._dense`).
3. Keyword: BM25 over title + text returns the `depth` best chunks under the same filters.
4. Fusion (`retrieval.fusion`, `fusion="rrf"` by default): score = dense_weight / (rrf_k +
   dense rank) + keyword_weight / (rrf_k + keyword rank) (`fusion="relative"`: dense_weight x
   the similarity min-max normalised over the dense list + keyword_weight x the BM25 score
   min-max normalised over the keyword list); `prefer_recent` then lifts newer articles a little
   (a boost, not a sort), soft dates lift articles of the period.
5. Diversity: copies of one story (same `story_id`) count as one article and only the best copy
   is kept; at most `max_per_article` chunks of an article are returned.
6. The picked chunks' text and metadata are fetched from Chroma in one call (with the vector of
   the ones BM25 alone found, for their `dense_score`) and read through `retrieval.schema`; a
   chunk the store no longer has is dropped, so a deletion shows at once even while a large
   keyword index is still being rebuilt (`retrieval.passages`, which also does step 5).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from retrieval import fusion, passages, schema
from retrieval.errors import EmptyIndexError, RetrievalError
from retrieval.fusion import Candidate, Method, Mode
from retrieval.keyword import KeywordIndex
from retrieval.models import Passage, SearchFilters
from retrieval.outlets import resolve_outlets
from retrieval.query import Coverage
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.workers import run_cpu

log = logging.getLogger(__name__)

# Dense search filters after the search when at least this share of the chunks pass the filters,
# fetching this many times the chunks the passing share would need (see `_dense`).
_POST_FILTER_MIN_SHARE = 0.05
_POST_FILTER_MARGIN = 2.0


def day_bounds(filters: SearchFilters) -> tuple[int | None, int | None]:
    """Return the filters' dates as inclusive epoch seconds: `since` at 00:00:00 UTC, `until` at
    23:59:59 UTC (published_ts is stored in UTC)."""
    since = until = None
    if filters.since is not None:
        since = int(datetime.combine(filters.since, dtime.min, tzinfo=UTC).timestamp())
    if filters.until is not None:
        until = int(datetime.combine(filters.until, dtime.max, tzinfo=UTC).timestamp())
    return since, until


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
    # rrf stays the default: relative fusion ranks better on bbc-qa dev (hits@1 0.919 against
    # 0.878), where it was chosen, but gains little held out (calib 0.950 / 0.933, CNN equal) and
    # the fitted abstention policy abstains less on null questions over its passages (README).
    fusion: Method = Field(
        "rrf", description="How hybrid mode combines the searches: 'rrf' (reciprocal rank) or 'relative' (normalised scores)."
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

    _store: ChunkStore = PrivateAttr()
    _keyword: KeywordIndex = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._store = ChunkStore(self.settings, self.client)
        self._keyword = KeywordIndex(
            self.settings,
            self._store,
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
    def store(self) -> ChunkStore:
        return self._store

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
        self._keyword.ensure_current()  # it keeps the store's chunk table current
        return self._store.outlets()

    def coverage(self) -> Coverage:
        """The oldest and newest publish dates in the store (for `parse_filters(coverage=...)`);
        computed once per store version."""
        self._keyword.ensure_current()  # it keeps the store's chunk table current
        return self._store.coverage()

    # --- searching ----------------------------------------------------------------------------
    def _checked_search(self, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]:
        """`asearch`'s blocking body, for callers already in a worker thread (the briefing, the
        watches, LangChain's synchronous `invoke`)."""
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
        """Return up to `k` passages for `query`, best first, honouring `filters`. The search runs
        in newsbot's CPU pool, so the event loop is never blocked.

        An outlet filter naming no outlet in the store returns []. Raises EmptyIndexError when
        nothing is indexed, RetrievalError when the store cannot be searched."""
        return await run_cpu(self._checked_search, query, k=k, filters=filters)

    def _search(self, query: str, k: int, filters: SearchFilters) -> list[Passage]:
        self._keyword.ensure_current()
        outlets: list[str] | None = None
        if filters.outlets:
            outlets = resolve_outlets(filters.outlets, self._store.outlets())
            if not outlets:
                log.info("no outlet in the store matches %s", filters.outlets)
                return []
        since_ts, until_ts = day_bounds(filters)
        prefer_span = None
        if filters.soft_dates and (since_ts is not None or until_ts is not None):
            prefer_span, since_ts, until_ts = (since_ts, until_ts), None, None
        depth = max(self.depth, 3 * k)

        vector: list[float] | None = None
        dense: list[Candidate] = []
        if self.mode != "bm25":
            vector = self.embeddings.embed_query(query)
            dense = self._dense(vector, depth, outlets, since_ts, until_ts)
        keyword: list[Candidate] = []
        if self.mode != "dense":
            keyword = self._keyword_candidates(query, depth, outlets, since_ts, until_ts)
        if not dense and not keyword:
            if self._store.count() == 0:
                raise EmptyIndexError("nothing is indexed yet: ingest some articles first")
            return []
        ranked = fusion.fuse(
            dense, keyword, mode=self.mode, method=self.fusion, rrf_k=self.rrf_k,
            dense_weight=self.dense_weight, keyword_weight=self.keyword_weight,
        )
        if filters.prefer_recent:
            ranked = fusion.boost_recent(
                ranked, weight=self.recency_weight, half_life_days=self.recency_half_life_days
            )
        if prefer_span is not None:
            ranked = fusion.boost_span(ranked, *prefer_span, weight=self.span_weight)
        return self._pick(fusion.rank(ranked), k, vector)

    def _keyword_candidates(
        self, query: str, depth: int, outlets: list[str] | None, since_ts: int | None, until_ts: int | None
    ) -> list[Candidate]:
        """The `depth` best BM25 matches that pass the filters, ranked."""
        hits = self._keyword.search(query, k=depth, outlets=outlets, since_ts=since_ts, until_ts=until_ts)
        return [
            Candidate(
                chunk_id=h.chunk_id, source_id=h.source_id, story_id=h.story_id, published_ts=h.published_ts,
                outlet=h.outlet, keyword_rank=h.rank, keyword_score=h.score,
            )
            for h in hits
        ]

    def _dense(
        self, vector: list[float], depth: int, outlets: list[str] | None, since_ts: int | None, until_ts: int | None
    ) -> list[Candidate]:
        """The `depth` chunks nearest to `vector` that pass the filters, without their text.

        A Chroma `where` makes the store filter before it searches, which is slow when many
        chunks pass (over 0.5 s at 100k chunks for a sixth of them). So when the chunk table
        says at least `_POST_FILTER_MIN_SHARE` of the chunks pass, the search over-fetches
        without the filters and filters afterwards; when at least `depth` nearest chunks pass,
        they are exactly the nearest that pass. Otherwise, `where` it is."""
        where = schema.where(outlets, since_ts, until_ts)
        if where is not None:
            share = self._store.share(outlets, since_ts, until_ts)
            if share is not None and share >= _POST_FILTER_MIN_SHARE:
                fetch = math.ceil(depth * _POST_FILTER_MARGIN / share)
                nearest = self._nearest(vector, fetch, None)
                kept = [c for c in nearest if schema.matches(c.outlet, c.published_ts, outlets, since_ts, until_ts)]
                kept = kept[:depth]
                if len(kept) == depth or len(nearest) < fetch:  # enough, or the whole store seen
                    return [replace(c, dense_rank=rank) for rank, c in enumerate(kept, start=1)]
        return self._nearest(vector, depth, where)

    def _nearest(self, vector: list[float], n: int, where: dict[str, Any] | None) -> list[Candidate]:
        """The `n` chunks nearest to `vector` (passing `where`), ranked. Only ids and distances
        come from the store: a chunk's text is read only if it is picked (`passages.pick`), and what
        ranking needs comes from the chunk table, or from the store for chunks newer than it."""
        nearest = self._store.nearest(vector, n, where)
        known = self._store.describe(chunk_id for chunk_id, _ in nearest)
        out: list[Candidate] = []
        for chunk_id, similarity in nearest:
            info = known.get(chunk_id)
            if info is None:  # deleted between the query and the get
                continue
            out.append(
                Candidate(
                    chunk_id=chunk_id,
                    source_id=info.source_id,
                    story_id=info.story_id,
                    published_ts=info.published_ts,
                    outlet=info.outlet,
                    dense_rank=len(out) + 1,
                    dense_score=similarity,
                )
            )
        return out

    def _pick(self, ranked: list[Candidate], k: int, vector: list[float] | None) -> list[Passage]:
        """The best `k` of `ranked`, as passages (`retrieval.passages.pick`)."""
        cap = self.settings.max_per_article if self.max_per_article is None else self.max_per_article
        return passages.pick(self._store, ranked, k, cap=cap, vector=vector)

    # --- LangChain ----------------------------------------------------------------------------
    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: SearchFilters | None = None,
    ) -> list[Document]:
        found = self._checked_search(query, k=k or self.k, filters=filters or self.filters)
        return [passages.passage_document(p) for p in found]
