"""The keyword (BM25) index over the store's chunks, kept in step with the store by itself.

Chroma holds the chunks (read through `retrieval.store.ChunkStore`); this module holds a bm25s
index over each chunk's title and text, for the names, acronyms and numbers that embeddings
blur. It follows the store without a manual step:

- Every writer bumps the store version (`retrieval.store.bump_version`, kept in the collection's
  metadata, so other processes and a shared Chroma server see it too). Before a search the index
  compares that version with the one it was built at, at most every `check_seconds` (one
  `get_collection` call, well under a millisecond embedded), or at once after `invalidate()`
  (wire `Indexer.on_change` to it).
- A stale index is rebuilt from the chunks, read in pages so memory stays bounded. A small index
  (under `background_min_chunks`) is rebuilt before the search goes on, so the search sees the
  change; a large one is rebuilt in a background thread while searches use the old index.
  The old index may still name chunks that were deleted: the retriever fetches every chunk it
  returns from Chroma and drops the ones that are gone.
- The same pass over the store builds the store's chunk table (`retrieval.store.ChunkTable`:
  each chunk's article, story, outlet and date), row for row with the BM25 index, so filters are
  a weight mask over its rows; each table built or loaded is handed to the store.
- The built index is saved beside the store (`settings.keyword_index_dir`: the bm25s files and
  the chunk table, plus `manifest.json` naming the store version it was built at), so a restart
  loads it instead of rebuilding when the version still matches.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.schema import ChunkInfo, title_of
from retrieval.settings import Settings
from retrieval.chunk_table import ChunkTable, ChunkTableBuilder
from retrieval.store import ChunkStore
from retrieval.text import index_words, stem_words

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CHUNKS = "chunks.json"
FORMAT = 1
# Changing how text is turned into terms invalidates every saved index.
ANALYZER = "bm25s-word2-lower-stopwords_en-snowball_english-title+text-v1"

_STEM_CACHE_MAX = 500_000


class Analyzer:
    """Text -> BM25 terms: `retrieval.text.index_words` (lower-cased words of 2+ characters,
    English stopwords removed) stemmed by `retrieval.text.stem_words` (Snowball English), with
    the stems cached. Indexing and querying use the same instance."""

    def __init__(self) -> None:
        # Importing bm25s sets its logger to DEBUG, which would put its notes ("Building index
        # from IDs") in the CLI's output; keep the level the logging configuration gave it.
        # (This module imports bm25s here first: every KeywordIndex makes an Analyzer.)
        bm25s_log = logging.getLogger("bm25s")
        level = bm25s_log.level
        import bm25s  # noqa: F401

        bm25s_log.setLevel(level)

        self._stems: dict[str, str] = {}
        self._lock = threading.Lock()  # one thread at a time fills the stem cache

    def __call__(self, text: str) -> list[str]:
        words = index_words(text)
        stems = self._stems
        missing = [w for w in set(words) if w not in stems]
        if missing:
            with self._lock:
                if len(stems) > _STEM_CACHE_MAX:
                    stems.clear()
                stems.update(zip(missing, stem_words(missing), strict=True))
        return [stems[w] for w in words]


def chunk_terms_text(title: str, text: str) -> str:
    """What BM25 indexes for a chunk: its article's title (names live there) and its text."""
    return f"{title}\n{text}" if title else text


@dataclass(frozen=True)
class KeywordHit(ChunkInfo):
    """One chunk BM25 found, with the metadata the retriever needs before fetching its text."""

    chunk_id: str
    score: float
    rank: int


@dataclass(frozen=True)
class _Snapshot:
    """An immutable built index; searches hold one while a rebuild makes the next. Row i of
    `bm25` is row i of `table`, so the table's filter masks weight BM25's rows."""

    version: str
    bm25: bm25s.BM25 | None
    table: ChunkTable

    @property
    def size(self) -> int:
        return self.table.size


class KeywordIndex:
    """BM25 over every chunk in the store, rebuilt when the store version changes.

    Each build or load hands its chunk table to the store (`ChunkStore.adopt`). `rebuilds` and
    `loads` count how often the index was built from the store and loaded from disk (start-up
    should load, not rebuild, when nothing changed)."""

    def __init__(
        self,
        settings: Settings,
        store: ChunkStore,
        *,
        check_seconds: float = 0.5,
        background_min_chunks: int = 5_000,
        page_size: int = 1_000,
    ) -> None:
        self.settings = settings
        self.store = store
        self.check_seconds = check_seconds
        self.background_min_chunks = background_min_chunks
        self.page_size = page_size
        self.analyzer = Analyzer()
        self.rebuilds = 0
        self.loads = 0
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._invalidated = False
        self._check_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._building: threading.Thread | None = None

    @property
    def directory(self) -> Path:
        return self.settings.keyword_index_dir

    @property
    def version(self) -> str | None:
        """The store version the current index was built at (None before the first build)."""
        snapshot = self._snapshot
        return snapshot.version if snapshot else None

    @property
    def size(self) -> int:
        snapshot = self._snapshot
        return snapshot.size if snapshot else 0

    def invalidate(self) -> None:
        """Make the next search check the store version at once (the store just changed)."""
        self._invalidated = True

    def _install(self, snapshot: _Snapshot) -> None:
        self._snapshot = snapshot
        self.store.adopt(snapshot.table)

    # --- staying current ----------------------------------------------------------------------
    def _due(self) -> bool:
        return (
            self._snapshot is None
            or self._invalidated
            or time.monotonic() - self._checked_at >= self.check_seconds
        )

    def ensure_current(self) -> None:
        """Bring the index up to date with the store if it is time to check.

        Loads the saved index on first use; rebuilds a stale small index now and a stale large
        one in the background. Raises chromadb errors when the store cannot be read and there
        is no index yet to fall back on."""
        if not self._due():
            return
        with self._check_lock:
            if not self._due():
                return
            self._invalidated = False
            version = self.store.version()
            self._checked_at = time.monotonic()
            snapshot = self._snapshot
            if snapshot is None:
                snapshot = self._load()
                if snapshot is not None:
                    self._install(snapshot)
                    self.loads += 1
                    log.info(
                        "loaded the keyword index (%d chunks, version %s) from %s",
                        snapshot.size, snapshot.version or "-", self.directory,
                    )
            if snapshot is not None and snapshot.version == version:
                return
            if snapshot is None or snapshot.size < self.background_min_chunks:
                self._rebuild()
            else:
                self._rebuild_in_background()

    def refresh(self) -> None:
        """Check the store version now and rebuild (in this thread) if the index is stale."""
        self.invalidate()
        self.ensure_current()
        self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background rebuild to finish; True when none is running any more."""
        thread = self._building
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _rebuild_in_background(self) -> None:
        if self._building is not None and self._building.is_alive():
            return
        log.info("the store changed: rebuilding the keyword index in the background")

        def run() -> None:
            try:
                self._rebuild()
            except Exception:
                log.exception("rebuilding the keyword index failed; searches use the previous one")
            finally:
                self._checked_at = float("-inf")  # look again: the store may have moved on

        self._building = threading.Thread(target=run, name="keyword-index-rebuild", daemon=True)
        self._building.start()

    def _rebuild(self) -> None:
        with self._build_lock:
            # Read the version before the chunks: a write that lands while we read bumps it
            # again afterwards, so the next check rebuilds.
            version = self.store.version()
            current = self._snapshot
            if current is not None and current.version == version:
                return
            started = time.perf_counter()
            snapshot = self._build(version)
            self._install(snapshot)
            self.rebuilds += 1
            log.info(
                "built the keyword index: %d chunks in %.2fs (version %s)",
                snapshot.size, time.perf_counter() - started, version or "-",
            )
            self._save(snapshot)

    def _build(self, version: str) -> _Snapshot:
        """Index every chunk the store holds, and its row of the chunk table, in one pass."""
        import bm25s

        vocab: dict[str, int] = {}
        corpus: list[array[int]] = []
        table = ChunkTableBuilder()
        for chunk_id, text, meta in self.store.scan(self.page_size):
            terms = self.analyzer(chunk_terms_text(title_of(meta), text))
            corpus.append(array("i", [vocab.setdefault(t, len(vocab)) for t in terms]))
            table.add(chunk_id, ChunkInfo.from_metadata(chunk_id, meta))
        bm25 = None
        if corpus:
            bm25 = bm25s.BM25()
            bm25.index((corpus, vocab), show_progress=False)
        return _Snapshot(version=version, bm25=bm25, table=table.build())

    # --- persistence --------------------------------------------------------------------------
    def _manifest_matches(self, manifest: dict[str, Any]) -> bool:
        return (
            manifest.get("format") == FORMAT
            and manifest.get("analyzer") == ANALYZER
            and manifest.get("collection") == self.settings.collection_name
        )

    def _save(self, snapshot: _Snapshot) -> None:
        """Write the index to a fresh folder, then point the manifest at it (atomically)."""
        base = self.directory
        folder = base / f"{snapshot.version or 'unversioned'}-{uuid.uuid4().hex[:8]}"
        try:
            folder.mkdir(parents=True)
            if snapshot.bm25 is not None:
                snapshot.bm25.save(str(folder), show_progress=False)
            (folder / CHUNKS).write_text(json.dumps(snapshot.table.columns()), encoding="utf-8")
            manifest = {
                "format": FORMAT,
                "analyzer": ANALYZER,
                "collection": self.settings.collection_name,
                "version": snapshot.version,
                "chunks": snapshot.size,
                "folder": folder.name,
                "built_at": datetime.now().astimezone().isoformat(),
            }
            tmp = base / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
            tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            os.replace(tmp, base / MANIFEST)
        except OSError as e:
            log.warning("could not save the keyword index to %s (%s); it will be rebuilt on the "
                        "next start", base, e)
            shutil.rmtree(folder, ignore_errors=True)
            return
        self._remove_old_folders(keep=folder)

    def _remove_old_folders(self, keep: Path) -> None:
        """Delete earlier builds. A folder another process wrote in the last minute may be the
        one the manifest names by now, so only older ones go."""
        try:
            named = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8")).get("folder")
        except (OSError, ValueError, AttributeError):
            named = None
        cutoff = time.time() - 60
        for old in self.directory.iterdir():
            if not old.is_dir() or old == keep or old.name == named:
                continue
            try:
                if old.stat().st_mtime < cutoff or named == keep.name:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                continue

    def _load(self) -> _Snapshot | None:
        """Return the saved index (at whatever version it was built), or None."""
        import bm25s

        manifest_path = self.directory / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("ignoring the saved keyword index: unreadable %s (%s)", manifest_path, e)
            return None
        if not isinstance(manifest, dict) or not self._manifest_matches(manifest):
            log.info("the saved keyword index was built differently; rebuilding it")
            return None
        folder = self.directory / str(manifest.get("folder"))
        try:
            table = ChunkTable.from_columns(json.loads((folder / CHUNKS).read_text(encoding="utf-8")))
            bm25 = bm25s.BM25.load(str(folder), show_progress=False) if table.size else None
            return _Snapshot(version=str(manifest["version"]), bm25=bm25, table=table)
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring the saved keyword index in %s (%s); rebuilding it", folder, e)
            return None

    # --- searching ----------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int,
        outlets: Sequence[str] | None = None,
        since_ts: int | None = None,
        until_ts: int | None = None,
    ) -> list[KeywordHit]:
        """Return up to `k` chunks by BM25 score (best first), only those with a positive score.

        `outlets` (exact store spellings; None = any) and the inclusive epoch bounds restrict
        what may be returned; with a bound set, chunks without a date are excluded. The filter
        is a weight mask over the whole index, so it never loses a match to a shallow cut-off.
        """
        self.ensure_current()
        snapshot = self._snapshot
        if snapshot is None or snapshot.bm25 is None or k <= 0:
            return []
        bm25 = snapshot.bm25
        terms = list(dict.fromkeys(t for t in self.analyzer(query) if t in bm25.vocab_dict))
        if not terms:
            return []
        table = snapshot.table
        keep = table.keep(outlets, since_ts, until_ts)
        if keep is not None and not keep.any():
            return []
        mask = keep.astype(np.float32) if keep is not None else None
        found, scores = bm25.retrieve(
            [terms],
            k=min(k, snapshot.size),
            show_progress=False,
            n_threads=0,
            backend_selection="numpy",
            weight_mask=mask,
        )
        hits: list[KeywordHit] = []
        for row, score in zip(found[0].tolist(), scores[0].tolist(), strict=True):
            if score <= 0:
                break
            hits.append(
                KeywordHit(**vars(table.info(row)), chunk_id=table.ids[row], score=float(score), rank=len(hits) + 1)
            )
        return hits
