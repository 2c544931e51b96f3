"""The keyword index follows the store by itself: ingests, removals, other writers, restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from ingest.indexer import Indexer
from retrieval.hybrid import HybridRetriever
from retrieval.keyword import Analyzer
from retrieval.settings import Settings
from retrieval.store import get_collection, read_version
from tests.support.waiting import wait_until
from tests.support.search import search

ROOT = Path(__file__).resolve().parents[1]


def body(topic: str, n: int = 3) -> str:
    return "\n\n".join(
        f"Paragraph {i}: officials discussed {topic} at length on day {i}, and critics of the "
        f"{topic} plan said the council had not listened to residents." for i in range(n)
    )


def write(folder: Path, source_id: str, title: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{source_id}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    write(folder, "rail", "Rail fares rise again", body("rail fares") + " The Quillfeather line closes.")
    write(folder, "steel", "Steel plant closes", body("steel jobs") + " Brannigan Steel blamed costs.")
    write(folder, "harbour", "Harbour dredging starts", body("harbour dredging"))
    return folder


@pytest.fixture
def indexer(settings: Settings, fake_embeddings: DeterministicFakeEmbedding) -> Iterator[Indexer]:
    idx = Indexer(settings, embeddings=fake_embeddings)
    yield idx
    idx.close()


def bm25(settings: Settings, indexer: Indexer, **kwargs: object) -> HybridRetriever:
    return HybridRetriever(
        settings=settings, embeddings=indexer.embeddings, client=indexer.client, mode="bm25", **kwargs
    )


def sources(retriever: HybridRetriever, query: str, k: int = 10) -> list[str]:
    return [p.source_id for p in search(retriever, query, k=k)]


def test_an_ingest_is_searchable_at_once(settings: Settings, indexer: Indexer, corpus: Path) -> None:
    indexer.ingest([str(corpus)])
    retriever = bm25(settings, indexer)
    indexer.on_change(retriever.index_changed)
    assert sources(retriever, "Zanzibar ferry") == []

    write(corpus, "ferry", "Ferry strike ends", body("ferry crossings") + " The Zanzibar route reopens.")
    indexer.ingest([str(corpus)])

    assert sources(retriever, "Zanzibar ferry")[0] == "ferry"


def test_a_removed_article_is_never_returned_again(
    settings: Settings, indexer: Indexer, corpus: Path
) -> None:
    indexer.ingest([str(corpus)])
    retriever = bm25(settings, indexer)
    indexer.on_change(retriever.index_changed)
    assert "rail" in sources(retriever, "Quillfeather rail fares")
    # every article mentions the council: the removed one must not come back under any query
    assert "rail" in sources(retriever, "council residents")

    assert indexer.remove("rail") == ["rail"]

    assert sources(retriever, "Quillfeather rail fares") == []
    assert "rail" not in sources(retriever, "council residents")
    assert set(sources(retriever, "council residents")) == {"steel", "harbour"}


def test_changes_by_another_indexer_are_picked_up(
    settings: Settings, indexer: Indexer, corpus: Path, fake_embeddings: DeterministicFakeEmbedding
) -> None:
    indexer.ingest([str(corpus)])
    retriever = bm25(settings, indexer)  # default: checks the store version at most every 0.5 s
    assert sources(retriever, "Brannigan steel")[0] == "steel"

    other = Indexer(settings, embeddings=fake_embeddings)  # no listener: like another process
    try:
        write(corpus, "ferry", "Ferry strike ends", body("ferry crossings") + " The Zanzibar route reopens.")
        other.ingest([str(corpus)])
        other.remove("steel")
    finally:
        other.close()
    # Picked up at the first version check after the change (within `version_check_seconds`).
    wait_until(lambda: sources(retriever, "Zanzibar ferry")[:1] == ["ferry"], timeout=10, what="the new article")
    assert sources(retriever, "Zanzibar ferry")[0] == "ferry"
    assert sources(retriever, "Brannigan steel") == []


def test_changes_by_another_process_are_picked_up(
    settings: Settings, indexer: Indexer, corpus: Path, tmp_path: Path
) -> None:
    indexer.ingest([str(corpus)])
    retriever = bm25(settings, indexer, version_check_seconds=0.0)
    assert sources(retriever, "Zanzibar") == []

    extra = tmp_path / "extra"
    write(extra, "ferry", "Ferry strike ends", body("ferry crossings") + " The Zanzibar route reopens.")
    script = textwrap.dedent(
        f"""
        from langchain_core.embeddings import DeterministicFakeEmbedding
        from ingest.indexer import Indexer
        from retrieval.settings import Settings
        settings = Settings(store_dir={str(settings.store_dir)!r}, _env_file=None)
        indexer = Indexer(settings, embeddings=DeterministicFakeEmbedding(size=32))
        assert indexer.ingest([{str(extra)!r}]).added == ["ferry"]
        assert indexer.remove("harbour") == ["harbour"]
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120)

    assert sources(retriever, "Zanzibar ferry")[0] == "ferry"
    assert "harbour" not in sources(retriever, "council residents harbour dredging")


def test_a_restart_loads_the_saved_index_instead_of_rebuilding(
    settings: Settings, indexer: Indexer, corpus: Path
) -> None:
    indexer.ingest([str(corpus)])
    first = bm25(settings, indexer)
    before = sources(first, "council residents")
    assert first.keyword_index.rebuilds == 1

    manifest = json.loads((settings.state_dir / "keyword-index" / "manifest.json").read_text())
    assert manifest["version"] == read_version(get_collection(indexer.client, settings))
    assert manifest["chunks"] == get_collection(indexer.client, settings).count()

    second = bm25(settings, indexer)
    assert sources(second, "council residents") == before
    assert (second.keyword_index.loads, second.keyword_index.rebuilds) == (1, 0)


def test_a_restart_after_the_store_changed_rebuilds(
    settings: Settings, indexer: Indexer, corpus: Path
) -> None:
    indexer.ingest([str(corpus)])
    assert sources(bm25(settings, indexer), "Brannigan")[0] == "steel"

    # the bot is down while the store changes
    write(corpus, "ferry", "Ferry strike ends", body("ferry crossings") + " The Zanzibar route reopens.")
    indexer.ingest([str(corpus)])

    restarted = bm25(settings, indexer)
    assert sources(restarted, "Zanzibar")[0] == "ferry"
    assert restarted.keyword_index.rebuilds == 1


def test_a_large_index_rebuilds_in_the_background(
    settings: Settings, indexer: Indexer, corpus: Path, fake_embeddings: DeterministicFakeEmbedding
) -> None:
    indexer.ingest([str(corpus)])
    retriever = bm25(settings, indexer, version_check_seconds=0.0, background_rebuild_min_chunks=1)
    assert sources(retriever, "Brannigan")[0] == "steel"

    stale_version = retriever.keyword_index.version

    other = Indexer(settings, embeddings=fake_embeddings)
    try:
        # Hold the rebuild back so the search below runs on the stale index, which still has
        # the article: it must not come back anyway.
        with retriever.keyword_index._build_lock:
            other.remove("steel")
            assert sources(retriever, "Brannigan steel") == []
            assert retriever.keyword_index.version == stale_version
        write(corpus, "ferry", "Ferry strike ends", body("ferry crossings") + " The Zanzibar route reopens.")
        other.ingest([str(corpus)])
    finally:
        other.close()

    wait_until(lambda: sources(retriever, "Zanzibar"), timeout=10, what="the rebuilt index")
    assert sources(retriever, "Zanzibar")[0] == "ferry"


def test_searches_during_rebuilds_keep_answering(
    settings: Settings, indexer: Indexer, corpus: Path, fake_embeddings: DeterministicFakeEmbedding
) -> None:
    indexer.ingest([str(corpus)])
    retriever = bm25(settings, indexer, version_check_seconds=0.0, background_rebuild_min_chunks=1)
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            try:
                assert "harbour" in sources(retriever, "harbour dredging")
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)
                return

    threads = [threading.Thread(target=search_loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            write(corpus, f"extra{i}", f"Extra story {i}", body(f"topic number {i}"))
            indexer.ingest([str(corpus)])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


def test_names_and_inflections_match() -> None:
    analyze = Analyzer()
    assert analyze("The Closures of the RAILWAYS") == analyze("closure railway")
    assert "the" not in analyze("the the the")
