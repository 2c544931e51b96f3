"""The `newsbot` command as a user runs it: ingest summary table, exit codes, stats, remove."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NEWSBOT = [sys.executable, "-m", "bot.cli"]


def run(*args: str, store: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STORE_DIR": str(store), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([*NEWSBOT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def folder(tmp_path: Path, shared_data: Path) -> Path:
    corpus = tmp_path / "articles"
    (corpus / "business").mkdir(parents=True)
    for n in ("001", "002", "003"):
        (corpus / "business" / f"{n}.txt").write_bytes((shared_data / "bbc" / "business" / f"{n}.txt").read_bytes())
    return corpus


def test_ingest_prints_the_summary_and_exit_codes_tell_the_outcome(tmp_path: Path, folder: Path) -> None:
    store = tmp_path / "store"
    first = run("ingest", str(folder), store=store, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for column in ("added", "updated", "unchanged", "duplicates", "deleted", "failed"):
        assert column in first.stdout
    assert json.loads(run("ingest", str(folder), "--json", store=store, cwd=tmp_path).stdout)["unchanged"] == 3

    (folder / "business" / "bad.txt").write_bytes(b"\x00\x01\x02" * 100)
    partial = run("ingest", str(folder), store=store, cwd=tmp_path)
    assert partial.returncode == 1
    assert "bad.txt" in partial.stderr

    missing = run("ingest", str(tmp_path / "nowhere"), store=store, cwd=tmp_path)
    assert missing.returncode == 2
    assert "nowhere" in missing.stderr


def test_stats_remove_and_dry_run(tmp_path: Path, folder: Path) -> None:
    store = tmp_path / "store"
    dry = run("ingest", str(folder), "--dry-run", "--json", store=store, cwd=tmp_path)
    assert json.loads(dry.stdout)["added"] == 3
    assert json.loads(run("stats", "--json", store=store, cwd=tmp_path).stdout)["articles"] == 0

    assert run("ingest", str(folder), store=store, cwd=tmp_path).returncode == 0
    stats = json.loads(run("stats", "--json", store=store, cwd=tmp_path).stdout)
    assert stats["articles"] == 3 and stats["chunks_in_store"] > 3
    assert stats["embedding_model"] == "all-MiniLM-L6-v2"
    assert str(store) in stats["store"]
    human = run("stats", store=store, cwd=tmp_path)
    assert "articles" in human.stdout and "embedding model" in human.stdout

    removed = run("remove", "business/002", store=store, cwd=tmp_path)
    assert removed.returncode == 0 and "business/002" in removed.stdout
    assert json.loads(run("stats", "--json", store=store, cwd=tmp_path).stdout)["articles"] == 2
    unknown = run("remove", "business/999", store=store, cwd=tmp_path)
    assert unknown.returncode == 1 and "business/999" in unknown.stderr


def test_search_prints_passages_and_nothing_else(tmp_path: Path, folder: Path) -> None:
    store = tmp_path / "store"
    assert run("ingest", str(folder), store=store, cwd=tmp_path).returncode == 0
    found = run("search", "Time Warner profits", "--k", "3", store=store, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "Time Warner" in found.stdout
    assert found.stderr.strip() == "", "no log chatter (bm25s, chromadb, models) in a plain run"
