"""The real `newsbot` command in a child process, over a store ingested from JSON-lines records:
the set-up the command-line tests share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

NEWSBOT = [sys.executable, "-m", "bot.cli"]


def run(*args: str, store: Path, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`newsbot ARGS` with STORE_DIR=`store`, offline, on a 200-column terminal."""
    env = {**os.environ, "STORE_DIR": str(store), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [*NEWSBOT, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=600
    )


def ingest_records(root: Path, records: Iterable[Mapping[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """Write `records` to root/corpus/news.jsonl and ingest that folder into root/store with
    `newsbot ingest --json`, which must succeed. Returns the store and the ingest report."""
    corpus = root / "corpus"
    corpus.mkdir()
    lines = [json.dumps(record) for record in records]
    (corpus / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = root / "store"
    ingested = run("ingest", str(corpus), "--json", store=store, cwd=root)
    assert ingested.returncode == 0, ingested.stderr
    return store, json.loads(ingested.stdout)


def ask_json(store: Path, question: str) -> dict[str, Any]:
    """`newsbot ask --json QUESTION` over `store`, which must succeed; the answer's JSON."""
    done = run("ask", "--json", question, store=store, cwd=store.parent)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
