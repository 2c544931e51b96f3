"""Incremental indexing of articles into Chroma, through LangChain's indexing API.

The write path for chunks is `langchain_core.indexing.index` with a SQL record manager and
`cleanup="incremental"`: a chunk already present (same text and metadata) is never embedded again,
and an article whose text changed has its old chunks replaced. Around it, the catalog
(`ingest.catalog`) records each article location, so that

- an unchanged article is skipped before it is even chunked (re-runs cost file reads, not model
  time);
- exact duplicates (the same text under two source_ids) are indexed once, every location recorded;
- near-duplicates (the same story on two sites) share a `story_id`;
- a crash at any point leaves rows marked in flight, which the next run redoes; chunk ids are
  content hashes and Chroma upserts, so nothing is ever doubled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index as lc_index

from ingest.catalog import Catalog, CatalogEntry
from ingest.chunking import Chunker
from ingest.dedup import StoryIndex, shingles, signature
from ingest.errors import SourceError
from ingest.loaders import iter_articles
from ingest.models import Article, Chunk
from retrieval.embeddings import LocalEmbeddings
from retrieval.schema import SOURCE_ID, ChunkMeta
from retrieval.settings import Settings
from retrieval.store import bump_version, get_collection, open_client, open_vectorstore, writer_lock

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma
    from langchain_classic.indexes import SQLRecordManager

log = logging.getLogger(__name__)

# Fingerprint values of rows that a run was changing when it stopped.
IN_FLIGHT = ""
DELETING = "-"

# Articles embedded per call of the indexing API; each call ends with a catalog commit.
# Catalog meta key: "1" while a run has written changes it has not yet announced (bump_version).
UNANNOUNCED = "unannounced_changes"

ProgressFn = Callable[[int, int], None]


def normalize_target(target: str) -> str:
    """Return the origin key of an ingest target: URLs as given, paths made absolute."""
    if target.startswith(("http://", "https://")):
        return target
    return str(Path(target).expanduser().absolute())


@dataclass
class IngestReport:
    """What an ingest run did (or, with `dry_run`, would do)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[SourceError] = field(default_factory=list)
    chunks_added: int = 0
    chunks_deleted: int = 0
    dry_run: bool = False

    @property
    def succeeded(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged) + len(self.duplicates)

    @property
    def exit_code(self) -> int:
        """0 when every input went in, 1 when some failed, 2 when all failed."""
        if not self.failed:
            return 0
        return 1 if self.succeeded or self.deleted else 2

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "duplicates": len(self.duplicates),
            "deleted": len(self.deleted),
            "failed": len(self.failed),
        }


def chunk_metadata(article: Article, chunk: Chunk, story_id: str) -> dict[str, Any]:
    """Metadata stored with each chunk in Chroma (see `retrieval.schema.ChunkMeta`)."""
    return ChunkMeta(
        source_id=article.source_id,
        story_id=story_id,
        title=article.title,
        url=article.url,
        outlet=article.outlet,
        author=article.author,
        published_at=article.published_at,
        chunk_index=chunk.index,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
    ).to_metadata()


def make_chunker(settings: Settings, embeddings: Embeddings) -> Chunker:
    """The chunker ingest uses: sizes from settings, and, with the local model, the check that
    no chunk is longer than the model reads."""
    local = embeddings if isinstance(embeddings, LocalEmbeddings) else None
    return Chunker(
        chunk_tokens=settings.chunk_tokens,
        overlap=settings.chunk_overlap,
        encoding=settings.tokenizer_encoding,
        fits=local.fits if local else None,
        span_fits=local.span_fits if local else None,
    )


class Indexer:
    """Writes articles into the store and keeps the catalog; one instance per process.

    `embeddings` is the model the store was built with (`bot.app.build_app` passes the local one;
    tests may pass LangChain's `DeterministicFakeEmbedding`). `client` defaults to the configured
    Chroma, opened on first use.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embeddings: Embeddings,
        client: ClientAPI | None = None,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self._client = client
        self._vectorstore: Chroma | None = None
        self._records: SQLRecordManager | None = None
        self._stories: StoryIndex | None = None
        self._chunker: Chunker | None = None
        self.catalog = Catalog(settings.catalog_path)
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # --- lazily opened parts ------------------------------------------------------------------
    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            self._client = open_client(self.settings)
        return self._client

    @property
    def vectorstore(self) -> Chroma:
        if self._vectorstore is None:
            self._vectorstore = open_vectorstore(self.settings, self.embeddings, self.client)
        return self._vectorstore

    @property
    def records(self) -> SQLRecordManager:
        if self._records is None:
            from langchain_classic.indexes import SQLRecordManager

            path = self.settings.records_path
            self._records = SQLRecordManager(
                f"chroma/{self.settings.collection_name}", db_url=f"sqlite:///{path}"
            )
            self._records.create_schema()
        return self._records

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:
            self._chunker = make_chunker(self.settings, self.embeddings)
        return self._chunker

    @property
    def stories(self) -> StoryIndex:
        if self._stories is None:
            def text_of(source_id: str) -> str | None:
                entry = self.catalog.get(source_id)
                return entry.article.text if entry else None

            self._stories = StoryIndex(self.settings.near_duplicate_threshold, text_of)
            for source_id, story_id, sig in self.catalog.signatures():
                self._stories.add(source_id, story_id, sig)
        return self._stories

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every run that changed the index (the keyword index uses it)."""
        self._listeners.append(listener)

    def _changing(self) -> None:
        """Note, before the first write of a run, that readers have changes to hear about: a run
        killed after writing but before `_changed` has them announced by the next run."""
        self.catalog.set_meta(UNANNOUNCED, "1")

    def _changed(self) -> None:
        self.catalog.set_meta("last_changed", datetime.now().astimezone().isoformat())
        bump_version(self.client, self.settings)
        self.catalog.set_meta(UNANNOUNCED, "")
        for listener in self._listeners:
            listener()

    # --- ingest -------------------------------------------------------------------------------
    def load(self, targets: Sequence[str], outlet: str = "") -> tuple[list[Article], list[SourceError], set[str]]:
        """Read every target; return the articles, the failures, and the origins that failed whole."""
        articles: dict[str, Article] = {}
        failed: list[SourceError] = []
        failed_origins: set[str] = set()
        for target in targets:
            origin = normalize_target(target)
            for item in iter_articles(target, settings=self.settings, outlet=outlet):
                if isinstance(item, SourceError):
                    failed.append(item)
                    if normalize_target(item.source) == origin:
                        failed_origins.add(origin)
                else:
                    first = articles.setdefault(item.source_id, item)
                    if first.content_hash != item.content_hash:
                        # Two articles under one id: keeping either one silently drops the other.
                        reason = (
                            f"same source id as an article from {first.origin};"
                            f" this one, from {item.origin}, is not indexed"
                        )
                        failed.append(SourceError(item.source_id, reason))
        return list(articles.values()), failed, failed_origins

    def ingest(
        self,
        targets: Sequence[str],
        *,
        prune: bool = False,
        dry_run: bool = False,
        outlet: str = "",
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Ingest files, folders, feeds and pages; return what was added, updated, skipped, deleted
        and which inputs failed. With `prune`, articles that vanished from a target are deleted
        (never for a target that could not be read at all). Raises StoreLockedError when another
        process writes the embedded store."""
        articles, failed, failed_origins = self.load(targets, outlet)
        report = IngestReport(failed=failed, dry_run=dry_run)
        if dry_run:
            self._plan(articles, report)
            if prune:
                report.deleted = sorted(self._vanished(targets, articles, failed_origins))
            return report
        with self._lock, writer_lock(self.settings):
            self._finish_interrupted()
            to_index = self._plan(articles, report)
            report.chunks_added = self._index(to_index, progress)
            if prune:
                vanished = self._vanished(targets, articles, failed_origins)
                report.chunks_deleted += self._delete(vanished)
                report.deleted = sorted(vanished)
            self.catalog.set_meta("last_refresh", datetime.now().astimezone().isoformat())
            if to_index or report.deleted or report.duplicates:
                self._changed()
        return report

    def _plan(self, articles: list[Article], report: IngestReport) -> list[Article]:
        """Sort articles into unchanged / duplicate / to index; record duplicates (unless dry run).

        Returns the articles to (re)index, in input order."""
        known = self.catalog.fingerprints()
        by_hash: dict[str, str] = {}
        to_index: list[Article] = []
        for article in articles:
            previous = known.get(article.source_id)
            if previous == article.fingerprint:
                report.unchanged.append(article.source_id)
                by_hash.setdefault(article.content_hash, article.source_id)
                continue
            original = by_hash.get(article.content_hash)
            if original is None:
                entry = self.catalog.indexed_with_hash(article.content_hash)
                if entry and entry.source_id != article.source_id:
                    original = entry.source_id
            if original is not None and original != article.source_id:
                report.duplicates.append(article.source_id)
                if not report.dry_run:
                    self._record_duplicate(article, original)
                continue
            by_hash[article.content_hash] = article.source_id
            (report.updated if previous is not None else report.added).append(article.source_id)
            to_index.append(article)
        return to_index

    def _record_duplicate(self, article: Article, original: str) -> None:
        entry = self.catalog.get(article.source_id)
        if entry is not None and entry.duplicate_of is None:
            # It was indexed under its own name before and now repeats another article.
            self._delete([article.source_id])
        story = self.catalog.get(original)
        with self.catalog.transaction() as db:
            self.catalog.upsert(
                db,
                article,
                duplicate_of=original,
                story_id=story.story_id if story else original,
                n_chunks=0,
                minhash=None,
            )

    def _index(self, articles: list[Article], progress: ProgressFn | None) -> int:
        """Chunk, embed and write `articles`; return the number of chunks they now have."""
        total = len(articles)
        if progress:
            progress(0, total)
        done = chunks = 0
        if articles:
            self._changing()
        size = self.settings.ingest_batch
        for start in range(0, total, size):
            batch = articles[start : start + size]
            chunks += self._index_batch(batch)
            done += len(batch)
            if progress:
                progress(done, total)
        return chunks

    def _index_batch(self, batch: list[Article]) -> int:
        with self.catalog.transaction() as db:
            self.catalog.mark(db, [a.source_id for a in batch], IN_FLIGHT)
        planned: list[tuple[Article, str, bytes, int]] = []
        docs: list[Document] = []
        for article in batch:
            grams = shingles(article.text)
            sig = signature(grams)
            story_id = self.stories.story_for(article.source_id, article.text, sig, grams)
            self.stories.add(article.source_id, story_id, sig, article.text)
            chunks = self.chunker.chunk(article.source_id, article.text)
            docs.extend(
                Document(page_content=c.text, metadata=chunk_metadata(article, c, story_id))
                for c in chunks
            )
            planned.append((article, story_id, sig, len(chunks)))
        lc_index(
            docs,
            self.records,
            self.vectorstore,
            cleanup="incremental",
            source_id_key=SOURCE_ID,
            batch_size=256,
            key_encoder="sha256",
        )
        with self.catalog.transaction() as db:
            for article, story_id, sig, n_chunks in planned:
                self.catalog.upsert(
                    db, article, duplicate_of=None, story_id=story_id, n_chunks=n_chunks, minhash=sig
                )
        self.stories.committed()
        return len(docs)

    def _vanished(self, targets: Sequence[str], articles: list[Article], failed_origins: set[str]) -> set[str]:
        seen = {a.source_id for a in articles}
        vanished: set[str] = set()
        for target in targets:
            origin = normalize_target(target)
            if origin in failed_origins:
                log.warning("not pruning %s: it could not be read", target)
                continue
            vanished |= self.catalog.source_ids_from(origin) - seen
        return vanished

    # --- removal ------------------------------------------------------------------------------
    def remove(self, key: str) -> list[str]:
        """Delete one article by source_id or URL (a retraction). Returns the source_ids removed
        (empty when nothing matched). Raises StoreLockedError when another process writes."""
        with self._lock, writer_lock(self.settings):
            self._finish_interrupted()
            entry = self.catalog.find(key)
            if entry is None:
                return []
            self._delete([entry.source_id])
            self._changed()
            return [entry.source_id]

    def _delete(self, source_ids: Iterable[str]) -> int:
        """Delete articles' chunks and catalog rows; promote an exact duplicate of a deleted
        article so its text stays indexed. Returns the number of chunks deleted."""
        source_ids = sorted(set(source_ids))
        if not source_ids:
            return 0
        self._changing()
        with self.catalog.transaction() as db:
            self.catalog.mark(db, source_ids, DELETING)
        keys = self.records.list_keys(group_ids=source_ids)
        if keys:
            self.vectorstore.delete(ids=keys)
            self.records.delete_keys(keys)
        promote: list[Article] = []
        for source_id in source_ids:
            if self._stories is not None:
                self._stories.remove(source_id)
            copies = [c for c in self.catalog.duplicates_of(source_id) if c.source_id not in source_ids]
            if copies:
                heir, rest = copies[0], copies[1:]
                promote.append(heir.article)
                with self.catalog.transaction() as db:
                    for copy in rest:
                        self.catalog.upsert(db, copy.article, duplicate_of=heir.source_id,
                                            story_id=heir.source_id, n_chunks=0, minhash=None)
        with self.catalog.transaction() as db:
            self.catalog.delete(db, source_ids)
        if promote:
            self._index(promote, None)
        return len(keys)

    def _finish_interrupted(self) -> None:
        """Redo what a killed run left in flight: deletions are finished, and rows caught mid-write
        are re-indexed from their stored text (the indexing API skips chunks already written)."""
        marks = self.catalog.fingerprints()
        deleting = [sid for sid, fp in marks.items() if fp == DELETING]
        if deleting:
            log.warning("finishing %d deletion(s) left by an interrupted run", len(deleting))
            self._delete(deleting)
        pending = [sid for sid, fp in marks.items() if fp == IN_FLIGHT]
        if pending:
            log.warning("finishing %d article(s) left in flight by an interrupted run", len(pending))
            entries = [e for e in (self.catalog.get(s) for s in pending) if e is not None]
            indexed = [e.article for e in entries if e.duplicate_of is None]
            dups = [e for e in entries if e.duplicate_of is not None]
            self._index(indexed, None)
            with self.catalog.transaction() as db:
                for e in dups:
                    self.catalog.upsert(db, e.article, duplicate_of=e.duplicate_of, story_id=e.story_id,
                                        n_chunks=0, minhash=None)
        if self.catalog.get_meta(UNANNOUNCED) == "1":
            self._changed()  # other processes' keyword indexes learn of the interrupted run's writes

    # --- reading ------------------------------------------------------------------------------
    def article(self, key: str) -> CatalogEntry | None:
        """Return the catalog entry for a source_id or URL, or None."""
        return self.catalog.find(key)

    def stats(self) -> dict[str, Any]:
        """Articles, chunks, outlets, date range, store location and embedding model."""
        stats = self.catalog.stats()
        stats["chunks_in_store"] = get_collection(self.client, self.settings).count()
        stats["store"] = self.settings.chroma_url or str(self.settings.store_dir.absolute())
        stats["collection"] = self.settings.collection_name
        stats["embedding_model"] = self.settings.embedding_model
        stats["last_refresh"] = self.catalog.get_meta("last_refresh")
        return stats

    def close(self) -> None:
        self.catalog.close()
