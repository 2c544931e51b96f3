"""The last step of a search: the picked chunks read from the store as `Passage`s.

`pick(store, ranked, k, cap=..., vector=...)` takes the fused ranking (`retrieval.fusion`),
keeps the best `k` after `fusion.diversify` (one copy of a story, at most `cap` chunks of an
article), and reads their text and metadata from the store in one call, through
`retrieval.schema`. The vector of a chunk BM25 alone found is read too, for its `dense_score`.
A picked chunk the store no longer has is dropped and the next one takes its place, so a
deletion shows at once even while a large keyword index is still being rebuilt.
`passage_document` gives a `Passage` to LangChain as a `Document`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from retrieval import fusion
from retrieval.fusion import Candidate
from retrieval.models import Passage
from retrieval.schema import ChunkMeta
from retrieval.store import ChunkStore

log = logging.getLogger(__name__)

# How many times the final list is re-picked when chunks vanished from the store meanwhile.
_REFILL_ROUNDS = 3


@dataclass(frozen=True)
class _Fetched:
    """A picked chunk as the store has it: its text and metadata, and its similarity to the
    question when dense search did not score it."""

    text: str
    meta: ChunkMeta
    dense_score: float | None


def pick(store: ChunkStore, ranked: list[Candidate], k: int, *, cap: int, vector: list[float] | None) -> list[Passage]:
    """The best `k` of `ranked` after `fusion.diversify` (at most `cap` chunks of an article, 0 =
    no cap), as passages read from `store`, best first. A picked chunk the store no longer has is
    replaced by the next one (up to `_REFILL_ROUNDS` times). `vector` (the question's, None in
    BM25-only mode) scores the chunks dense search did not."""
    fetched: dict[str, _Fetched] = {}
    gone: set[str] = set()
    chosen: list[Candidate] = []
    for _ in range(_REFILL_ROUNDS):
        chosen = fusion.diversify(ranked, k, cap=cap, skip=gone)
        missing = [c for c in chosen if c.chunk_id not in fetched]
        if not missing:
            break
        fetched.update(_fetch(store, missing, vector))
        vanished = {c.chunk_id for c in missing if c.chunk_id not in fetched}
        if not vanished:
            break
        log.debug("%d keyword hit(s) no longer in the store", len(vanished))
        gone |= vanished
    return [_passage(c, fetched[c.chunk_id]) for c in chosen if c.chunk_id in fetched]


def _fetch(store: ChunkStore, candidates: list[Candidate], vector: list[float] | None) -> dict[str, _Fetched]:
    """Read the candidates' text and metadata (and, for keyword-only candidates, compute the
    dense similarity); chunk id -> what was read, for those the store still has."""
    scoring = vector is not None and any(c.dense_score is None for c in candidates)
    include = ["documents", "metadatas"] + (["embeddings"] if scoring else [])
    got = store.get([c.chunk_id for c in candidates], include=include)
    embeddings = got.get("embeddings") if scoring else None
    query = np.asarray(vector, dtype=np.float32) if scoring else None
    rows = {chunk_id: i for i, chunk_id in enumerate(got["ids"])}
    documents = got["documents"] or [""] * len(rows)
    metadatas = got["metadatas"] or [{}] * len(rows)
    fetched: dict[str, _Fetched] = {}
    for c in candidates:
        i = rows.get(c.chunk_id)
        if i is None:
            continue
        dense_score = c.dense_score
        if query is not None and embeddings is not None and dense_score is None:
            stored = np.asarray(embeddings[i], dtype=np.float32)
            norms = float(np.linalg.norm(stored) * np.linalg.norm(query))
            dense_score = float(stored @ query) / norms if norms else 0.0
        meta = ChunkMeta.from_metadata(c.chunk_id, metadatas[i])
        fetched[c.chunk_id] = _Fetched(text=documents[i] or "", meta=meta, dense_score=dense_score)
    return fetched


def _passage(c: Candidate, fetched: _Fetched) -> Passage:
    return Passage(
        **fetched.meta.model_dump(), chunk_id=c.chunk_id, text=fetched.text, score=c.score,
        dense_rank=c.dense_rank, keyword_rank=c.keyword_rank, dense_score=fetched.dense_score,
        keyword_score=c.keyword_score,
    )


def passage_document(passage: Passage) -> Document:
    """A `Passage` as a LangChain `Document`: the chunk text, its store metadata and the scores."""
    metadata = passage.model_dump(exclude={"text"}, mode="json")
    metadata["published_at"] = passage.published_at.isoformat() if passage.published_at else ""
    return Document(id=passage.chunk_id, page_content=passage.text, metadata=metadata)
