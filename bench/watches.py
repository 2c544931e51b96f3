"""Watch relevance on a real stream: the USA Today 2025 set replayed week by week into a store.

    python -m bench.watches --months 2025-02 2025-03 --store data/bench-watches --json bench/results/watches.json

Each week's articles are ingested (in this process, through `bot.app.build_app`), then every
topic of `TOPICS` is matched against that week's new articles exactly as the bot does
(`retrieval.watches.match_new`), with the dense bar at 0 and no share bar so every candidate, its
similarity and its chunks are kept; precision, recall and posts per week are then computed for a
range of `MIN_DENSE` values (no share bar), and at `MIN_DENSE` for a range of `MIN_TOPIC_SHARE`
values (the share of the article its chunks about the topic cover).

What a topic should match is labelled from the article's headline and lead sentence: an article
is *about* a topic when its headline or lead matches the topic's pattern; an article that
mentions the topic only further down the text is *in passing* and must not trigger. This is a
proxy written before looking at the results, not a hand judgement of every article: a story about
a topic whose headline says it in other words counts against recall.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.output import write_json
from bot.app import build_app
from retrieval.briefing import lead_sentence
from retrieval.settings import Settings
from retrieval.relevance import MIN_DENSE
from retrieval.watches import ChunkRelevance, match_new, topic_share

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "usatoday-rtqa" / "articles"

# topic -> the pattern its articles' headline or lead carries.
TOPICS: dict[str, str] = {
    "tariffs on imports": r"\btariff",
    "measles outbreak": r"\bmeasles\b",
    "war in Ukraine and peace talks": r"\bukrain|\bzelensk|\bputin\b",
    "DOGE cuts to the federal workforce": r"\bdoge\b|federal (?:worker|employee|workforce)|\blayoffs?\b",
    "egg prices and bird flu": r"\begg|bird flu",
    "plane crash": r"\bplane\b.*\bcrash|\bcrash\b.*\b(?:plane|jet|flight|helicopter)|\bcollision\b",
    "Pope Francis health": r"\bpope\b|\bfrancis\b",
}
THRESHOLDS = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
SHARES = (0.0, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3)


def load(months: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for month in months:
        path = DATA / f"{month}.jsonl"
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def weeks(rows: list[dict[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    """Articles by the Monday of their publish week, in order."""
    out: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        day = date.fromisoformat(row["published"])
        out[day - timedelta(days=day.weekday())].append(row)
    return dict(sorted(out.items()))


def labels(row: dict[str, Any]) -> dict[str, str]:
    """topic -> 'about' / 'passing' / 'no' for this article."""
    head = f"{row['title']} {lead_sentence(row['body'][:3000])}"
    out = {}
    for topic, pattern in TOPICS.items():
        if re.search(pattern, head, re.I):
            out[topic] = "about"
        elif re.search(pattern, row["body"], re.I):
            out[topic] = "passing"
        else:
            out[topic] = "no"
    return out


async def replay(months: list[str], store: Path) -> dict[str, Any]:
    rows = load(months)
    # The loader gives a JSON-lines article its URL as source_id.
    by_id = {r["url"]: r for r in rows}
    gold = {r["url"]: labels(r) for r in rows}
    settings = Settings(store_dir=store, _env_file=None)  # type: ignore[call-arg]
    # source_id -> topic -> dense similarity of its best passage, for every candidate of each week
    candidates: dict[str, dict[str, float]] = defaultdict(dict)
    chunks: dict[str, dict[str, tuple[ChunkRelevance, ...]]] = defaultdict(dict)
    week_of: dict[str, str] = {}
    async with build_app(settings) as app:
        for monday, batch in weeks(rows).items():
            with tempfile.TemporaryDirectory() as folder:
                lines = [
                    json.dumps({"title": r["title"], "text": r["body"], "url": r["url"], "outlet": r["outlet"],
                                "published": r["published"]})
                    for r in batch
                ]
                (Path(folder) / "week.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
                report = await asyncio.to_thread(app.indexer.ingest, [folder])
            new = set(report.added) | set(report.updated)
            await asyncio.to_thread(app.retriever.keyword_index.refresh)
            for source_id in new & gold.keys():
                week_of[source_id] = monday.isoformat()
            for topic in TOPICS:
                for m in await match_new(app.retriever, topic, new, min_dense=-1.0, min_share=0.0):
                    candidates[m.article.source_id][topic] = m.dense_score
                    chunks[m.article.source_id][topic] = m.chunks
            print(f"week of {monday}: {len(batch)} articles, {len(new)} new", flush=True)
    shares = {
        source: {topic: topic_share(c, MIN_DENSE) if c else 1.0 for topic, c in by_topic.items()}
        for source, by_topic in chunks.items()
    }
    return score(gold, candidates, shares, week_of, by_id)


def score(
    gold: dict[str, dict[str, str]], candidates: dict[str, dict[str, float]],
    shares: dict[str, dict[str, float]], week_of: dict[str, str], by_id: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    results: dict[str, Any] = {"articles": len(week_of), "weeks": len(set(week_of.values())), "thresholds": {}}
    for threshold in THRESHOLDS:
        results["thresholds"][str(threshold)] = grid_point(gold, candidates, shares, week_of, results["weeks"], threshold, 0.0)
    results["shares_at_min_dense"] = {
        str(share): grid_point(gold, candidates, shares, week_of, results["weeks"], MIN_DENSE, share)
        for share in SHARES
    }
    results["false_positives_at_0.4"] = sorted(
        (topic, by_id[s]["title"][:80], round(shares.get(s, {}).get(topic, 1.0), 3))
        for s, scores in candidates.items() for topic, d in scores.items()
        if d >= 0.4 and gold[s][topic] != "about"
    )
    return results


def grid_point(
    gold: dict[str, dict[str, str]], candidates: dict[str, dict[str, float]],
    shares: dict[str, dict[str, float]], week_of: dict[str, str], weeks: int, threshold: float, min_share: float,
) -> dict[str, Any]:
    """Precision, recall, passing mentions fired and posts per week with these two bars."""
    per_topic = {}
    for topic in TOPICS:
        fired = {
            s for s, scores in candidates.items()
            if scores.get(topic, -1) >= threshold and s in week_of and shares.get(s, {}).get(topic, 1.0) >= min_share
        }
        about = {s for s in week_of if gold[s][topic] == "about"}
        passing = {s for s in week_of if gold[s][topic] == "passing"}
        hits = fired & about
        per_topic[topic] = {
            "about": len(about), "fired": len(fired), "hits": len(hits),
            "passing_fired": len(fired & passing), "passing": len(passing),
            "precision": round(len(hits) / len(fired), 3) if fired else None,
            "recall": round(len(hits) / len(about), 3) if about else None,
            "posts_per_week": round(len(fired) / weeks, 2),
        }
    fired_all = sum(t["fired"] for t in per_topic.values())
    hits_all = sum(t["hits"] for t in per_topic.values())
    about_all = sum(t["about"] for t in per_topic.values())
    return {
        "precision": round(hits_all / fired_all, 3) if fired_all else None,
        "recall": round(hits_all / about_all, 3) if about_all else None,
        "passing_fired": sum(t["passing_fired"] for t in per_topic.values()),
        "posts_per_week_per_watch": round(fired_all / len(TOPICS) / weeks, 2),
        "topics": per_topic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", nargs="+", default=["2025-02", "2025-03"])
    parser.add_argument("--store", type=Path, default=Path("data/bench-watches"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = asyncio.run(replay(args.months, args.store))
    write_json(results, args.json)
    for grid in ("thresholds", "shares_at_min_dense"):
        print(grid, json.dumps({t: {k: v for k, v in r.items() if k != "topics"} for t, r in results[grid].items()}, indent=2))


if __name__ == "__main__":
    main()
