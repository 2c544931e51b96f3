"""What the bot remembers across restarts (SQLite beside the store): the threads it answers in
without a mention, the votes on its answers, the topic watches with what each has posted, and
the scheduled daily briefings with the last day each posted (and each server's time zone).

The answers themselves live in the conversation history (`/sources` reads them there); this
file keeps, per answer id, only what a vote records: the question and the cited sources.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
CREATE TABLE IF NOT EXISTS watches (
    watch_id INTEGER PRIMARY KEY AUTOINCREMENT, guild_id INTEGER, channel_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL, topic TEXT NOT NULL, outlet TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_posts (
    watch_id INTEGER NOT NULL, story_id TEXT NOT NULL, source_id TEXT NOT NULL, title TEXT NOT NULL,
    posted REAL NOT NULL, PRIMARY KEY (watch_id, story_id)
);
-- The articles (and their fingerprints) watches have been matched against: anything else in the
-- catalog is new or updated.
CREATE TABLE IF NOT EXISTS watch_seen (source_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One daily briefing per channel; last_day is the local date (ISO) it last posted.
CREATE TABLE IF NOT EXISTS brief_schedules (
    channel_id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    at TEXT NOT NULL, topic TEXT NOT NULL, last_day TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS guild_timezones (guild_id INTEGER PRIMARY KEY, timezone TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Watch:
    """A saved search that posts new stories into a channel (a guild's, or a user's DMs when
    `guild_id` is None)."""

    watch_id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    topic: str
    outlet: str = ""
    last_title: str = ""


@dataclass(frozen=True)
class BriefSchedule:
    """A daily briefing posted in `channel_id` at `at` ("HH:MM", the guild's local time), on
    `topic` (all stories when empty); `last_day` is the local date (ISO) it last posted."""

    channel_id: int
    guild_id: int
    user_id: int
    at: str
    topic: str = ""
    last_day: str = ""


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

    # --- watches ------------------------------------------------------------------------------
    def add_watch(self, guild_id: int | None, channel_id: int, user_id: int, topic: str, outlet: str = "") -> Watch:
        """Save a watch; return it with its id."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO watches (guild_id, channel_id, user_id, topic, outlet, created) VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, channel_id, user_id, topic, outlet, time.time()),
            )
        return Watch(int(cursor.lastrowid or 0), guild_id, channel_id, user_id, topic, outlet)

    def remove_watch(self, watch_id: int) -> bool:
        """Delete a watch and what it posted; False when there is no such watch."""
        with self._lock, self._db:
            gone = self._db.execute("DELETE FROM watches WHERE watch_id = ?", (watch_id,)).rowcount
            self._db.execute("DELETE FROM watch_posts WHERE watch_id = ?", (watch_id,))
        return gone > 0

    def watches(self, *, guild_id: int | None = None, channel_id: int | None = None) -> list[Watch]:
        """The watches (of a guild, of a channel, or all), oldest first, each with the title of
        the last story it posted."""
        clauses, args = [], []
        if guild_id is not None:
            clauses.append("w.guild_id = ?")
            args.append(guild_id)
        if channel_id is not None:
            clauses.append("w.channel_id = ?")
            args.append(channel_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT w.watch_id, w.guild_id, w.channel_id, w.user_id, w.topic, w.outlet,"
                " (SELECT title FROM watch_posts p WHERE p.watch_id = w.watch_id ORDER BY posted DESC LIMIT 1)"
                f" FROM watches w {where} ORDER BY w.watch_id",
                args,
            ).fetchall()
        return [Watch(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "") for r in rows]

    def watch(self, watch_id: int) -> Watch | None:
        return next((w for w in self.watches() if w.watch_id == watch_id), None)

    def posted_stories(self, watch_id: int) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT story_id FROM watch_posts WHERE watch_id = ?", (watch_id,)).fetchall()
        return {r[0] for r in rows}

    def record_posts(self, watch_id: int, posts: Iterable[tuple[str, str, str]]) -> None:
        """Remember that `watch_id` posted these (story_id, source_id, title): never again."""
        now = time.time()
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO watch_posts VALUES (?, ?, ?, ?, ?)",
                [(watch_id, story, source, title, now) for story, source, title in posts],
            )

    def unseen(self, fingerprints: Mapping[str, str]) -> dict[str, str]:
        """Of the catalog's articles (source_id -> fingerprint), those not yet matched against
        the watches as they are now: new ones and updated ones. On the very first call every
        article counts as seen (a new bot does not post the archive): returns {}."""
        with self._lock:
            seen = dict(self._db.execute("SELECT source_id, fingerprint FROM watch_seen").fetchall())
            started = self._db.execute("SELECT 1 FROM state_meta WHERE key = 'watch_baseline'").fetchone()
        if started is None:
            self.mark_seen(fingerprints)
            with self._lock, self._db:
                self._db.execute("INSERT OR REPLACE INTO state_meta VALUES ('watch_baseline', ?)", (str(time.time()),))
            return {}
        return {s: f for s, f in fingerprints.items() if f and seen.get(s) != f}

    def mark_seen(self, fingerprints: Mapping[str, str]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO watch_seen VALUES (?, ?)", [(s, f) for s, f in fingerprints.items() if f]
            )

    # --- scheduled briefings ------------------------------------------------------------------
    def set_schedule(self, schedule: BriefSchedule) -> None:
        """Save the daily briefing of `schedule.channel_id`, replacing the channel's previous one."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO brief_schedules VALUES (?, ?, ?, ?, ?, ?, ?)",
                (schedule.channel_id, schedule.guild_id, schedule.user_id, schedule.at, schedule.topic,
                 schedule.last_day, time.time()),
            )

    def remove_schedule(self, channel_id: int) -> bool:
        """Stop the daily briefing of a channel; False when it had none."""
        with self._lock, self._db:
            return self._db.execute("DELETE FROM brief_schedules WHERE channel_id = ?", (channel_id,)).rowcount > 0

    def schedules(self, *, guild_id: int | None = None) -> list[BriefSchedule]:
        """The daily briefings (of a guild, or all), by time of day."""
        where, args = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, guild_id, user_id, at, topic, last_day FROM brief_schedules"
                f" {where} ORDER BY at, channel_id",
                args,
            ).fetchall()
        return [BriefSchedule(*row) for row in rows]

    def mark_briefed(self, channel_id: int, day: str) -> None:
        """Record that the channel's daily briefing of local date `day` (ISO) was posted."""
        with self._lock, self._db:
            self._db.execute("UPDATE brief_schedules SET last_day = ? WHERE channel_id = ?", (day, channel_id))

    def set_timezone(self, guild_id: int, name: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO guild_timezones VALUES (?, ?)", (guild_id, name))

    def timezone(self, guild_id: int) -> str | None:
        """The guild's time zone (an IANA name) as set with `/brief schedule`, None when unset."""
        with self._lock:
            row = self._db.execute("SELECT timezone FROM guild_timezones WHERE guild_id = ?", (guild_id,)).fetchone()
        return str(row[0]) if row else None


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
