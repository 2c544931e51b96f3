"""newsbot's retrieval against the LangChain-tutorial pipeline, on the same articles and questions.

    python bench/tutorial.py --store /tmp/eval-store-copy \
        --corpus ../shared/data/bbc --corpus ../shared/data/cnn-rtqa \
        --questions ../shared/data/bbc-qa/dev.jsonl --questions ../shared/data/bbc-qa/calib.jsonl \
        --questions ../shared/data/cnn-rtqa/dev.jsonl --json bench/results/tutorial.json

- tutorial: the folders' articles (read by newsbot's loader, as `newsbot ingest` reads them: the
  same source ids) as "headline, blank line, body" documents, split by LangChain's
  `RecursiveCharacterTextSplitter` (1,000 characters, 200 overlap, as in LangChain's RAG
  tutorial), embedded by the same MiniLM into an in-memory Chroma (cached in `--cache` for the
  next run), BM25 by bm25s (lower case, English stop words, no stemming), and the two joined by
  LangChain's `EnsembleRetriever` (reciprocal rank fusion, equal weights, each half giving 10
  chunks). Its dense and BM25 halves are scored alone too. It has no history: a follow-up is
  searched as asked (`asked`) and with the earlier questions of its conversation put before it
  (`with_history`, the best a pipeline without a rewriting model can do).
- newsbot: `ConversationEngine.retrieve` on the store given, as `newsbot eval` runs it (filters
  read from the question, the follow-up rewritten from its history, the question's date as
  today), once per fusion method (`rrf`, `relative`). Answers are not generated: retrieval only.

Each system's top 10 chunks are scored by the first one from a gold article (hits@1, hits@5,
hits@10, MRR@10 as `retrieval/evaluation.py` computes them), per question type: `single` (first
questions), `followup`, `multi`, and `answerable` (all three).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from pydantic import ConfigDict, PrivateAttr  # noqa: E402

from bot.app import build_app  # noqa: E402
from ingest.loaders import iter_articles  # noqa: E402
from ingest.models import Article  # noqa: E402
from retrieval.embeddings import resolve_model_path  # noqa: E402
from retrieval.evaluation import ItemResult, Question, first_hit, load_questions, summarise  # noqa: E402
from retrieval.history import InMemoryHistory, Turn  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

K = 10
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
GROUPS = ("single", "followup", "multi", "answerable")
SHOWN = ("n", "hits@1", "hits@5", "hits@10", "mrr@10")
FUSIONS = ("rrf", "relative")


class BM25sRetriever(BaseRetriever):
    """BM25 over `docs` with bm25s, as a LangChain retriever returning the `k` best."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    docs: list[Document]
    k: int = K
    _index: Any = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        import bm25s

        self._index = bm25s.BM25()
        self._index.index(bm25s.tokenize([d.page_content for d in self.docs], stopwords="en", show_progress=False),
                          show_progress=False)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        found, scores = self._index.retrieve(tokens, k=min(self.k, len(self.docs)), show_progress=False)
        return [self.docs[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]


def load_documents(folders: Sequence[Path], settings: Settings) -> list[Document]:
    """The folders' articles, split as the tutorial splits them; metadata `source_id`."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    articles = [
        a for folder in folders for a in iter_articles(str(folder), settings=settings) if isinstance(a, Article)
    ]
    return splitter.create_documents(
        [f"{a.title}\n\n{a.text}" for a in articles], metadatas=[{"source_id": a.source_id} for a in articles]
    )


def tutorial_retrievers(docs: list[Document], settings: Settings, cache: Path) -> dict[str, BaseRetriever]:
    """The tutorial's dense, BM25 and ensemble retrievers over `docs` (the vectors kept in `cache`)."""
    import chromadb
    from langchain_chroma import Chroma
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(model_name=resolve_model_path(settings.embedding_model))
    client = chromadb.PersistentClient(path=str(cache))
    name = f"tutorial-{CHUNK_SIZE}-{CHUNK_OVERLAP}-{len(docs)}"
    store = Chroma(client=client, collection_name=name, embedding_function=embeddings)
    if store._collection.count() != len(docs):
        start = time.perf_counter()
        ids = [str(i) for i in range(len(docs))]
        for i in range(0, len(docs), 256):
            store.add_documents(docs[i : i + 256], ids=ids[i : i + 256])
        print(f"embedded {len(docs)} tutorial chunks in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    dense = store.as_retriever(search_kwargs={"k": K})
    bm25 = BM25sRetriever(docs=docs, k=K)
    ensemble = EnsembleRetriever(retrievers=[bm25, dense], weights=[0.5, 0.5])
    return {"dense": dense, "bm25": bm25, "hybrid": ensemble}


def tutorial_query(item: Question, with_history: bool) -> str:
    if not with_history:
        return item.question
    return " ".join([t.question for t in item.history] + [item.question])


def result(item: Question, rank: int | None) -> ItemResult:
    """An item scored on retrieval alone (the answer fields are left empty)."""
    return ItemResult(
        id=item.id, type=item.type, rank=rank, evidence_total=0, evidence_found=0, abstained=False,
        answer_match=None, cited=0, cited_gold=0, latency_ms=0.0, evidence_score=0.0, standalone="", answer="",
    )


def figures(items: Sequence[Question], ranks: dict[str, int | None]) -> dict[str, dict[str, Any]]:
    """hits@k and MRR per group (see the module docstring), over the answerable items."""
    answerable = [q for q in items if q.answerable]
    ids = {q.id for q in answerable}
    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        chosen = answerable if group == "answerable" else [q for q in answerable if q.type == group]
        if chosen:
            summary = summarise([result(q, ranks[q.id]) for q in chosen], ids)
            out[group] = {key: summary[key] for key in SHOWN}
    return out


async def newsbot_ranks(store: Path, files: dict[str, list[Question]], fusion: str) -> dict[str, dict[str, int | None]]:
    settings = Settings(store_dir=store)
    ranks: dict[str, dict[str, int | None]] = {}
    async with build_app(settings, history=InMemoryHistory(settings.history_tokens), create_store=False) as app:
        app.retriever.fusion = fusion  # type: ignore[assignment]
        await asyncio.to_thread(app.retriever.warm_up)
        for name, items in files.items():
            ranks[name] = {}
            for item in items:
                if not item.answerable:
                    continue
                history = [Turn(question=t.question, answer=t.answer) for t in item.history]
                retrieved = await app.engine.retrieve(
                    item.question, history, today=item.question_date or date.today(),
                    k=max(K, settings.retrieval_k),
                )
                ranks[name][item.id] = first_hit(retrieved.passages[:K], item.gold)
    return ranks


def tutorial_ranks(retriever: BaseRetriever, items: Sequence[Question], with_history: bool) -> dict[str, int | None]:
    ranks: dict[str, int | None] = {}
    for item in items:
        if item.answerable:
            docs = retriever.invoke(tutorial_query(item, with_history))[:K]
            gold = set(item.gold)
            ranks[item.id] = next(
                (i for i, d in enumerate(docs, 1) if d.metadata.get("source_id") in gold), None
            )
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="newsbot's store of the same articles")
    parser.add_argument("--corpus", type=Path, action="append", required=True, help="article folder (repeatable)")
    parser.add_argument("--questions", type=Path, action="append", required=True, help="question file (repeatable)")
    parser.add_argument("--cache", type=Path, default=Path("data/tutorial-cache"), help="the tutorial's vectors")
    parser.add_argument("--skip-newsbot", action="store_true")
    parser.add_argument("--skip-tutorial", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    settings = Settings(store_dir=args.store)
    files = {f"{p.parent.name}/{p.name}": load_questions(p) for p in args.questions}
    out: dict[str, Any] = {"k": K, "sets": {}}
    ranks: dict[str, dict[str, dict[str, int | None]]] = {name: {} for name in files}

    docs = [] if args.skip_tutorial else load_documents(args.corpus, settings)
    out["tutorial_chunks"] = len(docs)
    retrievers = {} if args.skip_tutorial else tutorial_retrievers(docs, settings, args.cache)
    for name, items in files.items():
        for kind, retriever in retrievers.items():
            ranks[name][f"tutorial-{kind}"] = tutorial_ranks(retriever, items, with_history=False)
            if any(q.history for q in items):
                ranks[name][f"tutorial-{kind}-with_history"] = tutorial_ranks(retriever, items, with_history=True)
    if not args.skip_newsbot:
        for fusion in FUSIONS:
            for name, found in asyncio.run(newsbot_ranks(args.store, files, fusion)).items():
                ranks[name][f"newsbot-{fusion}"] = found

    for name, items in files.items():
        out["sets"][name] = {system: figures(items, found) for system, found in ranks[name].items()}
        out["sets"][name]["ranks"] = {
            q.id: {"type": q.type, **{system: found.get(q.id) for system, found in ranks[name].items()}}
            for q in items if q.answerable
        }
        print(f"== {name}")
        for system, by_group in out["sets"][name].items():
            if system == "ranks":
                continue
            for group, values in by_group.items():
                print(f"  {system:32} {group:10}", "  ".join(f"{k}={values[k]}" for k in SHOWN))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
