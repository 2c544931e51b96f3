"""CHROMA_URL: the same newsbot on a Chroma server; a server that goes down and comes back.

The indexer's core scenarios from `test_indexer.py` run here over both backends (the `backend`
fixture: embedded, then a real `chroma run` on 127.0.0.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from ingest.indexer import Indexer
from retrieval.errors import StoreUnavailableError
from retrieval.hybrid import HybridRetriever
from retrieval.settings import Settings
from retrieval.store import get_collection, open_client
from tests.support.chroma_server import ChromaServer, newsbot, server_settings
from tests.support.search import search

# The scenarios themselves, collected again here with this module's `indexer` (both backends).
from tests.test_indexer import (  # noqa: F401
    corpus,
    story,
    test_a_changed_article_has_its_old_chunks_replaced,
    test_a_second_run_adds_nothing,
    test_articles_are_indexed_with_source_ids_and_spans,
    test_dry_run_writes_nothing,
    test_exact_duplicates_are_indexed_once_with_every_location,
    test_prune_deletes_articles_gone_from_the_source,
    test_remove_by_source_id_and_by_url,
    write,
)



@pytest.fixture
def indexer(backend: Settings, fake_embeddings: DeterministicFakeEmbedding) -> Iterator[Indexer]:
    idx = Indexer(backend, embeddings=fake_embeddings)
    yield idx
    idx.close()




def sources(retriever: HybridRetriever, query: str) -> list[str]:
    return [p.source_id for p in search(retriever, query, k=10)]


@pytest.fixture
def news(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    write(folder, "rail", "Rail fares rise", story("rail fares", n=2) + " The Quillfeather line closes.")
    write(folder, "steel", "Steel plant closes", story("steel jobs", n=2) + " Brannigan Steel blamed costs.")
    write(folder, "harbour", "Harbour dredging starts", story("harbour dredging", n=2))
    return folder


def test_every_command_works_against_a_chroma_server(
    chroma_server: ChromaServer, tmp_path: Path, news: Path
) -> None:
    settings = server_settings(chroma_server, tmp_path / "state")

    ingest = newsbot("ingest", str(news), "--json", settings=settings, cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["added"] == 3

    stats = json.loads(newsbot("stats", "--json", settings=settings, cwd=tmp_path).stdout)
    assert stats["articles"] == 3 and stats["chunks_in_store"] > 0
    assert stats["store"] == chroma_server.url
    assert stats["collection"] == settings.collection

    # The chunks live on the server; only newsbot's own state files are in STORE_DIR.
    assert get_collection(open_client(settings), settings).count() == stats["chunks_in_store"]
    assert not list(settings.store_dir.glob("chroma.sqlite3"))

    found = newsbot("search", "Brannigan steel", "--json", settings=settings, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["source_id"] == "steel"

    removed = newsbot("remove", "steel", settings=settings, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert "removed steel" in removed.stdout

    again = newsbot("search", "Brannigan steel", "--json", settings=settings, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "steel" not in {p["source_id"] for p in json.loads(again.stdout)}


def test_a_server_outage_is_reported_and_the_same_retriever_works_after_it(
    own_chroma_server: ChromaServer, tmp_path: Path, news: Path, fake_embeddings: DeterministicFakeEmbedding
) -> None:
    server = own_chroma_server
    settings = server_settings(server, tmp_path / "state")
    indexer = Indexer(settings, embeddings=fake_embeddings)
    try:
        indexer.ingest([str(news)])
        # Wired like the bot: one client, the retriever follows the indexer's writes.
        retriever = HybridRetriever(settings=settings, embeddings=fake_embeddings, client=indexer.client)
        indexer.on_change(retriever.index_changed)
        before = sources(retriever, "Brannigan steel")
        assert before[0] == "steel"

        server.stop()
        names_the_server = re.escape(server.url)
        for query in ("Brannigan steel", "harbour dredging"):
            with pytest.raises(StoreUnavailableError, match=names_the_server):
                search(retriever, query)
        with pytest.raises(StoreUnavailableError, match=names_the_server):
            open_client(settings)
        write(news, "ferry", "Ferry strike ends", story("ferry crossings", n=2) + " The Zanzibar route reopens.")
        with pytest.raises(StoreUnavailableError, match=names_the_server):
            indexer.ingest([str(news)])
        cli = newsbot("search", "Brannigan steel", settings=settings, cwd=tmp_path)
        assert cli.returncode == 4
        assert server.url in cli.stderr and "Traceback" not in cli.stderr

        server.start()
        assert sources(retriever, "Brannigan steel") == before
        # The ingest cut short by the outage is finished by the next run, and searchable at once.
        assert indexer.ingest([str(news)]).exit_code == 0
        assert sources(retriever, "Zanzibar ferry")[0] == "ferry"
    finally:
        indexer.close()
