"""Abstention when the articles are on topic but lack the fact: answerable questions asked again
with their evidence sentences cut out of the retrieved passages.

    python bench/abstention.py --store data/eval-store --json bench/results/abstention.json

bbc-qa dev has 18 null questions, too few to tell one abstention method from another, and most
of them are about stories the corpus never covered. The hard case is the other one: the
passages are about the right story and do not say what was asked ("which actor was finally
cast" over articles written before the casting). This bench makes that case from every
answerable question whose evidence sentences (verbatim in the question file) are among its
retrieved passages: the same question over the same passages, first as retrieved (the baseline,
run in the same process: it should answer) and then with every evidence sentence removed from
every passage (it should abstain, or at least not quote the removed fact).

Caveat: another passage may state the fact in other words, so 100 % is not the ideal; the share
is a yardstick for comparing abstention methods (a threshold, a reading model, an LLM), not a
precise rate. The store must hold the question file's corpus (`make eval` builds
`data/eval-store`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_app  # noqa: E402
from bot.cli import load_settings  # noqa: E402
from retrieval.history import InMemoryHistory  # noqa: E402
from retrieval.conversation import ConversationEngine  # noqa: E402
from retrieval.evaluation import Question, load_questions, write_report  # noqa: E402
from retrieval.models import Passage  # noqa: E402


def without(passages: list[Passage], sentences: list[str]) -> tuple[list[Passage], int]:
    """The passages with every occurrence of `sentences` cut out, and how many were cut."""
    cut = 0
    kept = []
    for passage in passages:
        text = passage.text
        for sentence in sentences:
            cut += text.count(sentence)
            text = text.replace(sentence, " ")
        kept.append(passage.model_copy(update={"text": text}))
    return kept, cut


async def run(store: Path, questions: list[Question]) -> dict[str, Any]:
    settings = load_settings(store)
    async with build_app(settings, history=InMemoryHistory(settings.history_tokens)) as app:
        engine = app.engine
        items = await ask_all(engine, questions, settings.retrieval_k)
    n = len(items)
    return {
        "answerer": engine.answerer.name,
        "n": n,
        "abstained_as_retrieved": round(sum(i["abstained_as_retrieved"] for i in items) / n, 4) if n else None,
        "abstained_fact_removed": round(sum(i["abstained_fact_removed"] for i in items) / n, 4) if n else None,
        "items": items,
    }


async def ask_all(engine: ConversationEngine, questions: list[Question], k: int) -> list[dict[str, Any]]:
    """Answer each answerable question with its evidence as retrieved and cut out."""
    items = []
    for question in questions:
        if not question.answerable or not question.evidence:
            continue
        retrieved = await engine.retrieve(question.question, [], today=question.question_date)
        passages = retrieved.passages[:k]
        removed, cut = without(passages, question.evidence)
        if not cut:
            continue  # the evidence was not retrieved: nothing to take away
        as_retrieved = await engine.answerer.answer(retrieved.standalone, passages)
        fact_removed = await engine.answerer.answer(retrieved.standalone, removed)
        items.append({
            "id": question.id,
            "question": retrieved.standalone,
            "abstained_as_retrieved": as_retrieved.abstained,
            "abstained_fact_removed": fact_removed.abstained,
            "score_as_retrieved": round(as_retrieved.evidence_score, 4),
            "score_fact_removed": round(fact_removed.evidence_score, 4),
            "answer_fact_removed": fact_removed.text,
        })
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a store holding the question file's corpus")
    parser.add_argument("--questions", type=Path, default=Path("../shared/data/bbc-qa/dev.jsonl"))
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    result = asyncio.run(run(args.store, load_questions(args.questions)))
    result["questions"] = str(args.questions)
    print(
        f"{result['n']} answerable questions with their evidence retrieved ({result['answerer']} answerer): "
        f"abstaining as retrieved {result['abstained_as_retrieved']}, "
        f"with the evidence cut out {result['abstained_fact_removed']}"
    )
    if args.json:
        write_report(result, args.json)


if __name__ == "__main__":
    main()
