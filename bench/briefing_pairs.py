"""List pairs of articles published within two days of each other, most alike first, by the
similarity `retrieval.briefing` groups stories with, so the threshold can be read off real pairs.

    python -m bench.briefing_pairs ../shared/data/usatoday-rtqa/articles/2025-03.jsonl [--top 45]
"""

from __future__ import annotations

import argparse
import itertools
import json
from datetime import date
from pathlib import Path

from retrieval.briefing import event_words, jaccard
from retrieval.models import Passage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("articles", type=Path, help="A JSON-lines file of the USA Today set.")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.articles.read_text(encoding="utf-8").splitlines() if line.strip()]
    articles = [
        Passage(chunk_id=r["source_id"], text=r["body"][:1500], source_id=r["source_id"],
                story_id=r["source_id"], title=r["title"])
        for r in rows
    ]
    words = [event_words(a) for a in articles]
    days = [date.fromisoformat(r["published"]) for r in rows]
    pairs = [
        (jaccard(words[i], words[j]), articles[i].title[:60], articles[j].title[:60])
        for i, j in itertools.combinations(range(len(articles)), 2)
        if abs((days[i] - days[j]).days) <= 2
    ]
    pairs.sort(reverse=True)
    for similarity, a, b in pairs[: args.top]:
        print(f"{similarity:.2f} | {a} | {b}")
    print(f"{len(pairs)} pairs")


if __name__ == "__main__":
    main()
