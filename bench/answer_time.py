"""Where the time of one whole answer goes: retrieval, evidence scoring, the reader, composition.

    python bench/answer_time.py --store /tmp/eval-store-copy \
        --questions ../shared/data/bbc-qa/dev.jsonl --json bench/results/answer-time.json

Every question is answered as `newsbot eval` answers it (filters, the follow-up rewrite, hybrid
retrieval, the offline extractive answerer, the disagreement check), with each stage timed on its
own: retrieval (`engine.retrieve`), evidence (embedding and scoring every sentence of the
passages), the reader (spaCy over the best sentences, candidates, features), composition (the
policy, the quoted sentences, the short answer's sentence, verification) and the disagreement
check. Each question is asked twice: the first time (its sentences never analysed or embedded in
this process) and then again (everything cached). Then, on the same evidence and in the same
process (so the machine's load, shared here, weighs on every option alike), where the reader's
spaCy work could happen (`--reader-variant placement`: per sentence as shipped, per chunk, or at
ingest), or a lighter pipeline against the default (`ner-only`: without the tagger), its
readings compared with the default's.

The store must hold the question file's corpus; open a copy (Chroma writes on open).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.output import write_json  # noqa: E402
from bot.app import build_app  # noqa: E402
from retrieval.evaluation import Question, load_questions  # noqa: E402
from retrieval.extractive import ExtractiveAnswerer  # noqa: E402
from retrieval.history import InMemoryHistory, Turn  # noqa: E402
from retrieval.reader import Reader  # noqa: E402
from retrieval.sentence_analysis import SentenceAnalyser  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.text import split_sentences  # noqa: E402

STAGES = ("retrieval", "evidence", "reader", "compose", "disagreements")


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    return {
        "p50": round(ordered[len(ordered) // 2], 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "mean": round(statistics.fmean(ordered), 1),
    }


async def answer_once(engine: Any, answerer: ExtractiveAnswerer, item: Question) -> tuple[dict[str, float], str, str]:
    """Answer `item` stage by stage; return each stage's milliseconds, the answer text and its
    short answer."""
    history = [Turn(question=t.question, answer=t.answer) for t in item.history]
    times: dict[str, float] = {}
    started = time.perf_counter()
    retrieved = await engine.retrieve(item.question, history, today=item.question_date or date.today())
    times["retrieval"] = (time.perf_counter() - started) * 1000
    passages = retrieved.passages[: engine.settings.retrieval_k]
    mark = time.perf_counter()
    evidence = answerer.scorer.score(retrieved.standalone, passages)
    times["evidence"] = (time.perf_counter() - mark) * 1000
    mark = time.perf_counter()
    reading = answerer.read(evidence)
    times["reader"] = (time.perf_counter() - mark) * 1000
    mark = time.perf_counter()
    answer = answerer.from_evidence(evidence, reading=reading)
    times["compose"] = (time.perf_counter() - mark) * 1000
    mark = time.perf_counter()
    answer = engine.disagreements.annotate(answer, passages)
    times["disagreements"] = (time.perf_counter() - mark) * 1000
    times["whole"] = (time.perf_counter() - started) * 1000
    return times, answer.text, answer.short_answer


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    whole = [r["whole"] for r in runs]
    total = sum(whole) or 1.0
    return {
        "whole_ms": _percentiles(whole),
        "stages_ms": {s: _percentiles([r[s] for r in runs]) for s in STAGES},
        "stage_share": {s: round(sum(r[s] for r in runs) / total, 3) for s in STAGES},
    }


async def run(store: Path, questions: list[Question], variant: str) -> dict[str, Any]:
    settings = Settings(store_dir=store)
    async with build_app(settings, history=InMemoryHistory(settings.history_tokens)) as app:
        engine = app.engine
        answerer = engine.answerer
        if not isinstance(answerer, ExtractiveAnswerer):
            raise SystemExit(f"the configured answerer is {answerer.name}; this bench times the extractive one")
        await asyncio.to_thread(app.retriever.warm_up)
        answerer.reader.analyser.nlp  # load spaCy before the clock starts  # noqa: B018
        first: list[dict[str, float]] = []
        again: list[dict[str, float]] = []
        answers: dict[str, tuple[str, str]] = {}
        for item in questions:
            times, text, short = await answer_once(engine, answerer, item)
            first.append(times)
            answers[item.id] = (text, short)
        changed = 0
        for item in questions:
            times, text, short = await answer_once(engine, answerer, item)
            again.append(times)
            changed += answers[item.id] != (text, short)
        variant_report = await compare_reader(engine, answerer, questions, variant) if variant != "none" else None
    return {
        "questions": len(questions),
        "first_time": summary(first),
        "repeated": summary(again),
        "repeated_answers_differing": changed,  # caches must not change an answer
        "reader_variant": variant_report,
    }


def variant_nlp(variant: str) -> Any:
    """A spaCy pipeline for the reader: "ner-only" keeps only what entities need."""
    import spacy

    from retrieval.sentence_analysis import SPACY_MODEL

    if variant == "ner-only":
        return spacy.load(SPACY_MODEL, disable=["parser", "lemmatizer", "tagger", "attribute_ruler"])
    raise SystemExit(f"--reader-variant: unknown variant {variant!r} (none, placement, ner-only)")


async def compare_reader(engine: Any, answerer: ExtractiveAnswerer, questions: list[Question], variant: str) -> dict[str, Any]:
    """Where the reader's spaCy work could happen, each timed cold on the same evidence: per
    sentence at answer time (as shipped: the 8 sentences read), per chunk at answer time (every
    sentence of the chunks those 8 come from), or at ingest (the answer only reads stored
    analyses: timed with everything cached). With a `variant` pipeline, the reader is also timed
    with it, interleaved with the default, and the readings whose short answer or features differ
    are counted (a variant is kept only when none does)."""
    base = Reader()
    other = Reader(variant_nlp(variant)) if variant != "placement" else None
    base.analyser.nlp  # noqa: B018
    per_sentence: list[float] = []
    per_chunk: list[float] = []
    stored: list[float] = []
    chunk_sentences: list[int] = []
    base_ms: list[float] = []
    other_ms: list[float] = []
    differ = 0
    for item in questions:
        history = [Turn(question=t.question, answer=t.answer) for t in item.history]
        retrieved = await engine.retrieve(item.question, history, today=item.question_date or date.today())
        evidence = answerer.scorer.score(retrieved.standalone, retrieved.passages[: engine.settings.retrieval_k])
        if not evidence.sentences:
            continue
        read = evidence.sentences[: base.max_sentences]
        chunks = sorted({s.passage_index for s in read})
        whole = [evidence.passages[i].text[a:b].strip() for i in chunks for a, b in split_sentences(evidence.passages[i].text)]
        whole = [t for t in whole if t]
        chunk_sentences.append(len(whole))
        for texts, into in (([s.text for s in read], per_sentence), (whole, per_chunk)):
            cold = SentenceAnalyser(base.analyser.nlp)
            mark = time.perf_counter()
            cold.analyse(texts)
            into.append((time.perf_counter() - mark) * 1000)
        if other is None:
            base.read(evidence.question, evidence.passages, evidence)  # fill the cache
            mark = time.perf_counter()
            base.read(evidence.question, evidence.passages, evidence)
            stored.append((time.perf_counter() - mark) * 1000)
            continue
        fresh, fresh_other = Reader(base.analyser.nlp), Reader(other.analyser.nlp)
        mark = time.perf_counter()
        a = fresh.read(evidence.question, evidence.passages, evidence)
        base_ms.append((time.perf_counter() - mark) * 1000)
        mark = time.perf_counter()
        b = fresh_other.read(evidence.question, evidence.passages, evidence)
        other_ms.append((time.perf_counter() - mark) * 1000)
        same = (a.answer.text if a.answer else None) == (b.answer.text if b.answer else None) and a.features == b.features
        differ += not same
    if other is None:
        return {
            "spacy_per_sentence_ms": _percentiles(per_sentence),
            "spacy_per_chunk_ms": _percentiles(per_chunk),
            "sentences_per_chunk_set": _percentiles([float(n) for n in chunk_sentences]),
            "reader_with_stored_analyses_ms": _percentiles(stored),
        }
    return {"variant": variant, "default_ms": _percentiles(base_ms), "variant_ms": _percentiles(other_ms), "readings_differing": differ}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="a copy of a store holding the question file's corpus")
    parser.add_argument("--questions", type=Path, default=Path("../shared/data/bbc-qa/dev.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument(
        "--reader-variant", default="placement",
        help="placement: time spaCy per sentence, per chunk and with stored analyses; ner-only: time the reader "
        "without the tagger against the default; none: neither",
    )
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    questions = load_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    result = asyncio.run(run(args.store, questions, args.reader_variant))
    result["questions_file"] = str(args.questions)
    print(write_json(result, args.json))


if __name__ == "__main__":
    main()
