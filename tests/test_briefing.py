"""Briefings: `newsbot brief` over a small dated corpus (real articles of two outlets, plus a
second outlet's report of the Time Warner results), and the grouping and lead rules alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from retrieval.briefing import group_stories, lead_sentence
from retrieval.models import Passage
from tests.support.cli_store import ingest_records, run
from tests.test_cli_answers import SESSIONS, TIME_WARNER, YUKOS, article_records

WIRE_TW = "https://wire.example/2005/02/11/time-warner-profit"
# Another outlet's report of the Time Warner results, a day later: one event, two articles.
WIRE_ARTICLE = {
    "title": "Time Warner profit jumps 76% on advert sales",
    "text": (
        "Quarterly profits at media giant Time Warner jumped 76% in the three months to December, "
        "helped by higher advert sales and high-speed internet connections.\n\n"
        "The company said its stake in search engine Google was now 8%. Its AOL internet arm lost "
        "subscribers over the quarter, and analysts expect it to sell a stake to a partner."
    ),
    "outlet": "Wire Service",
    "published": "2005-02-11",
    "url": WIRE_TW,
}


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("briefing")
    store, _ = ingest_records(root, [*article_records(), WIRE_ARTICLE])
    return {"root": root, "store": store}


def brief(newsroom: dict[str, Path], *args: str) -> str:
    done = run("brief", *args, store=newsroom["store"], cwd=newsroom["root"])
    assert done.returncode == 0, done.stderr
    return done.stdout


def stories(text: str) -> list[str]:
    """The story paragraphs of a printed briefing (each starts with `**n.**`)."""
    return [block for block in text.split("\n\n") if block.startswith("**") and ".**" in block[:8]]


def test_a_briefing_groups_one_event_across_outlets_ranks_it_first_and_links_every_article(
    newsroom: dict[str, Path],
) -> None:
    shown = brief(newsroom, "--since", "2005-01-01", "--until", "2005-02-28")
    assert shown.startswith("**Briefing: 1 January 2005 to 28 February 2005** (5 stories, 6 articles)")
    first, *rest = stories(shown)
    assert first.startswith("**1.** Quarterly profits at US media giant TimeWarner jumped 76%")
    assert "[1][2]" in first.splitlines()[0], "one story, cited by both articles"
    assert f"<{TIME_WARNER}>) - BBC News, 10 February 2005" in first
    assert f"<{WIRE_TW}>) - Wire Service, 11 February 2005" in first
    assert len(rest) == 4 and all(len(s.splitlines()) == 2 for s in rest), "one article each"
    assert any(f"<{YUKOS}>" in s for s in rest)
    assert SESSIONS not in shown, "2017 is outside the period"


def test_the_default_period_is_the_day_before_the_newest_article_and_filters_apply(
    newsroom: dict[str, Path],
) -> None:
    latest = brief(newsroom)
    assert "(1 story, 1 article)" in latest and f"<{SESSIONS}>" in latest and "BBC News" not in latest

    wire = brief(newsroom, "--outlet", "Wire Service", "--since", "2005-01-01")
    assert f"<{WIRE_TW}>" in wire and TIME_WARNER not in wire

    about = brief(newsroom, "Yukos oil company sale", "--since", "2005-01-01", "--until", "2005-02-28")
    assert f"<{YUKOS}>" in about and TIME_WARNER not in about, about

    nothing = brief(newsroom, "--since", "2010-01-01", "--until", "2010-12-31")
    assert nothing.strip() == "No indexed article of 1 January 2010 to 31 December 2010 to brief on."


def article(source_id: str, title: str, text: str, story_id: str = "", day: int = 1) -> Passage:
    return Passage(
        chunk_id=f"{source_id}#0", text=text, source_id=source_id, story_id=story_id or source_id, title=title,
        published_at=datetime(2025, 3, day, tzinfo=UTC),
    )


def test_copies_and_reports_of_one_event_group_and_others_stay_apart() -> None:
    a = article("a", "Target Fast: Black faith leaders encourage 40-day boycott",
                "A 40-day boycott of Target starts Wednesday as Black faith leaders call on their congregations.", day=5)
    b = article("b", "The Target Fast, a 40-day store boycott, is under way during Lent",
                "The Target Fast, a 40-day boycott called by Black faith leaders, began on Wednesday.", day=4)
    copy = article("c", "Target boycott (copy)", "Something else entirely.", story_id="a", day=6)
    other = article("d", "Blue Ghost lunar lander touches down on the moon",
                    "A private lander touched down on the moon on Sunday, the second company to do so.")
    groups = sorted(group_stories([a, b, copy, other]), key=len, reverse=True)
    assert [[p.source_id for p in g] for g in groups] == [["b", "a", "c"], ["d"]], "oldest article first"


def test_the_lead_is_the_first_real_sentence_not_a_dateline() -> None:
    text = (
        "March 2, 2025 Updated March 3, 2025, 9:33 a.m. ET\n\nThe Associated Press\n\n"
        "The film won best picture at the 97th Academy Awards on Sunday night. It also won four more."
    )
    assert lead_sentence(text) == "The film won best picture at the 97th Academy Awards on Sunday night."
    assert lead_sentence("Short one.") == "Short one."
