"""`newsbot ask` over a few real BBC articles: the short answer leads (in a sentence built from
the question) when the reader finds it, and a question the articles only come near (the court
case is reported, the sentence is not) abstains. Questions from bbc-qa (dev seed-004, calib cal-059), not fitted to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_store import ask_json as ask, ingest_records

BBC = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc"
ARTICLES = ("business/197", "business/037", "tech/271", "tech/119", "sport/153", "tech/209", "business/173", "politics/365")

pytestmark = pytest.mark.skipif(not BBC.is_dir(), reason="needs ../shared/data/bbc")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bbc")
    records = []
    for source_id in ARTICLES:
        title, _, body = (BBC / f"{source_id}.txt").read_bytes().decode("utf-8", errors="replace").strip().partition("\n")
        records.append({
            "title": title.strip(), "text": body.strip(), "outlet": "BBC News", "published": "2005-03-01",
            "url": f"https://news.bbc.co.uk/{source_id}",
        })
    return ingest_records(root, records)[0]


def test_the_answer_leads_with_the_short_answer_and_its_citation(store: Path) -> None:
    answer = ask(store, "How much was the Ukrainian steelworks Krivorizhstal sold for?")
    assert not answer["abstained"]
    first, _, rest = answer["answer"].partition("\n")
    # The short answer leads in a sentence built from the question, the span verbatim in it.
    assert first == "As of 1 March 2005: The Ukrainian steelworks Krivorizhstal was sold for $800m [1]."
    assert "sold in June 2004 for $800m" in rest  # the supporting sentence follows, quoted
    cited = answer["citations"][0]
    assert cited["url"].endswith("business/197") and "$800m" in cited["quote"] and "$800m" in cited["text"]


def test_a_near_miss_abstains_and_names_the_article_it_came_near(store: Path) -> None:
    answer = ask(store, "What sentence did the court give Yoshiaki Tsutsumi for falsifying the shareholdings of Seibu Railway?")
    assert answer["abstained"]
    assert answer["answer"].startswith("The indexed articles don't cover this question.")
    assert not answer["citations"]
    assert answer["closest"][0]["url"].endswith("business/037")
