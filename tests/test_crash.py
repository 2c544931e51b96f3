"""An ingest killed with SIGKILL halfway leaves a usable store; the next run finishes the job.

The same scenario runs against the embedded store and against a real Chroma server (the
`backend` fixture). The killed process is `newsbot ingest`. The bot's `/reindex` is not killed
separately: it runs the very same `Indexer.ingest` (the admin cog calls it in a worker thread, on
an `Indexer` built by `bot.app.build_app` exactly as the CLI builds its own, only sharing
the retriever's Chroma client). The one file the bot keeps beside the store that the CLI does not
write while ingesting, the saved keyword index, is written here too: by the search after the kill.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from retrieval.hybrid import HybridRetriever
from retrieval.settings import Settings
from retrieval.store import get_collection, open_client
from tests.support.chroma_server import NEWSBOT, newsbot_env
from tests.support.search import search


CATEGORIES = ("business", "politics", "tech")
PER_CATEGORY = 8  # 24 articles: at INGEST_BATCH=16, one committed batch, then 8 in flight when killed
BATCH = 16

Chunk = tuple[str, str, int, str]  # (chunk id, source_id, chunk_index, text)




def _ingest(corpus: Path, settings: Settings, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*NEWSBOT, "ingest", str(corpus)], env=newsbot_env(settings), cwd=cwd,
                          capture_output=True, timeout=300)


def _rows(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _chunks(settings: Settings) -> list[Chunk]:
    """Every chunk in the store, sorted; duplicates stay in (a duplicate id is impossible in
    Chroma, a duplicate text under another id is what a bad resume would leave)."""
    got = get_collection(open_client(settings), settings).get(include=["documents", "metadatas"])
    return sorted(
        (chunk_id, m["source_id"], m["chunk_index"], d)
        for chunk_id, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    )


def _no_duplicates(chunks: list[Chunk]) -> None:
    repeated = [key for key, n in Counter((s, i, t) for _, s, i, t in chunks).items() if n > 1]
    assert repeated == [], f"chunks stored twice: {repeated[:3]}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "corpus"
    for category in CATEGORIES:
        (folder / category).mkdir(parents=True)
        for n in range(1, PER_CATEGORY + 1):
            src = shared_data / "bbc" / category / f"{n:03d}.txt"
            (folder / category / src.name).write_bytes(src.read_bytes())
    return folder


@pytest.fixture(scope="module")
def clean_chunks(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> list[Chunk]:
    """The chunks one uninterrupted `newsbot ingest` of the corpus leaves (embedded; the chunk
    ids hash the text and metadata, so they are the same on a Chroma server)."""
    base = tmp_path_factory.mktemp("crash-clean")
    settings = Settings(store_dir=base / "store", chroma_url="", _env_file=None)  # type: ignore[call-arg]
    clean = _ingest(corpus, settings, base)
    assert clean.returncode == 0, clean.stderr.decode()
    chunks = _chunks(settings)
    assert {s for _, s, _, _ in chunks} == {f"{c}/{n:03d}" for c in CATEGORIES for n in range(1, PER_CATEGORY + 1)}
    return chunks


def test_sigkill_midway_then_rerun_gives_exactly_the_clean_result(
    backend: Settings, corpus: Path, clean_chunks: list[Chunk], local_embeddings: Embeddings, tmp_path: Path
) -> None:
    settings = backend
    total = len(CATEGORIES) * PER_CATEGORY
    env = newsbot_env(settings) | {"INGEST_BATCH": str(BATCH)}
    proc = subprocess.Popen([*NEWSBOT, "ingest", str(corpus)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    catalog = settings.state_dir / "newsbot-catalog.sqlite"
    deadline = time.monotonic() + 240
    while _rows(catalog) < BATCH and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before it could be killed: " + proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert 0 < _rows(catalog) < total

    # What the killed run left is part of the clean result, once each.
    partial = _chunks(settings)
    if settings.chroma_url:  # on the server, not in an embedded store beside the catalog
        assert not (settings.store_dir / "chroma.sqlite3").exists()
    assert 0 < len(partial) < len(clean_chunks)
    assert set(partial) <= set(clean_chunks)
    _no_duplicates(partial)

    # The next start answers questions from it (a new client, as a new process opens).
    retriever = HybridRetriever.from_settings(settings, embeddings=local_embeddings)
    # The first article of the first batch, which the kill always leaves complete.
    _, source_id, _, text = min((c for c in partial if c[2] == 0), key=lambda c: c[1])
    question = " ".join(text.split()[:25])
    found = search(retriever, question, k=5)
    assert found and found[0].source_id == source_id
    assert {(p.chunk_id, p.text) for p in found} <= {(c[0], c[3]) for c in partial}

    rerun = _ingest(corpus, settings, tmp_path)
    assert rerun.returncode == 0, rerun.stderr.decode()

    recovered = _chunks(settings)
    assert len(recovered) == len(clean_chunks), "no duplicate and no lost chunk"
    assert recovered == clean_chunks
    _no_duplicates(recovered)

    # The keyword index saved by the search above catches up with the rerun's chunks.
    later = HybridRetriever(settings=settings, embeddings=local_embeddings, client=retriever.client)
    later.keyword_index.refresh()
    assert later.keyword_index.size == len(clean_chunks)
