"""Timelines and disagreements from the real `newsbot ask`, over real dated USA Today articles of
2025 from `../shared/data/usatoday-rtqa` (Pope Francis in hospital, February; the measles
outbreak in Texas, February to July)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from retrieval.event_dates import event_date
from tests.support.cli_store import ask_json as ask, ingest_records

ARTICLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "usatoday-rtqa" / "articles"
TOPICS = re.compile(r"pope francis|measles", re.I)

pytestmark = pytest.mark.skipif(not ARTICLES.is_dir(), reason="../shared/data/usatoday-rtqa is not here")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stories")
    records = []
    for path in sorted(ARTICLES.glob("2025-0[2-7].jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            article = json.loads(line)
            if TOPICS.search(article["title"]):
                records.append({"title": article["title"], "text": article["body"], "url": article["url"],
                                "outlet": article["outlet"], "published": article["published"]})
    return ingest_records(root, records)[0]


LINE = re.compile(r"^- (?P<last>As of )?(?P<label>\d{1,2} \w+ \d{4}|\w+ \d{4}|\d{4}): (?P<text>.+\[(?P<n>\d+)\][.!?\"'”’]*)$")


def test_a_timeline_lists_dated_cited_events_oldest_first(store: Path) -> None:
    answer = ask(store, "How did Pope Francis's illness unfold?")
    assert not answer["abstained"] and answer["answerer"] == "timeline"
    lines = answer["answer"].splitlines()
    assert 3 <= len(lines) <= 10
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), f"every line is '- <date>: <event> [n]': {lines}"
    assert [bool(m["last"]) for m in parsed] == [False] * (len(lines) - 1) + [True], "the newest last, 'As of'"

    citations = {c["n"]: c for c in answer["citations"]}
    days = []
    for match in parsed:
        cited = citations[int(match["n"])]
        event = re.sub(r"\s*\[\d+\]", "", match["text"])
        assert event.rstrip(".") in " ".join(cited["text"].split()), "each event is its article's own words"
        published = date.fromisoformat(cited["published_at"][:10])
        when = event_date(event, published)
        assert when is not None and when.label() == match["label"], "the date is resolved from the cited sentence"
        days.append(when.sort_key())
    assert days == sorted(days), "oldest first"
    first_article = min(date.fromisoformat(c["published_at"][:10]) for c in answer["citations"])
    assert all(day >= first_article.replace(month=1, day=1) for day, _ in days), (
        f"background the articles recall (his lung surgery in 1957, pope since 2013) is not an event of the illness: {lines}"
    )
    hospitalised = [m for m in parsed if re.search(r"hospitali[sz]ed|admitted", m["text"]) and "14 February 2025" == m["label"]]
    assert hospitalised, "Friday 14 February, the day he went into hospital, is on the timeline"
    assert answer["as_of"] == max(c["published_at"][:10] for c in answer["citations"])


def test_a_timeline_keeps_to_the_story_and_spreads_over_its_days(store: Path) -> None:
    answer = ask(store, "How has the Texas measles outbreak developed?")
    lines = [LINE.match(line) for line in answer["answer"].splitlines()]
    assert all(lines) and len(lines) >= 3, answer["answer"]
    assert not any(m["label"].endswith(("2019", "2024")) for m in lines if m), (
        "the last big outbreak, six years ago, is background, not a development of this one"
    )
    assert not any("six years ago" in m["text"] for m in lines if m)
    labels = [m["label"] for m in lines if m]
    assert max(labels.count(label) for label in labels) <= 3, f"no one day fills the timeline: {labels}"
    assert len(set(labels)) >= 4, f"the outbreak's weeks, not one day: {labels}"


def test_an_ordinary_question_is_not_answered_with_a_timeline(store: Path) -> None:
    answer = ask(store, "Which hospital was Pope Francis admitted to?")
    assert answer["answerer"] == "extractive" and "Gemelli" in answer["answer"]
    assert not answer["answer"].startswith("- ")
