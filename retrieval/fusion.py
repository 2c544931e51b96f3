"""Ranking the candidates of dense and keyword search: fusion, boosts and diversity.

Pure functions over candidate lists (no store, no model): `retrieval.hybrid` gathers the
candidates, calls these in order (`fuse`, then `boost_recent` / `boost_span`, `rank`,
`diversify`) and fetches the text of what `diversify` picked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

Mode = Literal["dense", "bm25", "hybrid"]
# How `hybrid` mode combines the two searches: "rrf" (reciprocal rank fusion, ranks only) or
# "relative" (each search's raw scores min-max normalised over its own list, then summed).
Method = Literal["rrf", "relative"]

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Candidate:
    """A chunk dense or keyword search found, with its ranks, raw scores and fused score."""

    chunk_id: str
    source_id: str
    story_id: str
    published_ts: int  # epoch seconds, retrieval.schema.NO_DATE = no date
    outlet: str = ""
    dense_rank: int | None = None
    dense_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None
    score: float = 0.0


def fuse(
    dense: Sequence[Candidate],
    keyword: Sequence[Candidate],
    *,
    mode: Mode = "hybrid",
    method: Method = "rrf",
    rrf_k: int = 60,
    dense_weight: float = 1.0,
    keyword_weight: float = 1.0,
) -> list[Candidate]:
    """Merge dense and keyword candidates (one per chunk: its dense rank and score from `dense`,
    its keyword ones from `keyword`) and score them.

    Returns them in dense order, then the keyword-only ones in keyword order, unsorted. In
    `hybrid` mode the score is, with `method="rrf"`, reciprocal rank fusion (dense_weight /
    (rrf_k + dense rank) plus keyword_weight / (rrf_k + keyword rank)); with
    `method="relative"`, dense_weight times the dense similarity min-max normalised over `dense`
    plus keyword_weight times the BM25 score min-max normalised over `keyword` (so each search's
    best gets its full weight, its worst 0, and a chunk one search did not find gets 0 from it).
    In `dense` mode the score is the raw similarity, in `bm25` mode the raw BM25 score."""
    by_id = {c.chunk_id: c for c in dense}
    for hit in keyword:
        found = by_id.get(hit.chunk_id)
        by_id[hit.chunk_id] = replace(
            found if found is not None else hit, keyword_rank=hit.keyword_rank, keyword_score=hit.keyword_score
        )
    if mode == "hybrid" and method == "relative":
        dense_norm = _min_max({c.chunk_id: c.dense_score for c in dense})
        keyword_norm = _min_max({c.chunk_id: c.keyword_score for c in keyword})
        return [
            replace(
                c,
                score=dense_weight * dense_norm.get(c.chunk_id, 0.0)
                + keyword_weight * keyword_norm.get(c.chunk_id, 0.0),
            )
            for c in by_id.values()
        ]
    return [replace(c, score=_score(c, mode, rrf_k, dense_weight, keyword_weight)) for c in by_id.values()]


def _min_max(scores: dict[str, float | None]) -> dict[str, float]:
    """Each score mapped onto [0, 1] over the list: its best 1, its worst 0. When every score is
    the same (one candidate, or all tied) each gets 1: nothing in the list ranks below another."""
    known = {chunk_id: s for chunk_id, s in scores.items() if s is not None}
    if not known:
        return {}
    low, high = min(known.values()), max(known.values())
    if high == low:
        return dict.fromkeys(known, 1.0)
    return {chunk_id: (s - low) / (high - low) for chunk_id, s in known.items()}


def _score(c: Candidate, mode: Mode, rrf_k: int, dense_weight: float, keyword_weight: float) -> float:
    if mode == "dense":
        return c.dense_score or 0.0
    if mode == "bm25":
        return c.keyword_score or 0.0
    score = 0.0
    if c.dense_rank is not None:
        score += dense_weight / (rrf_k + c.dense_rank)
    if c.keyword_rank is not None:
        score += keyword_weight / (rrf_k + c.keyword_rank)
    return score


def boost_recent(candidates: Sequence[Candidate], *, weight: float, half_life_days: float) -> list[Candidate]:
    """Raise dated candidates' scores by up to `weight` of their score, halving per
    `half_life_days` of age behind the newest candidate (the corpus may be old: "latest" is
    relative to it). Returns the candidates in the same order; undated ones keep their score."""
    dated = [c.published_ts for c in candidates if c.published_ts >= 0]
    if not dated or weight <= 0:
        return list(candidates)
    newest = max(dated)
    half_life = max(half_life_days, 1e-6)

    def boosted(c: Candidate) -> Candidate:
        if c.published_ts < 0:
            return c
        age_days = (newest - c.published_ts) / _SECONDS_PER_DAY
        return replace(c, score=c.score + abs(c.score) * weight * math.pow(0.5, age_days / half_life))

    return [boosted(c) for c in candidates]


def boost_span(
    candidates: Sequence[Candidate], since_ts: int | None, until_ts: int | None, *, weight: float
) -> list[Candidate]:
    """Soft dates: candidates published in the inclusive span gain `weight` of their score;
    undated and other articles stay (the date may describe the event, not the article).
    Returns the candidates in the same order."""
    low = since_ts if since_ts is not None else -(2**62)
    high = until_ts if until_ts is not None else 2**62
    return [
        replace(c, score=c.score + abs(c.score) * weight) if 0 <= c.published_ts and low <= c.published_ts <= high
        else c
        for c in candidates
    ]


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The candidates best score first (ties keep their order)."""
    return sorted(candidates, key=lambda c: c.score, reverse=True)


def diversify(ranked: Iterable[Candidate], k: int, *, cap: int, skip: set[str] | None = None) -> list[Candidate]:
    """Up to `k` of `ranked` (best first), in order: copies of one story (same story_id) count
    as one article and only the copy that ranks first is kept; at most `cap` chunks of an
    article (0 = no cap). Chunks whose id is in `skip` are passed over."""
    skip = skip or set()
    best_copy: dict[str, str] = {}
    taken: Counter[str] = Counter()
    chosen: list[Candidate] = []
    if k <= 0:
        return chosen
    for c in ranked:
        if c.chunk_id in skip:
            continue
        if best_copy.setdefault(c.story_id, c.source_id) != c.source_id:
            continue
        if cap > 0 and taken[c.source_id] >= cap:
            continue
        taken[c.source_id] += 1
        chosen.append(c)
        if len(chosen) == k:
            break
    return chosen
