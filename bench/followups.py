"""Do follow-ups retrieve as well as first questions?

    python bench/followups.py --store data/eval-store \
        --questions ../shared/data/bbc-qa/dev.jsonl --questions ../shared/data/bbc-qa/calib.jsonl

Runs every question of each file as `newsbot eval` does (the follow-up rewritten from its
`history`, hybrid retrieval, the answerer) and prints, per file, hits@1, hits@5, MRR@10 and false
abstention of the follow-ups (items with a history: type `followup`) against the first questions
(type `single`), the null follow-ups' abstention, and each follow-up's searched question and
rank. `--followups-only` skips the first questions (quick, while tuning the rewrite).

The offline rewrite (retrieval/followups.py) was fitted on dev.jsonl; calib.jsonl is the check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_app  # noqa: E402
from retrieval.history import InMemoryHistory  # noqa: E402
from retrieval.evaluation import evaluate, load_questions  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

SHOWN = ("n", "hits@1", "hits@5", "mrr@10", "false_abstention", "null_abstention", "latency_p50_ms")


async def measure(store: Path, files: list[Path], followups_only: bool) -> dict[str, Any]:
    settings = Settings(store_dir=store)
    results: dict[str, Any] = {}
    async with build_app(settings, history=InMemoryHistory(settings.history_tokens)) as app:
        await asyncio.to_thread(app.retriever.warm_up)
        for path in files:
            items = [
                q for q in load_questions(path)
                if q.history or (q.type == "single" and not followups_only)
            ]
            report = await evaluate(app.engine, items)
            by_type = report["by_type"]
            results[path.name] = {
                "followups": by_type.get("followup"),
                "first_questions": by_type.get("single"),
                "null_followups": by_type.get("null"),
                "items": [
                    {"id": i["id"], "type": i["type"], "rank": i["rank"], "abstained": i["abstained"],
                     "standalone": i["standalone"]}
                    for i in report["items"] if i["type"] != "single"
                ],
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=Path, action="append", required=True)
    parser.add_argument("--followups-only", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = asyncio.run(measure(args.store, args.questions, args.followups_only))
    for name, result in results.items():
        print(f"== {name}")
        for label in ("followups", "first_questions", "null_followups"):
            figures = result[label] or {}
            print(f"  {label:16}", "  ".join(f"{k}={figures.get(k)}" for k in SHOWN if figures.get(k) is not None))
        for item in result["items"]:
            print(f"  {item['id']:10} rank={item['rank']} abstained={item['abstained']} | {item['standalone']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
