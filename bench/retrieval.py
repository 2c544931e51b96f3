"""Retrieval benchmark: newsbot's hybrid search against the LangChain-tutorial baseline, at scale.

    python bench/retrieval.py --chunks 100000 --json bench/results/retrieval-100k.json

Both run in this process, on the same store (the scale corpus of `bench/scale_corpus.py`, built
in a child process on first use and cached in `data/bench-retrieval-<N>/`) and the same queries:
every dev question that stands on its own (follow-ups need their history) in three wordings, as
asked, with a lead-in, and as search-box keywords.

- newsbot: `HybridRetriever.asearch(query, k=10)`'s body (`_checked_search`, timed without the
  hop to a worker thread): the question embedding, dense search in Chroma, BM25, fusion, story
  collapse and the per-article cap, with the keyword index loaded from disk as a restarted bot
  would.
- baseline: `Chroma.similarity_search(query, k=10)` through `HuggingFaceEmbeddings`, dense only.

Latencies are taken in one interleaved pass after a warm-up (the order alternates per query, so
a busy machine slows both alike); `speedup_p50` = baseline p50 / newsbot p50. Every pass starts
with an empty question-vector cache, so each question is embedded as a new one would be.
`hits@10` is the share of answerable queries with a chunk of a gold article (in any outlet's
copy) among the results. A first newsbot-only pass times the stages of a search
(`stages_p50_ms`); a last one adds an outlet and date filter (`filtered_p50_ms`). `peak_rss_mb`
is this process's peak, both models loaded; `newsbot_peak_rss_mb` is the peak before the
baseline was loaded.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.output import write_json  # noqa: E402
from bench.scale_corpus import (  # noqa: E402
    DEFAULT_CORPUS,
    corpus_key,
    is_built,
    original_id,
    read_manifest,
    store_dir,
)
from retrieval import fusion  # noqa: E402
from retrieval.embeddings import LocalEmbeddings, resolve_model_path  # noqa: E402
from bot.app import build_app  # noqa: E402
from retrieval.evaluation import load_questions  # noqa: E402
from retrieval.hybrid import HybridRetriever  # noqa: E402
from retrieval.models import SearchFilters  # noqa: E402
from retrieval.schema import SOURCE_ID  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import open_client  # noqa: E402

DEFAULT_QUESTIONS = DEFAULT_CORPUS.parent / "bbc-qa" / "dev.jsonl"
K = 10
# Not among the queries: their vectors must not be cached when the timing starts.
WARM_UP = (
    "Who won the match on Saturday?",
    "What did the minister say about the budget?",
    "mobile phone sales",
    "Which film won the award?",
    "According to the reports, how much did the company earn?",
)
FORMS = ("asked", "lead-in", "keywords")
# The filtered pass: three outlets and a year, as "what did Reuters say ... between July and June".
FILTERS = SearchFilters(
    outlets=["Reuters", "Associated Press", "The Guardian"],
    since=date(2004, 7, 1),
    until=date(2005, 6, 30),
)

_LEAD_WORDS = frozenset(
    "what which who whom whose how why when where did does do is was were are has had have "
    "in on at for according after before during".split()
)
_FUNCTION_WORDS = _LEAD_WORDS | frozenset(
    "a an the of to and or by with from about as into than that this these those be been being "
    "it its their his her he she they them there said say says much many".split()
)


@dataclass(frozen=True)
class Query:
    text: str
    form: str
    gold: frozenset[str]  # empty: the corpus does not answer it (timed, not scored)


def paraphrases(question: str) -> list[str]:
    """`question` as asked, after a lead-in, and as keywords (one of each, deterministic)."""
    question = question.strip()
    first, _, rest = question.partition(" ")
    lowered = f"{first.lower()} {rest}" if first.lower() in _LEAD_WORDS else question
    words = (w.strip(".'’") for w in re.findall(r"[^\s?!,;:()\"“”]+", question))
    keywords = " ".join(w for w in words if w and w.lower() not in _FUNCTION_WORDS)
    return [question, f"According to the reports, {lowered}", keywords or question]


def load_queries(path: Path) -> list[Query]:
    """Every stand-alone question of `path` in each wording; follow-ups are left out."""
    queries: list[Query] = []
    for item in load_questions(path):
        if item.type == "followup":
            continue
        gold = frozenset(item.gold) if item.answerable else frozenset()
        wordings = zip(paraphrases(item.question), FORMS, strict=True)
        queries.extend(Query(text, form, gold) for text, form in wordings)
    return queries


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def hit(gold: frozenset[str], source_ids: list[str]) -> bool:
    return any(original_id(s) in gold for s in source_ids)


def hit_rate(queries: list[Query], found: list[list[str]]) -> float:
    scored = [hit(q.gold, ids) for q, ids in zip(queries, found, strict=True) if q.gold]
    return round(sum(scored) / len(scored), 4) if scored else 0.0


def hit_rate_by_form(queries: list[Query], found: list[list[str]]) -> dict[str, float]:
    by_form: dict[str, list[bool]] = defaultdict(list)
    for q, ids in zip(queries, found, strict=True):
        if q.gold:
            by_form[q.form].append(hit(q.gold, ids))
    return {form: round(sum(v) / len(v), 4) for form, v in by_form.items()}


def fresh_embeddings(loaded: LocalEmbeddings) -> LocalEmbeddings:
    """`loaded`'s model behind an empty question-vector cache (no second model load)."""
    fresh = LocalEmbeddings(loaded.model_name, batch_size=loaded.batch_size, device=loaded.device)
    fresh.__dict__["model"] = loaded.model  # fills the cached_property
    return fresh


def stage_times(retriever: HybridRetriever, query: str) -> dict[str, float]:
    """One unfiltered search, stage by stage, in s. This retraces `HybridRetriever._search`
    through its private steps, so keep it in step with retrieval/hybrid.py. The question is
    embedded through `embed_documents`, which skips the question-vector cache."""
    depth = max(retriever.depth, 3 * K)
    t0 = time.perf_counter()
    retriever.keyword_index.ensure_current()
    vector = retriever.embeddings.embed_documents([query])[0]
    t1 = time.perf_counter()
    dense = retriever._dense(vector, depth, None, None, None)
    t2 = time.perf_counter()
    keyword = retriever._keyword_candidates(query, depth, None, None, None)
    t3 = time.perf_counter()
    ranked = fusion.rank(
        fusion.fuse(
            dense, keyword, mode=retriever.mode, method=retriever.fusion, rrf_k=retriever.rrf_k,
            dense_weight=retriever.dense_weight, keyword_weight=retriever.keyword_weight,
        )
    )
    retriever._pick(ranked, K, vector)
    t4 = time.perf_counter()
    return {"embed": t1 - t0, "dense": t2 - t1, "keyword": t3 - t2, "fuse_pick": t4 - t3}


def ensure_store(chunks: int, corpus: Path, console: Console) -> Path:
    """The cached store of `chunks` chunks, built first in a child process when missing (so the
    build's memory does not count towards this process's peak)."""
    folder = store_dir(chunks)
    settings = Settings(store_dir=folder, _env_file=None)  # type: ignore[call-arg]
    if not is_built(folder, corpus_key(chunks, settings, corpus)):
        console.print(f"building the {chunks:,}-chunk corpus in {folder} (cached for later runs)")
        script = Path(__file__).with_name("scale_corpus.py")
        subprocess.run(
            [sys.executable, str(script), "--chunks", str(chunks), "--corpus", str(corpus)], check=True
        )
    return folder


def timed(fn: Callable[[str], list[str]], text: str) -> tuple[float, list[str]]:
    start = time.perf_counter()
    found = fn(text)
    return time.perf_counter() - start, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", required=True, type=int, help="chunks in the scale corpus")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the BBC article folder")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="the dev questions")
    parser.add_argument("--profile", type=Path, help="also profile a newsbot pass; write pstats here")
    args = parser.parse_args()
    if args.chunks <= 0:
        parser.error("--chunks must be positive")

    console = Console()
    folder = ensure_store(args.chunks, args.corpus, console)
    manifest = read_manifest(folder) or {}
    queries = load_queries(args.questions)
    settings = Settings(store_dir=folder, _env_file=None)  # type: ignore[call-arg]
    app = build_app(settings, client=open_client(settings))  # opening the client is not load time

    # --- newsbot alone: load, warm up, time the stages, note the memory -----------------------
    start = time.perf_counter()
    app.open()
    embeddings, client, retriever = app.embeddings, app.client, app.retriever
    retriever.warm_up()
    load_seconds = time.perf_counter() - start
    keyword_index = "loaded" if retriever.keyword_index.loads else "rebuilt"

    def newsbot(text: str, filters: SearchFilters | None = None) -> list[str]:
        # The search itself, as the other engines are timed: without asearch's hop to a thread.
        return [p.source_id for p in retriever._checked_search(text, k=K, filters=filters)]

    for text in WARM_UP:
        newsbot(text)
    stages: dict[str, list[float]] = defaultdict(list)
    with console.status("timing newsbot's stages"):
        for q in queries:
            for stage, seconds in stage_times(retriever, q.text).items():
                stages[stage].append(seconds * 1000)
    newsbot_rss = peak_rss_mb()

    # --- the baseline, then both interleaved ----------------------------------------------------
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    store = Chroma(
        client=client,
        collection_name=settings.collection_name,
        embedding_function=HuggingFaceEmbeddings(model_name=resolve_model_path(settings.embedding_model)),
    )

    def baseline(text: str) -> list[str]:
        return [str(d.metadata.get(SOURCE_ID, "")) for d in store.similarity_search(text, k=K)]

    for text in WARM_UP:
        baseline(text)

    latency: dict[str, list[float]] = {"newsbot": [], "baseline": []}
    found: dict[str, list[list[str]]] = {"newsbot": [], "baseline": []}
    systems: dict[str, Callable[[str], list[str]]] = {"newsbot": newsbot, "baseline": baseline}
    retriever.embeddings = fresh_embeddings(embeddings)
    with console.status(f"{len(queries)} queries, newsbot and baseline in turn"):
        for i, q in enumerate(queries):
            order = ("newsbot", "baseline") if i % 2 == 0 else ("baseline", "newsbot")
            for name in order:
                seconds, ids = timed(systems[name], q.text)
                latency[name].append(seconds * 1000)
                found[name].append(ids)

    filtered: list[float] = []
    retriever.embeddings = fresh_embeddings(embeddings)
    with console.status("newsbot with an outlet and date filter"):
        for q in queries:
            start = time.perf_counter()
            newsbot(q.text, FILTERS)
            filtered.append((time.perf_counter() - start) * 1000)

    p50, p95 = ms(latency["newsbot"], 50), ms(latency["newsbot"], 95)
    base_p50, base_p95 = ms(latency["baseline"], 50), ms(latency["baseline"], 95)
    result: dict[str, Any] = {
        "chunks": client.get_collection(settings.collection_name).count(),
        "articles": manifest.get("articles"),
        "queries": len(queries),
        "answerable_queries": sum(1 for q in queries if q.gold),
        "p50_ms": p50,
        "p95_ms": p95,
        "baseline_p50_ms": base_p50,
        "baseline_p95_ms": base_p95,
        "speedup_p50": round(base_p50 / p50, 2) if p50 else None,
        "hits@10": hit_rate(queries, found["newsbot"]),
        "baseline_hits@10": hit_rate(queries, found["baseline"]),
        "hits@10_by_form": hit_rate_by_form(queries, found["newsbot"]),
        "baseline_hits@10_by_form": hit_rate_by_form(queries, found["baseline"]),
        "stages_p50_ms": {stage: ms(values, 50) for stage, values in stages.items()},
        "stages_p95_ms": {stage: ms(values, 95) for stage, values in stages.items()},
        "filtered_p50_ms": ms(filtered, 50),
        "filtered_p95_ms": ms(filtered, 95),
        "filters": FILTERS.model_dump(mode="json", exclude={"prefer_recent", "soft_dates"}),
        "load_seconds": round(load_seconds, 2),
        "keyword_index": keyword_index,
        "newsbot_peak_rss_mb": round(newsbot_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "targets": {
            "p50_ms": "<= 25 (100k)",
            "p95_ms": "<= 50 (100k)",
            "speedup_p50": ">= 3 at equal or better hits@10",
            "peak_rss_mb": "<= 1536",
        },
    }

    if args.profile:
        retriever.embeddings = fresh_embeddings(embeddings)
        profiler = cProfile.Profile()
        profiler.enable()
        for q in queries:
            newsbot(q.text)
        profiler.disable()
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(args.profile))
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)

    table = Table(title=f"retrieval at {result['chunks']:,} chunks, {len(queries)} queries")
    table.add_column("")
    table.add_column("newsbot", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("target", justify="right")
    table.add_row("p50 ms", str(p50), str(base_p50), "<= 25")
    table.add_row("p95 ms", str(p95), str(base_p95), "<= 50")
    table.add_row("speedup p50", str(result["speedup_p50"]), "1", ">= 3")
    table.add_row("hits@10", str(result["hits@10"]), str(result["baseline_hits@10"]), ">= baseline")
    table.add_row("peak RSS MB", str(result["newsbot_peak_rss_mb"]), f"{result['peak_rss_mb']} (both)", "<= 1536")
    table.add_row("stages p50 ms", " / ".join(f"{s} {v}" for s, v in result["stages_p50_ms"].items()), "", "")
    table.add_row("filtered p50 / p95 ms", f"{result['filtered_p50_ms']} / {result['filtered_p95_ms']}", "", "")
    console.print(table)

    text = write_json(result, args.json)
    if not args.json:
        print(text)


if __name__ == "__main__":
    main()
