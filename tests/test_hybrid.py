"""Hybrid retrieval as a user meets it: filters, one story once, a few passages per article,
newest first when asked, and the two halves (dense, BM25) each finding what the other misses."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from ingest.indexer import Indexer
from retrieval.errors import EmptyIndexError
from retrieval.hybrid import HybridRetriever
from retrieval.models import SearchFilters
from retrieval.query import parse_filters
from retrieval.settings import Settings
from retrieval.store import get_collection
from tests.support.search import search

FILLER = (
    "Officials met on {day} to review the figures, and analysts said the outlook for the "
    "sector remained uncertain after a difficult year for households and businesses."
)


def paragraphs(*sentences: str) -> str:
    return "\n\n".join(sentences)


def write_corpus(folder: Path, articles: dict[str, tuple[str, str, dict[str, str]]]) -> Path:
    """Write `source_id -> (title, text, metadata)` as text files plus a metadata.json sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    sidecar_path = folder / "metadata.json"
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    for source_id, (title, text, meta) in articles.items():
        (folder / f"{source_id}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        sidecar[source_id] = meta
    sidecar_path.write_text(json.dumps(sidecar), encoding="utf-8")
    return folder


RAIL = paragraphs(
    "Rail fares will rise by 3% from January, the operators' group said on Tuesday.",
    "Passenger groups said commuters on the Quillfeather line faced the steepest rail fare rise.",
    FILLER.format(day="Monday"),
)
NEWS = {
    "bbc-rail": ("Rail fares to rise", RAIL, {"outlet": "BBC News", "published": "2017-03-01T09:00:00Z"}),
    "npr-rail": (
        "Commuters face fare increase",
        paragraphs(
            "Train tickets will cost more next year as rail fares rise, the industry said.",
            "Commuter groups called the rail fare rise unfair to part-time workers.",
            FILLER.format(day="Friday"),
        ),
        {"outlet": "NPR", "published": "2017-03-10T15:30:00Z"},
    ),
    "cnn-rail": (
        "Fare rise criticised",
        paragraphs(
            "Unions criticised the planned rail fare rise and threatened strikes over pay.",
            FILLER.format(day="Sunday"),
        ),
        {"outlet": "CNN"},  # no date
    ),
    "bbc-steel": (
        "Steel plant to close",
        paragraphs(
            "Brannigan Steel will close its plant with the loss of 800 jobs, the company said.",
            FILLER.format(day="Thursday"),
        ),
        {"outlet": "BBC News", "published": "2017-02-20T08:00:00Z"},
    ),
}


@pytest.fixture
def indexer(settings: Settings, fake_embeddings: DeterministicFakeEmbedding) -> Iterator[Indexer]:
    idx = Indexer(settings, embeddings=fake_embeddings)
    yield idx
    idx.close()


@pytest.fixture
def news(indexer: Indexer, tmp_path: Path) -> Indexer:
    report = indexer.ingest([str(write_corpus(tmp_path / "news", NEWS))])
    assert report.exit_code == 0 and len(report.added) == len(NEWS)
    return indexer


def retriever(indexer: Indexer, mode: str = "hybrid", **kwargs: object) -> HybridRetriever:
    return HybridRetriever(
        settings=indexer.settings, embeddings=indexer.embeddings, client=indexer.client, mode=mode, **kwargs
    )


# --- filters --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_outlet_filter_is_tolerant_and_excludes_the_rest(news: Indexer, mode: str) -> None:
    r = retriever(news, mode)
    for name in ("BBC", "the BBC", "bbc news"):
        found = search(r, "rail fare rise", k=10, filters=SearchFilters(outlets=[name]))
        assert found and {p.outlet for p in found} == {"BBC News"}
    both = search(r, "rail fare rise", k=10, filters=SearchFilters(outlets=["NPR", "CNN"]))
    assert {p.source_id for p in both} == {"npr-rail", "cnn-rail"}


# Fake dense scores are noise: no ranking claim in dense mode. Hybrid with rank fusion squeezes
# the noise into near-equal scores, so the period's boost puts it first; relative fusion keeps the
# (noise) margins, so there the period's article only rises.
@pytest.mark.parametrize(("mode", "fusion"), [("bm25", "relative"), ("hybrid", "rrf")])
def test_soft_dates_rank_the_period_first_but_keep_the_rest(news: Indexer, mode: str, fusion: str) -> None:
    r = retriever(news, mode, fusion=fusion)
    query = "rail fare rise and the sector outlook"
    soft = SearchFilters(since=date(2017, 3, 10), until=date(2017, 3, 10), soft_dates=True)
    passages = search(r, query, k=10, filters=soft)
    ids = [p.source_id for p in passages]
    assert ids[0] == "npr-rail"
    assert {"bbc-rail", "cnn-rail"} <= set(ids), "undated and other articles are not excluded"


def test_soft_dates_lift_the_period_with_relative_fusion(news: Indexer) -> None:
    r = retriever(news, fusion="relative")
    query = "rail fare rise and the sector outlook"
    soft = SearchFilters(since=date(2017, 3, 10), until=date(2017, 3, 10), soft_dates=True)
    plain = [p.source_id for p in search(r, query, k=10)]
    lifted = [p.source_id for p in search(r, query, k=10, filters=soft)]
    assert lifted.index("npr-rail") < plain.index("npr-rail")
    assert set(lifted) == set(plain), "undated and other articles are not excluded"


def test_an_outlet_not_in_the_store_finds_nothing(news: Indexer) -> None:
    assert search(retriever(news), "rail fares", filters=SearchFilters(outlets=["Fox News"])) == []


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_date_filters_are_inclusive_and_drop_undated_articles(news: Indexer, mode: str) -> None:
    r = retriever(news, mode)

    def found(since: date | None, until: date | None) -> set[str]:
        # every article has the outlook sentence, so each mode could return each article
        query = "rail fare rise and the sector outlook"
        passages = search(r, query, k=10, filters=SearchFilters(since=since, until=until))
        return {p.source_id for p in passages}

    # bbc-steel 20 Feb, bbc-rail 1 Mar, npr-rail 10 Mar, cnn-rail undated
    assert found(date(2017, 3, 1), date(2017, 3, 1)) == {"bbc-rail"}
    assert found(date(2017, 3, 1), date(2017, 3, 10)) == {"bbc-rail", "npr-rail"}
    assert found(date(2017, 2, 21), date(2017, 3, 9)) == {"bbc-rail"}
    assert found(date(2017, 3, 2), None) == {"npr-rail"}
    assert found(None, date(2017, 2, 20)) == {"bbc-steel"}
    assert "cnn-rail" in found(None, None)


def test_a_question_with_filter_words_searches_what_it_asks(news: Indexer) -> None:
    r = retriever(news)
    query, filters, _ = parse_filters(
        "What did NPR report about rail fares last week?",
        today=date(2017, 3, 15),
        known_outlets=r.outlets(),
    )
    assert r.outlets() == ["BBC News", "CNN", "NPR"]
    assert (query, filters.outlets) == ("Rail fares last week?", ["NPR"])
    assert {p.source_id for p in search(r, query, filters=filters)} == {"npr-rail"}


# --- what comes back ------------------------------------------------------------------------------
def test_passages_carry_their_article_and_scores(news: Indexer) -> None:
    top = search(retriever(news, "bm25"), "Brannigan Steel", k=1)[0]
    assert (top.source_id, top.title, top.outlet) == ("bbc-steel", "Steel plant to close", "BBC News")
    assert top.published_at is not None and top.published_at.date() == date(2017, 2, 20)
    assert top.keyword_rank == 1 and top.keyword_score and top.keyword_score > 0
    assert "Brannigan Steel" in top.text

    hybrid = search(retriever(news), "Brannigan Steel", k=3)
    assert all(p.dense_score is not None for p in hybrid)  # computed for keyword-only hits too
    assert [p.score for p in hybrid] == sorted((p.score for p in hybrid), reverse=True)


def test_modes_use_their_own_half(news: Indexer) -> None:
    dense = search(retriever(news, "dense"), "rail fare rise", k=5)
    assert dense and all(p.keyword_rank is None and p.dense_rank for p in dense)
    keyword = search(retriever(news, "bm25"), "rail fare rise", k=5)
    assert keyword and all(p.dense_rank is None and p.keyword_rank for p in keyword)
    # a word no article has: BM25 finds nothing, dense still returns its nearest chunks
    assert search(retriever(news, "bm25"), "xylophone", k=5) == []
    assert search(retriever(news, "hybrid"), "xylophone", k=5)


def test_langchain_invoke_returns_documents_with_scores(news: Indexer) -> None:
    r = retriever(news, "bm25", k=2)
    docs = r.invoke("Brannigan Steel")
    assert len(docs) <= 2 and all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["source_id"] == "bbc-steel"
    assert docs[0].metadata["score"] > 0 and docs[0].id == docs[0].metadata["chunk_id"]
    filtered = r.invoke("rail fare rise", filters=SearchFilters(outlets=["NPR"]))
    assert {d.metadata["outlet"] for d in filtered} == {"NPR"}


def test_an_empty_store_says_so(settings: Settings, indexer: Indexer) -> None:
    with pytest.raises(EmptyIndexError):
        search(retriever(indexer), "anything at all")


# --- diversity ------------------------------------------------------------------------------------
def long_article(topic: str, n: int) -> str:
    return paragraphs(
        *(
            f"Section {i}. The {topic} inquiry heard evidence from witness number {i}, who said the "
            f"{topic} affair had been handled badly by ministers and officials over many months, and "
            f"that lessons from the {topic} case still had not been learned by anyone in charge."
            for i in range(n)
        )
    )


def test_at_most_two_passages_per_article(indexer: Indexer, tmp_path: Path) -> None:
    corpus = {
        "long": ("Inquiry report published", long_article("Marwick", 16), {"outlet": "BBC News"}),
        **{
            f"short{i}": (f"Short item {i}", f"The Marwick inquiry was mentioned in item {i}. " + FILLER.format(day="Monday"), {"outlet": "BBC News"})
            for i in range(6)
        },
    }
    indexer.ingest([str(write_corpus(tmp_path / "c", corpus))])
    assert get_collection(indexer.client, indexer.settings).get(where={"source_id": "long"})["ids"].__len__() > 4

    for mode in ("bm25", "hybrid"):
        capped = Counter(p.source_id for p in search(retriever(indexer, mode), "Marwick inquiry", k=8))
        assert capped["long"] == 2
        assert max(capped.values()) <= 2
    uncapped = Counter(p.source_id for p in search(retriever(indexer, "bm25", max_per_article=0), "Marwick inquiry", k=8))
    assert uncapped["long"] > 2


def test_copies_of_one_story_count_as_one_article(indexer: Indexer, tmp_path: Path) -> None:
    text = long_article("Harwood", 6)
    copy = text.replace("Section 3.", "Part 3.")  # a near-duplicate: the same story, lightly edited
    corpus = {
        "bbc-harwood": ("Harwood inquiry", text, {"outlet": "BBC News"}),
        "cnn-harwood": ("Harwood inquiry", copy, {"outlet": "CNN"}),
        "other": ("Harwood mentioned", "The Harwood case came up briefly. " + FILLER.format(day="Monday"), {"outlet": "NPR"}),
    }
    indexer.ingest([str(write_corpus(tmp_path / "c", corpus))])
    stories = {indexer.article(s).story_id for s in ("bbc-harwood", "cnn-harwood")}
    assert len(stories) == 1  # the indexer saw one story

    for mode in ("dense", "bm25", "hybrid"):
        found = Counter(p.source_id for p in search(retriever(indexer, mode), "Harwood inquiry", k=10))
        copies = [s for s in found if s.endswith("-harwood")]
        assert len(copies) == 1, mode
        assert found[copies[0]] == 2 and "other" in found

    # asked for CNN only, the CNN copy is the one that comes back
    cnn = search(retriever(indexer), "Harwood inquiry", filters=SearchFilters(outlets=["CNN"]))
    assert {p.source_id for p in cnn} == {"cnn-harwood"}


# --- latest ---------------------------------------------------------------------------------------
def test_prefer_recent_lifts_newer_articles_without_sorting_by_date(indexer: Indexer, tmp_path: Path) -> None:
    corpus = {
        "old": (
            "January report",
            "The glacier retreat was measured again. Scientists said glacier loss and glacier "
            "thinning had sped up. " + FILLER.format(day="Monday"),
            {"outlet": "BBC News", "published": "2017-01-01"},
        ),
        "new": (
            "March report",
            "The glacier retreat was measured once more. Scientists said glacier loss had sped "
            "up over the winter. " + FILLER.format(day="Tuesday"),
            {"outlet": "BBC News", "published": "2017-03-10"},
        ),
        "newest": (
            "Weather roundup",
            paragraphs(
                "Storms swept the north coast and ferries were cancelled across the islands.",
                "Snow closed mountain roads, a glacier path was shut, and schools stayed closed.",
                FILLER.format(day="Wednesday"),
                "Forecasters expect calmer weather and warmer temperatures by the weekend.",
            ),
            {"outlet": "BBC News", "published": "2017-03-12"},
        ),
    }
    indexer.ingest([str(write_corpus(tmp_path / "c", corpus))])
    r = retriever(indexer, "bm25")

    assert [p.source_id for p in search(r, "glacier loss", k=3)] == ["old", "new", "newest"]
    latest = [p.source_id for p in search(r, "glacier loss", k=3, filters=SearchFilters(prefer_recent=True))]
    assert latest == ["new", "old", "newest"]


# --- the real model on real articles --------------------------------------------------------------
# 20 real BBC articles (about 60 chunks): enough distractors for both halves to go wrong alone.
BBC_SUBSET = [f"{cat}/{n:03d}" for cat in ("business", "tech") for n in range(1, 11)]


@pytest.fixture(scope="module")
def bbc_store(
    tmp_path_factory: pytest.TempPathFactory, local_embeddings: Embeddings
) -> Iterator[Indexer]:
    from tests.conftest import SHARED

    base = tmp_path_factory.mktemp("bbc")
    corpus = base / "bbc"
    for source_id in BBC_SUBSET:
        target = corpus / f"{source_id}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / "bbc" / f"{source_id}.txt", target)
    settings = Settings(store_dir=base / "store", _env_file=None)  # type: ignore[call-arg]
    idx = Indexer(settings, embeddings=local_embeddings)
    assert len(idx.ingest([str(corpus)], outlet="BBC News").added) == len(BBC_SUBSET)
    yield idx
    idx.close()


def ranks(indexer: Indexer, question: str, gold: str) -> dict[str, int | None]:
    """1-based rank of the gold article in each mode's top 5 (None when missing)."""
    out: dict[str, int | None] = {}
    for mode in ("dense", "bm25", "hybrid"):
        found = list(dict.fromkeys(p.source_id for p in search(retriever(indexer, mode), question, k=5)))
        out[mode] = found.index(gold) + 1 if gold in found else None
    return out


def test_hybrid_finds_a_paraphrase_that_only_dense_understands(bbc_store: Indexer) -> None:
    # business/001, "Ad sales boost Time Warner profit": no word of the question is in the title,
    # and BM25 ranks other articles first.
    got = ranks(bbc_store, "How did the media company's earnings change at the end of the year?", "business/001")
    assert got["bm25"] is None
    assert got["dense"] == 1 and got["hybrid"] == 1


def test_hybrid_finds_a_rare_name_that_only_bm25_matches(bbc_store: Indexer) -> None:
    # business/006 quotes Japan's economy minister Heizo Takenaka once; the embedding of the bare
    # name lands elsewhere.
    got = ranks(bbc_store, "Who is Heizo Takenaka?", "business/006")
    assert got["dense"] is None
    assert got["bm25"] == 1 and got["hybrid"] == 1


# --- how dense search applies filters ---------------------------------------------------------

def many_outlets(folder: Path) -> Path:
    """300 one-chunk articles: 250 from Wire, 40 from Daily (13 %), 10 from Rare (3 %), dated
    over 2017 (a day each, in turn)."""
    articles: dict[str, tuple[str, str, dict[str, str]]] = {}
    for i in range(300):
        outlet = "Rare" if i % 30 == 0 else "Daily" if i % 30 < 5 else "Wire"
        day = date(2017, 1, 1).toordinal() + i
        text = f"Report {i}: the council of district {i} voted on item {i * 7} of its plan."
        articles[f"a{i:03}"] = (f"Item {i}", text, {"outlet": outlet, "published": date.fromordinal(day).isoformat()})
    return write_corpus(folder, articles)


def test_filtered_dense_search_returns_the_nearest_chunks_that_pass(
    indexer: Indexer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dense search filters after an over-fetch when many chunks pass and asks Chroma to filter
    when few do; either way the user gets the nearest chunks that pass, as Chroma's own filtered
    search finds them."""
    assert indexer.ingest([str(many_outlets(tmp_path / "many"))]).exit_code == 0
    r = retriever(indexer, "dense", depth=10, max_per_article=1)
    wheres: list[object] = []
    nearest = HybridRetriever._nearest

    def spy(self: HybridRetriever, vector: list[float], n: int, where: object) -> object:
        wheres.append(where)
        return nearest(self, vector, n, where)

    monkeypatch.setattr(HybridRetriever, "_nearest", spy)
    collection = get_collection(indexer.client, indexer.settings)
    query = "the council voted on its plan"
    vector = indexer.embeddings.embed_query(query)

    def expected(where: dict[str, object]) -> list[str]:
        got = collection.query(query_embeddings=[vector], n_results=10, where=where, include=["metadatas"])
        return [str(m["source_id"]) for m in got["metadatas"][0]]

    def found(filters: SearchFilters) -> list[str]:
        wheres.clear()
        return [p.source_id for p in search(r, query, k=10, filters=filters)]

    # most chunks pass: one unfiltered over-fetch
    wire_2017h1 = SearchFilters(outlets=["Wire"], until=date(2017, 6, 30))
    assert found(wire_2017h1) == expected(
        {"$and": [{"outlet": {"$in": ["Wire"]}}, {"published_ts": {"$lte": 1498867199}}, {"published_ts": {"$ne": -1}}]}
    )
    assert wheres == [None]
    # 13 % pass: over-fetch too; with a thin margin too few of the fetched pass, so Chroma filters
    assert found(SearchFilters(outlets=["Daily"])) == expected({"outlet": {"$in": ["Daily"]}})
    assert wheres == [None]
    monkeypatch.setattr("retrieval.hybrid._POST_FILTER_MARGIN", 0.2)
    assert found(SearchFilters(outlets=["Daily"])) == expected({"outlet": {"$in": ["Daily"]}})
    assert wheres == [None, {"outlet": {"$in": ["Daily"]}}]
    # 3 % pass: Chroma filters at once
    rare = found(SearchFilters(outlets=["Rare"]))
    assert rare == expected({"outlet": {"$in": ["Rare"]}}) and len(rare) == 10
    assert wheres == [{"outlet": {"$in": ["Rare"]}}]
