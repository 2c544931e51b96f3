"""What the bot remembers across restarts (SQLite beside the store): the threads it answers in
without a mention, and the votes on its answers.

The answers themselves live in the conversation history (`/sources` reads them there); this
file keeps, per answer id, only what a vote records: the question and the cited sources.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from retrieval.models import Answer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (thread_id INTEGER PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rateable (
    answer_id TEXT PRIMARY KEY, created REAL NOT NULL, question TEXT NOT NULL, sources TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL, user_id INTEGER NOT NULL, helpful INTEGER NOT NULL,
    question TEXT NOT NULL, sources TEXT NOT NULL, created REAL NOT NULL,
    click_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (answer_id, user_id)
);
"""


def cited_sources(answer: Answer) -> list[dict[str, object]]:
    """What a vote records about an answer's sources: number, source_id and title of each."""
    return [{"n": c.n, "source_id": c.passage.source_id, "title": c.title} for c in answer.citations]


class BotState:
    """Small SQLite store; every method is quick and thread-safe (call it via to_thread).

    The file is opened (and created) on first use, in the calling thread: building a `BotState`
    touches nothing, so a command that never uses it leaves no file behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, opened on first use (callers hold `_lock`)."""
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
            if "click_id" not in columns:  # a state file from before votes were ordered by click
                db.execute("ALTER TABLE feedback ADD COLUMN click_id INTEGER NOT NULL DEFAULT 0")
            _migrate_answers(db)
            self._conn = db
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def add_thread(self, thread_id: int) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO threads VALUES (?, ?)", (thread_id, time.time()))

    def is_our_thread(self, thread_id: int) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
        return row is not None

    def save_rateable(self, answer_id: str, answer: Answer) -> None:
        """Keep what a vote on answer `answer_id` records (its question and sources)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO rateable VALUES (?, ?, ?, ?)",
                (answer_id, time.time(), answer.question, json.dumps(cited_sources(answer))),
            )

    def record_feedback(self, answer_id: str, user_id: int, helpful: bool, click_id: int = 0) -> bool:
        """Record a vote; a user's later click replaces an earlier one. ``click_id`` orders the
        clicks (the interaction's snowflake): two quick clicks are recorded in threads that may
        finish in either order. False when the answer is unknown."""
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT question, sources FROM rateable WHERE answer_id = ?", (answer_id,)
            ).fetchone()
            if row is None:
                return False
            question, sources = row
            self._db.execute(
                "INSERT INTO feedback (answer_id, user_id, helpful, question, sources, created, click_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (answer_id, user_id) DO UPDATE SET"
                " helpful = excluded.helpful, created = excluded.created, click_id = excluded.click_id"
                " WHERE excluded.click_id >= feedback.click_id",
                (answer_id, user_id, int(helpful), question, sources, time.time(), click_id),
            )
        return True

    def feedback_by_answer(self, *, unhelpful_only: bool = False, limit: int = 20) -> list[dict[str, object]]:
        """The rated answers, most recently rated first: question, sources, and how many voted
        helpful and not helpful (only answers someone found unhelpful with `unhelpful_only`)."""
        having = "HAVING SUM(1 - helpful) > 0" if unhelpful_only else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT answer_id, question, sources, SUM(helpful), SUM(1 - helpful), MAX(created)"
                f" FROM feedback GROUP BY answer_id {having} ORDER BY MAX(created) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {
                "answer_id": a, "question": q, "sources": json.loads(s),
                "helpful": int(up), "not_helpful": int(down), "last_vote": last,
            }
            for a, q, s, up, down, last in rows
        ]

    def feedback_totals(self) -> dict[str, int]:
        with self._lock:
            votes, up, answers = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(helpful), 0), COUNT(DISTINCT answer_id) FROM feedback"
            ).fetchone()
        return {"votes": votes, "helpful": up, "not_helpful": votes - up, "answers": answers}

    def feedback(self) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT answer_id, user_id, helpful, question, sources FROM feedback ORDER BY created"
            ).fetchall()
        return [
            {"answer_id": a, "user_id": u, "helpful": bool(h), "question": q, "sources": json.loads(s)}
            for a, u, h, q, s in rows
        ]


def _migrate_answers(db: sqlite3.Connection) -> None:
    """Move a state file from before `rateable` (when whole answers were kept here, one row per
    channel) to it, so buttons under answers given before the upgrade still record votes."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'answers'").fetchone() is None:
        return
    with db:
        for key, created, answer_json in db.execute("SELECT answer_id, created, answer_json FROM answers").fetchall():
            answer = Answer.model_validate_json(answer_json)
            db.execute(
                "INSERT OR IGNORE INTO rateable VALUES (?, ?, ?, ?)",
                (key.split(":", 1)[0], created, answer.question, json.dumps(cited_sources(answer))),
            )
        db.execute("DROP TABLE answers")
