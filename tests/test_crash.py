"""An ingest killed with SIGKILL halfway leaves a usable store; the next run finishes the job."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.indexer import Indexer
from retrieval.settings import Settings
from retrieval.store import get_collection

NEWSBOT = [sys.executable, "-m", "bot.cli"]


def _env(store: Path) -> dict[str, str]:
    return {**os.environ, "STORE_DIR": str(store), "HF_HUB_OFFLINE": "1"}


def _rows(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _chunks(store: Path) -> list[tuple[str, int, str]]:
    settings = Settings(store_dir=store, _env_file=None)  # type: ignore[call-arg]
    indexer = Indexer(settings)
    try:
        got = get_collection(indexer.client, settings).get(include=["documents", "metadatas"])
        return sorted((m["source_id"], m["chunk_index"], d) for d, m in zip(got["documents"], got["metadatas"], strict=True))
    finally:
        indexer.close()


@pytest.fixture
def corpus(tmp_path: Path, shared_data: Path) -> Path:
    folder = tmp_path / "corpus"
    for category in ("business", "politics", "tech"):
        (folder / category).mkdir(parents=True)
        for n in range(1, 21):
            src = shared_data / "bbc" / category / f"{n:03d}.txt"
            (folder / category / src.name).write_bytes(src.read_bytes())
    return folder


def test_sigkill_midway_then_rerun_gives_exactly_the_clean_result(tmp_path: Path, corpus: Path) -> None:
    store = tmp_path / "store"
    proc = subprocess.Popen([*NEWSBOT, "ingest", str(corpus)], env=_env(store),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    catalog = store / "newsbot-catalog.sqlite"
    deadline = time.monotonic() + 240
    while _rows(catalog) < 16 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before it could be killed: " + proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < _rows(catalog) < 60

    # The store still answers queries after the kill.
    partial = _chunks(store)
    assert partial

    rerun = subprocess.run([*NEWSBOT, "ingest", str(corpus)], env=_env(store), capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()

    clean_store = tmp_path / "clean"
    clean = subprocess.run([*NEWSBOT, "ingest", str(corpus)], env=_env(clean_store), capture_output=True, timeout=300)
    assert clean.returncode == 0, clean.stderr.decode()

    recovered, reference = _chunks(store), _chunks(clean_store)
    assert len(recovered) == len(reference), "no duplicate and no lost chunk"
    assert recovered == reference
