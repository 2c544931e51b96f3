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

    as_json = run("search", "Time Warner profits", "--k", "3", "--json", store=store, cwd=tmp_path)
    passages = json.loads(as_json.stdout)
    assert passages and "Time Warner" in passages[0]["text"]
    # Scripts read these keys, in this order: the JSON does not follow `Passage`'s fields.
    assert all(
        list(p) == ["source_id", "title", "outlet", "url", "published_at", "score", "char_start", "char_end", "text"]
        for p in passages
    )


def test_feedback_names_a_missing_or_unreadable_bot_state_and_creates_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    missing = run("feedback", store=store, cwd=tmp_path)
    assert missing.returncode == 4
    assert f"there is no bot state at {store / 'newsbot-bot.sqlite'}" in missing.stderr
    assert missing.stdout == "" and not store.exists(), "reading the report must create nothing"

    store.mkdir()
    (store / "newsbot-bot.sqlite").write_text("not a database\n")
    broken = run("feedback", "--json", store=store, cwd=tmp_path)
    assert broken.returncode == 4
    assert f"the bot state {store / 'newsbot-bot.sqlite'} is not a newsbot state file" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_feedback_reports_the_votes_beside_a_lone_bot_state_without_creating_a_store(tmp_path: Path) -> None:
    from bot.state import BotState
    from retrieval.models import Answer, Citation, Passage

    store = tmp_path / "store"
    bot_state = store / "newsbot-bot.sqlite"

    def answer(question: str, source_id: str, title: str) -> Answer:
        passage = Passage(chunk_id=f"{source_id}:0", source_id=source_id, story_id=source_id, title=title, text="Text.")
        return Answer(question=question, text="Text [1].", citations=[Citation(n=1, passage=passage)])

    state = BotState(bot_state)
    state.save_rateable("good", answer("Why did Carlsberg's profits fall?", "business/173", "Brewers' profits lose their fizz"))
    state.save_rateable("bad", answer("Who won the [bold]cup[/bold]?", "sport/001", "Cup final preview"))
    state.record_feedback("good", 11, True, click_id=1)
    state.record_feedback("good", 12, True, click_id=2)
    state.record_feedback("bad", 11, False, click_id=3)
    state.record_feedback("bad", 13, True, click_id=4)
    state.close()

    report = json.loads(run("feedback", "--json", store=store, cwd=tmp_path).stdout)
    assert (report["votes"], report["helpful"], report["not_helpful"], report["answers"]) == (4, 3, 1, 2)
    [unhelpful] = report["rated"]
    assert unhelpful["question"] == "Who won the [bold]cup[/bold]?"
    assert (unhelpful["helpful"], unhelpful["not_helpful"]) == (1, 1)
    assert unhelpful["sources"] == [{"n": 1, "source_id": "sport/001", "title": "Cup final preview"}]
    assert len(json.loads(run("feedback", "--all", "--json", store=store, cwd=tmp_path).stdout)["rated"]) == 2

    human = run("feedback", store=store, cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "4 votes on 2 answers: 3 helpful, 1 not helpful (75% helpful)" in human.stdout
    assert "Who won the [bold]cup[/bold]?" in human.stdout  # shown as typed, not as markup
    assert "Cup final preview (sport/001)" in human.stdout and "Carlsberg" not in human.stdout
    # Only the bot's state file (and SQLite's journal beside it): no Chroma store, keyword index,
    # catalog or record manager appeared next to it.
    assert {p.name for p in store.iterdir()} <= {bot_state.name, f"{bot_state.name}-wal", f"{bot_state.name}-shm"}
