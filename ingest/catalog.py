"""The article catalog: one row per article location, beside the store (SQLite).

It records what each source_id holds (content hash, metadata, the cleaned text), which
locations are exact duplicates of an indexed article, which articles are copies of one story, and
when the index was last refreshed. The chunks themselves live in Chroma.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ingest.models import Article
from retrieval.store import store_unwritable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    source_id    TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    url          TEXT NOT NULL,
    outlet       TEXT NOT NULL,
    author       TEXT NOT NULL,
    published_at TEXT,
    fetched_at   TEXT NOT NULL,
    content_hash TEXT NOT NULL,  -- of the text alone: exact duplicates share it
    fingerprint  TEXT NOT NULL,  -- of text and metadata: '' while a write is in flight
    origin       TEXT NOT NULL,
    duplicate_of TEXT,           -- set when the same text is indexed under another source_id
    story_id     TEXT NOT NULL,  -- the source_id of the first copy of this story
    n_chunks     INTEGER NOT NULL,
    minhash      BLOB,
    text         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE INDEX IF NOT EXISTS articles_origin ON articles(origin);
CREATE INDEX IF NOT EXISTS articles_url ON articles(url);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class CatalogEntry:
    """One row of the catalog."""

    article: Article
    content_hash: str
    duplicate_of: str | None
    story_id: str
    n_chunks: int
    minhash: bytes | None

    @property
    def source_id(self) -> str:
        return self.article.source_id


class Catalog:
    """SQLite catalog of articles; every write is one transaction."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the catalog at `path`. Raises StoreUnusableError, naming the store,
        when it cannot be created or written."""
        self.path = path
        with self._writable():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _writable(self) -> Iterator[None]:
        """Turn a store that may not be written (permissions, a read-only disk) into
        StoreUnusableError, which every entry point reports in one line."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if "readonly" in str(e) or "unable to open" in str(e):
                raise store_unwritable(self.path.parent, e) from e
            raise
        except OSError as e:
            raise store_unwritable(self.path.parent, e) from e

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Raises StoreUnusableError when the catalog is read-only."""
        with self._writable(), self._db:
            yield self._db

    @staticmethod
    def _entry(row: sqlite3.Row) -> CatalogEntry:
        article = Article(
            source_id=row["source_id"],
            title=row["title"],
            text=row["text"],
            url=row["url"],
            outlet=row["outlet"],
            author=row["author"],
            published_at=datetime.fromisoformat(row["published_at"]) if row["published_at"] else None,
            fetched_at=datetime.fromisoformat(row["fetched_at"]),
            origin=row["origin"],
        )
        return CatalogEntry(
            article=article,
            content_hash=row["content_hash"],
            duplicate_of=row["duplicate_of"],
            story_id=row["story_id"],
            n_chunks=row["n_chunks"],
            minhash=row["minhash"],
        )

    def get(self, source_id: str) -> CatalogEntry | None:
        row = self._db.execute("SELECT * FROM articles WHERE source_id = ?", (source_id,)).fetchone()
        return self._entry(row) if row else None

    def find(self, key: str) -> CatalogEntry | None:
        """Return the article whose source_id or URL is `key`."""
        return self.get(key) or next(
            (self._entry(r) for r in self._db.execute("SELECT * FROM articles WHERE url = ?", (key,))),
            None,
        )

    def fingerprints(self) -> dict[str, str]:
        """Map every source_id to its fingerprint ('' for rows whose write did not finish)."""
        return dict(self._db.execute("SELECT source_id, fingerprint FROM articles").fetchall())

    def mark(self, db: sqlite3.Connection, source_ids: Iterable[str], mark: str) -> None:
        """Replace the fingerprint of rows about to change by `mark`, so that a crash leaves them
        to be redone (they can never look unchanged)."""
        db.executemany(
            "UPDATE articles SET fingerprint = ? WHERE source_id = ?", [(mark, s) for s in source_ids]
        )

    def indexed_with_hash(self, content_hash: str) -> CatalogEntry | None:
        """Return the indexed (non-duplicate) article with this exact text, if any."""
        row = self._db.execute(
            "SELECT * FROM articles WHERE content_hash = ? AND duplicate_of IS NULL LIMIT 1",
            (content_hash,),
        ).fetchone()
        return self._entry(row) if row else None

    def duplicates_of(self, source_id: str) -> list[CatalogEntry]:
        rows = self._db.execute(
            "SELECT * FROM articles WHERE duplicate_of = ? ORDER BY source_id", (source_id,)
        )
        return [self._entry(r) for r in rows]

    def story_members(self, story_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT source_id FROM articles WHERE story_id = ? AND duplicate_of IS NULL", (story_id,)
        )
        return [r[0] for r in rows]

    def source_ids_from(self, origin: str) -> set[str]:
        rows = self._db.execute("SELECT source_id FROM articles WHERE origin = ?", (origin,))
        return {r[0] for r in rows}

    def signatures(self) -> Iterator[tuple[str, str, bytes]]:
        """(source_id, story_id, minhash) of every indexed article."""
        rows = self._db.execute(
            "SELECT source_id, story_id, minhash FROM articles "
            "WHERE duplicate_of IS NULL AND minhash IS NOT NULL"
        )
        for row in rows:
            yield row[0], row[1], row[2]

    def entries(self) -> Iterator[CatalogEntry]:
        for row in self._db.execute("SELECT * FROM articles ORDER BY source_id"):
            yield self._entry(row)

    def upsert(
        self,
        db: sqlite3.Connection,
        article: Article,
        *,
        duplicate_of: str | None,
        story_id: str,
        n_chunks: int,
        minhash: bytes | None,
    ) -> None:
        """Write an article's row, its fingerprint marking the write complete."""
        db.execute(
            "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.source_id,
                article.title,
                article.url,
                article.outlet,
                article.author,
                article.published_at.isoformat() if article.published_at else None,
                article.fetched_at.isoformat(),
                article.content_hash,
                article.fingerprint,
                article.origin,
                duplicate_of,
                story_id,
                n_chunks,
                minhash,
                article.text,
            ),
        )

    def delete(self, db: sqlite3.Connection, source_ids: Iterable[str]) -> None:
        db.executemany("DELETE FROM articles WHERE source_id = ?", [(s,) for s in source_ids])

    def stats(self) -> dict[str, object]:
        row = self._db.execute(
            "SELECT COUNT(*) AS locations, "
            "SUM(duplicate_of IS NULL) AS indexed, "
            "COUNT(DISTINCT CASE WHEN duplicate_of IS NULL THEN story_id END) AS stories, "
            "SUM(CASE WHEN duplicate_of IS NULL THEN n_chunks ELSE 0 END) AS chunks, "
            "MIN(published_at) AS oldest, MAX(published_at) AS newest FROM articles"
        ).fetchone()
        outlets = dict(
            self._db.execute(
                "SELECT outlet, COUNT(*) FROM articles WHERE duplicate_of IS NULL "
                "GROUP BY outlet ORDER BY COUNT(*) DESC"
            ).fetchall()
        )
        return {
            "locations": row["locations"] or 0,
            "articles": row["indexed"] or 0,
            "stories": row["stories"] or 0,
            "chunks": row["chunks"] or 0,
            "oldest": row["oldest"],
            "newest": row["newest"],
            "outlets": outlets,
        }

    def set_meta(self, key: str, value: str) -> None:
        with self._writable(), self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
