"""Ingest benchmark: the whole pipeline against the bare encoder on the very same chunk texts.

    python bench/ingest.py --corpus ../shared/data/bbc --json bench/results/ingest.json

The embedding model is the physical limit on a CPU, so the figure of merit is
`ratio_to_encoder` = pipeline chunks/s / bare `SentenceTransformer.encode` chunks/s, both measured
in this process on the same texts with the model already loaded. The two are interleaved: the
corpus is ingested in `--slices` parts (folders of links that keep every article's source_id),
and right after each part the bare encoder embeds that part's chunk texts. On a shared machine
the speed of the same work drifts by 10-15 % within minutes; measured back to back, both sides of
the ratio see the same drift. `slice_ratios` shows the spread. `reingest_speedup` compares an
unchanged second run over the whole corpus with the first.

newsbot's embedder is not a bare `encode`: it batches chunks by word-piece length (see
`retrieval.embeddings._PieceBatcher`), which pads less. `embedding_seconds` is the time the
pipeline spent inside its embedder and `other_seconds` the rest (reading, cleaning, chunking,
near-duplicates, Chroma, the record manager, the catalog), so both halves of the ratio show.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.output import write_json  # noqa: E402
from bot.app import build_app  # noqa: E402
from ingest.loaders import ARTICLE_SUFFIXES  # noqa: E402
from retrieval.embeddings import LocalEmbeddings  # noqa: E402
from retrieval.schema import of_articles  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import get_collection  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def slice_corpus(corpus: Path, root: Path, slices: int) -> list[Path]:
    """Mirror `corpus` as `slices` folders of symlinks, the article files dealt out in turn (so
    each part has every section); other files (metadata sidecars) go into every part."""
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    articles = [p for p in files if p.suffix.lower() in ARTICLE_SUFFIXES]
    others = [p for p in files if p.suffix.lower() not in ARTICLE_SUFFIXES]
    parts = [root / f"part-{i:02d}" for i in range(slices)]
    for i, path in enumerate(articles):
        link = parts[i % slices] / path.relative_to(corpus)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    for path in others:
        for part in parts:
            link = part / path.relative_to(corpus)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
    return [p for p in parts if p.exists()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--slices", type=int, default=8, help="interleave pipeline and encoder in this many parts")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsbot-bench-"))
    try:
        parts = slice_corpus(args.corpus, work / "corpus", args.slices)
        settings = Settings(store_dir=work / "store", _env_file=None)  # type: ignore[call-arg]
        embeddings = LocalEmbeddings(settings.embedding_model, batch_size=settings.embedding_batch_size)
        embeddings.embed_documents(["warm up the model"])  # load time is not ingest time

        embedding_seconds = 0.0
        encode = embeddings._encode

        def timed_encode(texts: list[str]) -> list[list[float]]:
            nonlocal embedding_seconds
            start = time.perf_counter()
            try:
                return encode(texts)
            finally:
                embedding_seconds += time.perf_counter() - start

        embeddings._encode = timed_encode  # type: ignore[method-assign]
        app = build_app(settings, embeddings=embeddings).open()
        indexer = app.indexer
        collection = None
        seconds = encoder_seconds = 0.0
        chunks = 0
        added: list[str] = []
        duplicates = failed = 0
        slice_ratios = []
        for part in parts:
            start = time.perf_counter()
            report = indexer.ingest([str(part)])
            pipeline = time.perf_counter() - start
            collection = collection or get_collection(indexer.client, settings)
            texts: list[str] = []
            if report.added:
                texts = collection.get(where=of_articles(report.added), include=["documents"])["documents"]
            start = time.perf_counter()
            embeddings.model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True)
            bare = time.perf_counter() - start
            seconds += pipeline
            encoder_seconds += bare
            chunks += len(texts)
            added += report.added
            duplicates += len(report.duplicates)
            failed += len(report.failed)
            slice_ratios.append(round(bare / pipeline, 3))
            print(f"{part.name}: {len(report.added)} articles, {len(texts)} chunks, pipeline {pipeline:.1f} s, "
                  f"encoder {bare:.1f} s, ratio {bare / pipeline:.3f}", file=sys.stderr, flush=True)

        start = time.perf_counter()
        again = indexer.ingest([str(p) for p in parts])
        reingest_seconds = time.perf_counter() - start
        assert not again.added and not again.updated, "an unchanged re-run must add nothing"
        assert collection is not None and collection.count() == chunks, "every chunk is counted once"
        app.close()

        result = {
            "corpus": str(args.corpus),
            "articles": len(added),
            "duplicates": duplicates,
            "failed": failed,
            "chunks": chunks,
            "seconds": round(seconds, 2),
            "chunks_per_s": round(chunks / seconds, 2),
            "encoder_seconds": round(encoder_seconds, 2),
            "encoder_chunks_per_s": round(chunks / encoder_seconds, 2),
            "ratio_to_encoder": round(encoder_seconds / seconds, 3),
            "embedding_seconds": round(embedding_seconds, 2),
            "other_seconds": round(seconds - embedding_seconds, 2),
            "other_share": round((seconds - embedding_seconds) / seconds, 3),
            "slices": len(parts),
            "slice_ratios": slice_ratios,
            "embedding_batch_size": settings.embedding_batch_size,
            "reingest_seconds": round(reingest_seconds, 3),
            "reingest_speedup": round(seconds / reingest_seconds, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "targets": {"ratio_to_encoder": ">= 0.9", "reingest_speedup": ">= 50"},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(write_json(result, args.json))


if __name__ == "__main__":
    main()
