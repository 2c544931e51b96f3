"""Where conversations are kept: the turns of each conversation, bounded by a token budget,
and the last answer given in it (what `/sources` shows).

`InMemoryHistory` lives as long as the process (the terminal); `SQLiteHistory` survives restarts
and may be shared by several processes (the Discord bot: `Settings.history_path`). Methods block:
the engine calls them in worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from retrieval.models import Answer, SearchFilters

class Turn(BaseModel):
    """One question and answer of a conversation, as the history keeps it."""

    question: str
    standalone: str = ""
    answer: str = ""
    abstained: bool = False
    filters: SearchFilters = Field(default_factory=SearchFilters)
    tokens: int = 0
    sources: list[str] = Field(default_factory=list, description="source_ids of the articles the answer cited")
    short_answer: str = Field(
        default="", description="the short answer the answer led with, if any (its lead sentence may name others)"
    )


class HistoryStore(Protocol):
    """Where conversations are kept. Methods block (call them from a thread)."""

    max_tokens: int

    def turns(self, conversation_id: str) -> list[Turn]:
        """Return the kept turns, oldest first."""
        ...

    def add(self, conversation_id: str, turn: Turn, answer: Answer) -> None:
        """Record a turn (dropping the oldest beyond `max_tokens`) and the full last answer."""
        ...

    def last_answer(self, conversation_id: str) -> Answer | None:
        """Return the last answer given in the conversation (for /sources), or None."""
        ...

    def forget(self, conversation_id: str) -> None:
        """Drop everything kept about the conversation."""
        ...


def _kept(tokens: Sequence[int], max_tokens: int) -> int:
    """How many of the newest turns fit in `max_tokens` (the newest always counts)."""
    total = 0
    kept = 0
    for n in reversed(tokens):
        if kept and total + n > max_tokens:
            break
        total += n
        kept += 1
    return kept


class InMemoryHistory:
    """History kept in this process only (lost on restart)."""

    def __init__(self, max_tokens: int = 1200) -> None:
        self.max_tokens = max_tokens
        self._turns: dict[str, list[Turn]] = {}
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()

    def turns(self, conversation_id: str) -> list[Turn]:
        with self._lock:
            return list(self._turns.get(conversation_id, []))

    def add(self, conversation_id: str, turn: Turn, answer: Answer) -> None:
        with self._lock:
            turns = self._turns.setdefault(conversation_id, [])
            turns.append(turn)
            keep = _kept([t.tokens for t in turns], self.max_tokens)
            del turns[: len(turns) - keep]
            self._answers[conversation_id] = answer

    def last_answer(self, conversation_id: str) -> Answer | None:
        with self._lock:
            return self._answers.get(conversation_id)

    def forget(self, conversation_id: str) -> None:
        with self._lock:
            self._turns.pop(conversation_id, None)
            self._answers.pop(conversation_id, None)


class SQLiteHistory:
    """History in a SQLite file: survives restarts, and several processes may share it."""

    def __init__(self, path: Path | str, max_tokens: int = 1200) -> None:
        self.path = Path(path)
        self.max_tokens = max_tokens
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS turns (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "conversation_id TEXT NOT NULL, tokens INTEGER NOT NULL, turn TEXT NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation_id, seq)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS last_answers (conversation_id TEXT PRIMARY KEY, answer TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def turns(self, conversation_id: str) -> list[Turn]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT turn FROM turns WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
        return [Turn.model_validate_json(row[0]) for row in rows]

    def add(self, conversation_id: str, turn: Turn, answer: Answer) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO turns (conversation_id, tokens, turn) VALUES (?, ?, ?)",
                (conversation_id, turn.tokens, turn.model_dump_json()),
            )
            rows = db.execute(
                "SELECT seq, tokens FROM turns WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
            keep = _kept([tokens for _, tokens in rows], self.max_tokens)
            dropped = [seq for seq, _ in rows[: len(rows) - keep]]
            if dropped:
                db.executemany("DELETE FROM turns WHERE seq = ?", [(seq,) for seq in dropped])
            db.execute(
                "INSERT OR REPLACE INTO last_answers (conversation_id, answer) VALUES (?, ?)",
                (conversation_id, answer.model_dump_json()),
            )

    def last_answer(self, conversation_id: str) -> Answer | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT answer FROM last_answers WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        return Answer.model_validate_json(row[0]) if row else None

    def forget(self, conversation_id: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))
            db.execute("DELETE FROM last_answers WHERE conversation_id = ?", (conversation_id,))
