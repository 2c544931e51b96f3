"""Ingest benchmark: the whole pipeline against the bare encoder on the very same chunk texts.

    python bench/ingest.py --corpus ../shared/data/bbc --json bench/results/ingest.json

The embedding model is the physical limit on a CPU, so the figure of merit is
`ratio_to_encoder` = pipeline chunks/s / bare `SentenceTransformer.encode` chunks/s, both measured
in this process on the same texts with the model already loaded. `reingest_speedup` compares an
unchanged second run with the first.
"""

from __future__ import annotations

import argparse
import json
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

from ingest.indexer import Indexer  # noqa: E402
from retrieval.embeddings import LocalEmbeddings  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import get_collection  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    store = Path(tempfile.mkdtemp(prefix="newsbot-bench-"))
    try:
        settings = Settings(store_dir=store, _env_file=None)  # type: ignore[call-arg]
        embeddings = LocalEmbeddings(settings.embedding_model, batch_size=settings.embedding_batch_size)
        embeddings.embed_documents(["warm up the model"])  # load time is not ingest time

        indexer = Indexer(settings, embeddings=embeddings)
        start = time.perf_counter()
        report = indexer.ingest([str(args.corpus)])
        seconds = time.perf_counter() - start

        start = time.perf_counter()
        again = indexer.ingest([str(args.corpus)])
        reingest_seconds = time.perf_counter() - start
        assert not again.added and not again.updated, "an unchanged re-run must add nothing"

        texts = get_collection(indexer.client, settings).get(include=["documents"])["documents"]
        indexer.close()
        start = time.perf_counter()
        embeddings.model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True)
        encoder_seconds = time.perf_counter() - start

        chunks = len(texts)
        result = {
            "corpus": str(args.corpus),
            "articles": len(report.added),
            "duplicates": len(report.duplicates),
            "failed": len(report.failed),
            "chunks": chunks,
            "seconds": round(seconds, 2),
            "chunks_per_s": round(chunks / seconds, 2),
            "encoder_seconds": round(encoder_seconds, 2),
            "encoder_chunks_per_s": round(chunks / encoder_seconds, 2),
            "ratio_to_encoder": round(encoder_seconds / seconds, 3),
            "reingest_seconds": round(reingest_seconds, 3),
            "reingest_speedup": round(seconds / reingest_seconds, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "targets": {"ratio_to_encoder": ">= 0.9", "reingest_speedup": ">= 50"},
        }
    finally:
        shutil.rmtree(store, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
