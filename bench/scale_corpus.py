"""The retrieval benchmark's scale corpus: N chunks made from the real BBC articles, in a Chroma store.

    python bench/scale_corpus.py --chunks 100000

Variant 0 of an article is the article as `newsbot ingest ../shared/data/bbc` indexes it. Every
later variant re-sources it under another outlet (`<outlet-slug>/<category>/NNN`) and dates it in
2004-2005. The first `SHUFFLED_VARIANTS` also shuffle the sentences within each paragraph
(seeded: every build is the same); later ones are wire copies: the outlet's own headline over the
same text, as agencies' stories are republished. (Embedding is what a build costs, about two
hours per 100k distinct chunks on two cores; a wire copy's chunks have vectors already. Its new
headline keeps it from being an exact duplicate, which ingest would not index.) Variants are
taken in turn, every article's variant 0, then every article's variant 1 and so on, until there
are N chunks (the last article may be cut short).

The chunks go straight into the collection with the metadata the indexer writes
(`ingest.indexer.chunk_metadata`); the indexing API's record manager and the catalog are left
out, since they cost ingest time, not search time. `story_id` follows the indexer's rule: the
originals go through `StoryIndex`, and a variant whose shingles are at least
`near_duplicate_threshold` similar to its original joins the original's story. Each distinct
chunk text is embedded once, and its vector is kept in `data/bench-vectors-<model>.sqlite`: the
10k corpus is the start of the 100k one, and a build that was cut short picks up where it stopped.
The keyword index is built and saved beside the store, as the first search would do it.

The store lives in `data/bench-retrieval-<N>/` (never committed), with a manifest written last;
it is reused while the manifest's key (corpus version, N, model, chunk settings) is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from ingest.chunking import Chunker  # noqa: E402
from ingest.dedup import StoryIndex, jaccard, shingles, signature  # noqa: E402
from ingest.indexer import chunk_metadata, make_chunker  # noqa: E402
from ingest.loaders import iter_articles  # noqa: E402
from ingest.models import Article  # noqa: E402
from retrieval.embeddings import LocalEmbeddings  # noqa: E402
from retrieval.keyword import KeywordIndex  # noqa: E402
from retrieval.schema import ChunkInfo  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import ChunkStore, bump_version, get_collection, open_client  # noqa: E402

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "bbc"
# Bump when the way variants are made changes: every cached store is then rebuilt.
CORPUS_VERSION = 2
# Variants 1..SHUFFLED_VARIANTS have their sentences shuffled; later ones are wire copies.
SHUFFLED_VARIANTS = 1
MANIFEST = "bench-corpus.json"
# Chunks embedded and written per step: bounded memory, and Chroma's batch limit is ~5,000.
WRITE_BATCH = 512

OUTLETS = (
    "Reuters", "Associated Press", "The Guardian", "The Independent", "The Times",
    "Financial Times", "The Daily Telegraph", "Sky News", "ITV News", "Evening Standard",
    "The Scotsman", "Irish Times", "Agence France-Presse", "Bloomberg", "The Herald",
    "Western Mail", "Yorkshire Post", "Belfast Telegraph", "Metro", "Daily Mirror",
)  # fmt: skip
_SENTENCE = re.compile(r"\S.*?(?:[.!?][\"'”’)\]]*(?=\s)|\Z)", re.S)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_DAYS = 731  # 2004-01-01 .. 2005-12-31


def store_dir(chunks: int) -> Path:
    """Where the store of an N-chunk corpus is cached."""
    return ROOT / "data" / f"bench-retrieval-{chunks}"


def corpus_key(chunks: int, settings: Settings, corpus: Path) -> dict[str, Any]:
    """What a cached store must have been built with to be reused."""
    return {
        "corpus_version": CORPUS_VERSION,
        "shuffled_variants": SHUFFLED_VARIANTS,
        "chunks": chunks,
        "corpus": str(corpus.resolve()),
        "embedding_model": settings.embedding_model,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "tokenizer_encoding": settings.tokenizer_encoding,
    }


class VectorCache:
    """Chunk vectors by the SHA-256 of their text, in SQLite, shared by every build with one model."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def get_many(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of `hashes` (those that are cached)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            rows = self._db.execute(
                f"SELECT hash, vector FROM vectors WHERE hash IN ({','.join('?' * len(part))})", part
            )
            found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a finished build in `folder`, or None (no build, or one cut short)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_built(folder: Path, key: dict[str, Any]) -> bool:
    manifest = read_manifest(folder)
    return manifest is not None and manifest.get("key") == key


def original_id(source_id: str) -> str:
    """The BBC article a chunk comes from: `reuters/business/001` -> `business/001`."""
    return "/".join(source_id.split("/")[-2:])


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def shuffle_sentences(text: str, rng: random.Random) -> str:
    """`text` with the sentences of each paragraph in a random order (paragraphs stay put)."""
    paragraphs = []
    for paragraph in _PARAGRAPH_BREAK.split(text.strip()):
        sentences = [m.group() for m in _SENTENCE.finditer(paragraph)]
        rng.shuffle(sentences)
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def make_variant(article: Article, variant: int) -> Article:
    """Variant 0 is `article` itself; others are re-sourced and re-dated, shuffled or re-headlined."""
    if variant == 0:
        return article
    rng = random.Random(f"{CORPUS_VERSION}:{variant}:{article.source_id}")
    round_, index = divmod(variant - 1, len(OUTLETS))
    outlet = OUTLETS[index]
    outlet_slug = slug(outlet) + (f"-{round_ + 1}" if round_ else "")
    published = datetime(2004, 1, 1, tzinfo=UTC) + timedelta(
        days=rng.randrange(_DAYS), minutes=rng.randrange(24 * 60)
    )
    shuffled = variant <= SHUFFLED_VARIANTS
    return article.model_copy(
        update={
            "source_id": f"{outlet_slug}/{article.source_id}",
            "title": article.title if shuffled else f"{article.title} ({outlet})",
            "text": shuffle_sentences(article.text, rng) if shuffled else article.text,
            "url": f"https://{outlet_slug}.example/{article.source_id}",
            "outlet": outlet if not round_ else f"{outlet} {round_ + 1}",
            "published_at": published,
        }
    )


def load_articles(corpus: Path, settings: Settings) -> list[Article]:
    """The corpus's articles as ingest reads them, exact duplicates dropped (ingest indexes
    one copy), in source_id order."""
    seen: set[str] = set()
    articles: list[Article] = []
    for item in iter_articles(str(corpus), settings=settings):
        if not isinstance(item, Article):
            log.warning("skipping %s", item)
            continue
        if item.content_hash in seen:
            continue
        seen.add(item.content_hash)
        articles.append(item)
    return sorted(articles, key=lambda a: a.source_id)


def original_stories(articles: list[Article], threshold: float) -> dict[str, str]:
    """source_id -> story_id for the originals, as the indexer's `StoryIndex` assigns them."""
    texts = {a.source_id: a.text for a in articles}
    stories = StoryIndex(threshold, texts.get)
    result: dict[str, str] = {}
    for article in articles:
        grams = shingles(article.text)
        sig = signature(grams)
        story_id = stories.story_for(article.source_id, article.text, sig, grams)
        stories.add(article.source_id, story_id, sig)
        result[article.source_id] = story_id
    return result


def iter_chunks(
    articles: list[Article], chunks: int, chunker: Chunker, threshold: float
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (id, text, metadata) of the first `chunks` chunks of the variant sequence."""
    stories = original_stories(articles, threshold)
    made = 0
    variant = 0
    while True:
        for article in articles:
            copy = make_variant(article, variant)
            story_id = stories[article.source_id]
            if variant and jaccard(shingles(copy.text), shingles(article.text)) < threshold:
                story_id = copy.source_id
            for chunk in chunker.chunk(copy.source_id, copy.text):
                chunk_id = hashlib.sha256(f"{copy.source_id}\x1f{chunk.index}".encode()).hexdigest()
                yield chunk_id, chunk.text, chunk_metadata(copy, chunk, story_id)
                made += 1
                if made >= chunks:
                    return
        variant += 1


def build(chunks: int, corpus: Path, console: Console) -> dict[str, Any]:
    """Build the N-chunk store in `store_dir(chunks)` (replacing whatever is there) and the
    keyword index beside it; return the manifest."""
    folder = store_dir(chunks)
    shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(store_dir=folder, _env_file=None)  # type: ignore[call-arg]
    key = corpus_key(chunks, settings, corpus)
    started = time.perf_counter()

    articles = load_articles(corpus, settings)
    embeddings = LocalEmbeddings(settings.embedding_model, batch_size=settings.embedding_batch_size)
    model = embeddings.model
    chunker = make_chunker(settings, embeddings)
    client = open_client(settings)
    collection = get_collection(client, settings)

    cache = VectorCache(ROOT / "data" / f"bench-vectors-{slug(settings.embedding_model)}.sqlite")
    distinct: set[str] = set()
    embedded = written = 0
    articles_seen: set[str] = set()

    def flush(batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        nonlocal embedded
        hashes = [hashlib.sha256(text.encode()).hexdigest() for _, text, _ in batch]
        distinct.update(hashes)
        vectors = cache.get_many(hashes)
        todo = {h: text for h, (_, text, _) in zip(hashes, batch, strict=True) if h not in vectors}
        if todo:
            encoded = model.encode(
                list(todo.values()),
                batch_size=settings.embedding_batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            fresh = dict(zip(todo, encoded.astype(np.float32), strict=True))
            cache.put_many(fresh)
            vectors.update(fresh)
            embedded += len(fresh)
        collection.add(
            ids=[chunk_id for chunk_id, _, _ in batch],
            documents=[text for _, text, _ in batch],
            metadatas=[meta for _, _, meta in batch],
            embeddings=np.stack([vectors[h] for h in hashes]),
        )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"building {chunks:,} chunks", total=chunks)
        batch: list[tuple[str, str, dict[str, Any]]] = []
        for item in iter_chunks(articles, chunks, chunker, settings.near_duplicate_threshold):
            batch.append(item)
            articles_seen.add(ChunkInfo.from_metadata(item[0], item[2]).source_id)
            if len(batch) == WRITE_BATCH:
                flush(batch)
                written += len(batch)
                progress.update(task, completed=written)
                batch = []
                if not console.is_terminal and written % (10 * WRITE_BATCH) == 0:
                    # A log file gets no live bar: leave a line now and then instead.
                    console.print(f"{written:,} / {chunks:,} chunks, {embedded:,} embedded, "
                                  f"{time.perf_counter() - started:.0f}s")
        if batch:
            flush(batch)
            written += len(batch)
            progress.update(task, completed=written)
    cache.close()
    bump_version(client, settings)

    console.print("building the keyword index")
    keyword_started = time.perf_counter()
    KeywordIndex(settings, ChunkStore(settings, client)).refresh()
    keyword_seconds = time.perf_counter() - keyword_started

    manifest = {
        "key": key,
        "chunks": collection.count(),
        "articles": len(articles_seen),
        "originals": len(articles),
        "distinct_texts": len(distinct),
        "embedded_now": embedded,
        "build_seconds": round(time.perf_counter() - started, 1),
        "keyword_index_seconds": round(keyword_seconds, 1),
        "built_at": datetime.now().astimezone().isoformat(),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", required=True, type=int, help="chunks in the store")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the BBC article folder")
    parser.add_argument("--force", action="store_true", help="rebuild even when a matching store exists")
    args = parser.parse_args()
    if args.chunks <= 0:
        parser.error("--chunks must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    console = Console(stderr=True)
    folder = store_dir(args.chunks)
    settings = Settings(store_dir=folder, _env_file=None)  # type: ignore[call-arg]
    if not args.force and is_built(folder, corpus_key(args.chunks, settings, args.corpus)):
        console.print(f"{folder} is up to date")
        return
    manifest = build(args.chunks, args.corpus, console)
    console.print_json(json.dumps(manifest))


if __name__ == "__main__":
    main()
