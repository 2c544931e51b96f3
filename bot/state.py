"""What the bot remembers across restarts (SQLite beside the store): the threads it answers in
without a mention, the last answer per channel, and the feedback on answers."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from retrieval.models import Answer
from retrieval.settings import Settings


def state_path(settings: Settings) -> Path:
    """The bot's state file, beside the store."""
    return settings.state_dir / "newsbot-bot.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (thread_id INTEGER PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY, channel_id INTEGER NOT NULL, created REAL NOT NULL,
    question TEXT NOT NULL, answer_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_channel ON answers(channel_id, created);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL, user_id INTEGER NOT NULL, helpful INTEGER NOT NULL,
    question TEXT NOT NULL, sources TEXT NOT NULL, created REAL NOT NULL,
    click_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (answer_id, user_id)
);
"""


class BotState:
    """Small SQLite store; every method is quick and thread-safe (call it via to_thread)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(feedback)")}
        if "click_id" not in columns:  # a state file from before votes were ordered by click
            self._db.execute("ALTER TABLE feedback ADD COLUMN click_id INTEGER NOT NULL DEFAULT 0")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def add_thread(self, thread_id: int) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO threads VALUES (?, ?)", (thread_id, time.time()))

    def is_our_thread(self, thread_id: int) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
        return row is not None

    def save_answer(self, answer_id: str, channel_ids: list[int], answer: Answer) -> None:
        payload = answer.model_dump_json()
        with self._lock, self._db:
            for channel_id in channel_ids:
                self._db.execute(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                    (f"{answer_id}:{channel_id}", channel_id, time.time(), answer.question, payload),
                )

    def last_answer(self, channel_id: int) -> Answer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT answer_json FROM answers WHERE channel_id = ? ORDER BY created DESC LIMIT 1",
                (channel_id,),
            ).fetchone()
        return Answer.model_validate_json(row[0]) if row else None

    def forget_channel(self, channel_id: int) -> None:
        """Drop the answers kept for a channel (`/forget`); votes already given stay."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM answers WHERE channel_id = ?", (channel_id,))

    def answer(self, answer_id: str) -> Answer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT answer_json FROM answers WHERE answer_id LIKE ? LIMIT 1", (f"{answer_id}:%",)
            ).fetchone()
        return Answer.model_validate_json(row[0]) if row else None

    def record_feedback(self, answer_id: str, user_id: int, helpful: bool, click_id: int = 0) -> bool:
        """Record a vote; a user's later click replaces an earlier one. ``click_id`` orders the
        clicks (the interaction's snowflake): two quick clicks are recorded in threads that may
        finish in either order. False when the answer is unknown."""
        answer = self.answer(answer_id)
        if answer is None:
            return False
        sources = json.dumps([{"n": c.n, "source_id": c.passage.source_id, "title": c.title} for c in answer.citations])
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO feedback (answer_id, user_id, helpful, question, sources, created, click_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (answer_id, user_id) DO UPDATE SET"
                " helpful = excluded.helpful, created = excluded.created, click_id = excluded.click_id"
                " WHERE excluded.click_id >= feedback.click_id",
                (answer_id, user_id, int(helpful), answer.question, sources, time.time(), click_id),
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
