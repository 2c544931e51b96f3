"""Ranking candidates: reciprocal rank and relative fusion, boosts, story collapse and the per-article cap."""

from __future__ import annotations

import pytest

from retrieval.fusion import Candidate, boost_recent, boost_span, diversify, fuse, rank

DAY = 86_400


def cand(chunk_id: str, *, source: str | None = None, story: str | None = None, ts: int = -1,
         dense: int | None = None, keyword: int | None = None) -> Candidate:
    source = source or chunk_id
    return Candidate(
        chunk_id=chunk_id,
        source_id=source,
        story_id=story or source,
        published_ts=ts,
        dense_rank=dense,
        dense_score=None if dense is None else 1.0 - dense / 100,
        keyword_rank=keyword,
        keyword_score=None if keyword is None else 10.0 - keyword,
    )


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.chunk_id for c in candidates]


def test_rrf_ranks_a_chunk_both_searches_found_above_one_either_found_first() -> None:
    dense = [cand("a", dense=1), cand("b", dense=2), cand("c", dense=3)]
    keyword = [cand("d", keyword=1), cand("c", keyword=2)]

    ranked = rank(fuse(dense, keyword))

    assert ids(ranked) == ["c", "a", "d", "b"]
    both = ranked[0]
    assert (both.dense_rank, both.keyword_rank) == (3, 2)
    assert both.score == pytest.approx(1 / 63 + 1 / 62)


def test_rrf_weights_tilt_the_order() -> None:
    dense = [cand("a", dense=1)]
    keyword = [cand("b", keyword=1)]

    assert ids(rank(fuse(dense, keyword, keyword_weight=2.0))) == ["b", "a"]
    assert ids(rank(fuse(dense, keyword, dense_weight=2.0))) == ["a", "b"]


def scored(dense: list[tuple[str, float]], keyword: list[tuple[str, float]]) -> tuple[list[Candidate], list[Candidate]]:
    """Dense and keyword lists with explicit raw scores (similarities, BM25 scores), ranked as given."""
    return (
        [Candidate(chunk_id=i, source_id=i, story_id=i, published_ts=-1, dense_rank=r, dense_score=s)
         for r, (i, s) in enumerate(dense, start=1)],
        [Candidate(chunk_id=i, source_id=i, story_id=i, published_ts=-1, keyword_rank=r, keyword_score=s)
         for r, (i, s) in enumerate(keyword, start=1)],
    )


def test_relative_fusion_keeps_a_clear_winner_of_one_search_above_a_chunk_both_found_weakly() -> None:
    # "a" is far ahead in dense search, "d" far ahead in BM25; "c" is near the bottom of both.
    dense, keyword = scored([("a", 0.90), ("b", 0.55), ("c", 0.50)], [("d", 20.0), ("c", 5.0), ("x", 4.0)])

    relative = rank(fuse(dense, keyword, method="relative"))
    by_rrf = rank(fuse(dense, keyword, method="rrf"))

    assert ids(relative)[:2] == ["a", "d"]
    assert ids(relative)[-2:] == ["c", "x"]
    assert ids(by_rrf)[0] == "c"  # RRF only sees that both searches found it
    first = relative[0]
    assert (first.score, first.keyword_score) == (pytest.approx(1.0), None)


def test_relative_fusion_ranks_a_chunk_both_searches_score_well_first() -> None:
    dense, keyword = scored([("a", 0.9), ("b", 0.8), ("c", 0.2)], [("c", 9.0), ("b", 8.0), ("a", 1.0)])

    ranked = rank(fuse(dense, keyword, method="relative"))

    assert ids(ranked) == ["b", "a", "c"]
    assert ranked[0].score == pytest.approx((0.8 - 0.2) / 0.7 + (8.0 - 1.0) / 8.0)


def test_relative_fusion_tied_scores_count_as_the_best_of_their_list() -> None:
    dense, keyword = scored([("a", 0.5), ("b", 0.5)], [("b", 3.0), ("a", 1.0)])

    ranked = rank(fuse(dense, keyword, method="relative"))

    assert ids(ranked) == ["b", "a"]  # dense cannot tell them apart: BM25 decides
    assert [c.score for c in ranked] == [pytest.approx(2.0), pytest.approx(1.0)]
    tied, also_tied = scored([("a", 0.5), ("b", 0.5)], [("a", 2.0), ("b", 2.0)])
    assert ids(rank(fuse(tied, also_tied, method="relative"))) == ["a", "b"]  # full tie: dense order


def test_relative_fusion_a_one_item_list_gives_its_item_full_weight() -> None:
    dense, keyword = scored([("a", 0.3)], [("b", 7.0), ("c", 2.0)])

    scores = {c.chunk_id: c.score for c in fuse(dense, keyword, method="relative")}

    assert scores == {"a": pytest.approx(1.0), "b": pytest.approx(1.0), "c": pytest.approx(0.0)}
    only_keyword = fuse([], keyword, method="relative")
    assert [c.score for c in only_keyword] == [pytest.approx(1.0), pytest.approx(0.0)]


def test_relative_fusion_weights_tilt_the_order() -> None:
    dense, keyword = scored([("a", 0.9), ("b", 0.1)], [("b", 5.0), ("a", 1.0)])

    assert ids(rank(fuse(dense, keyword, method="relative", keyword_weight=2.0))) == ["b", "a"]
    assert ids(rank(fuse(dense, keyword, method="relative", dense_weight=2.0))) == ["a", "b"]


def test_single_modes_rank_by_their_own_scores() -> None:
    dense = [cand("a", dense=1), cand("b", dense=2)]
    keyword = [cand("b", keyword=1), cand("c", keyword=2)]

    assert ids(rank(fuse(dense, keyword, mode="dense"))) == ["a", "b", "c"]
    assert ids(rank(fuse(dense, keyword, mode="bm25"))) == ["b", "c", "a"]
    assert ids(rank(fuse(dense, keyword, mode="dense", method="relative"))) == ["a", "b", "c"]


def test_fusing_leaves_the_inputs_as_they_were() -> None:
    dense = [cand("a", dense=1)]
    keyword = [cand("a", keyword=1)]

    fuse(dense, keyword)

    assert (dense[0].keyword_rank, dense[0].score) == (None, 0.0)


def test_copies_of_one_story_count_once_and_the_best_copy_stays() -> None:
    ranked = [
        cand("wire-1", source="wire", story="strike"),
        cand("bbc-1", source="bbc", story="strike"),
        cand("npr-1", source="npr", story="budget"),
        cand("wire-2", source="wire", story="strike"),
    ]

    chosen = diversify(ranked, 10, cap=0)

    assert ids(chosen) == ["wire-1", "npr-1", "wire-2"]


def test_no_article_gets_more_chunks_than_the_cap() -> None:
    ranked = [cand(f"a-{i}", source="a") for i in range(5)] + [cand("b-0", source="b")]

    assert ids(diversify(ranked, 10, cap=2)) == ["a-0", "a-1", "b-0"]
    assert ids(diversify(ranked, 3, cap=0)) == ["a-0", "a-1", "a-2"]


def test_skipped_chunks_make_room_for_the_next() -> None:
    ranked = [cand("a"), cand("b"), cand("c")]

    assert ids(diversify(ranked, 2, cap=1, skip={"a"})) == ["b", "c"]


def test_recency_lifts_the_newer_of_two_equal_articles_and_leaves_undated_ones() -> None:
    now = 1_700_000_000
    old, new, undated = (
        cand("old", ts=now - 60 * DAY, dense=1),
        cand("new", ts=now, dense=2),
        cand("undated", dense=3),
    )
    ranked = fuse([old, new, undated], [])

    boosted = rank(boost_recent(ranked, weight=0.4, half_life_days=30))

    assert ids(boosted) == ["new", "old", "undated"]
    by_id = {c.chunk_id: c for c in boosted}
    assert by_id["new"].score == pytest.approx((1 / 62) * 1.4)
    assert by_id["old"].score == pytest.approx((1 / 61) * (1 + 0.4 * 0.25))  # two half-lives behind the newest
    assert by_id["undated"].score == 1 / 63


def test_recency_is_relative_to_the_newest_candidate() -> None:
    ranked = fuse([cand("a", ts=100 * DAY, dense=1), cand("b", ts=101 * DAY, dense=2)], [])

    boosted = boost_recent(ranked, weight=0.4, half_life_days=30)

    assert boosted[1].score == pytest.approx(ranked[1].score * 1.4)
    assert boost_recent(ranked, weight=0.0, half_life_days=30) == ranked


def test_a_soft_date_span_lifts_articles_of_the_period_only() -> None:
    ranked = fuse(
        [cand("before", ts=5 * DAY, dense=1), cand("inside", ts=20 * DAY, dense=2), cand("undated", dense=3)], []
    )

    boosted = rank(boost_span(ranked, 10 * DAY, 30 * DAY, weight=0.5))

    assert ids(boosted) == ["inside", "before", "undated"]
