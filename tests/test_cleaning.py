"""Cleaning: a real NPR page capture keeps its story and loses the page chrome."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.cleaning import clean_text, has_article_text, html_to_text, parse_date, split_headline
from ingest.errors import SourceError
from ingest.loaders import iter_articles
from ingest.models import Article
from retrieval.settings import Settings

NPR_CAPTURE = Path(__file__).resolve().parent / "data" / "npr-sessions-russian-envoy.txt"


@pytest.fixture
def npr_article(settings: Settings) -> Article:
    [item] = list(iter_articles(str(NPR_CAPTURE), settings=settings, outlet="NPR"))
    assert isinstance(item, Article), item
    return item


def test_npr_article_keeps_its_headline_and_story(npr_article: Article) -> None:
    assert npr_article.title == "AG Sessions' Talks With Russian Envoy May Conflict With Senate Testimony"
    for sentence in (
        "Then-Sen. Jeff Sessions spoke twice with the Russian ambassador last year",
        "Attorney General Jeff Sessions, while an adviser to then-presidential candidate Donald Trump",
        "Sessions was asked by Sen. Al Franken, D-Minn., what he would do as attorney general",
        "The Washington Post reported on Sessions’ meetings with Russian Ambassador Sergey Kislyak",
        "President Trump’s first national security adviser, Michael Flynn, resigned",
    ):
        assert sentence in npr_article.text
    assert not npr_article.text.startswith(npr_article.title)


@pytest.mark.parametrize(
    "chrome",
    [
        "Your NPR news source",
        "SHARE",
        "Then-Sen. Jeff Sessions testifies on Jan. 10",
        "Alex Brandon/AP",
        "Copyright 2017 NPR",
        "To see more, visit",
        "The Latest",
        "Biden’s youngest advocates in Illinois",
        "Bruce Heyman",
        "block bus lanes",
        "Illinois Republicans",
        "youth jobs program",
    ],
)
def test_npr_page_chrome_is_gone(npr_article: Article, chrome: str) -> None:
    assert chrome not in npr_article.text
    assert chrome not in npr_article.title


def test_npr_paragraphs_are_separated_by_one_blank_line(npr_article: Article) -> None:
    paragraphs = npr_article.text.split("\n\n")
    assert len(paragraphs) > 10
    assert all(paragraph.strip() == paragraph and paragraph for paragraph in paragraphs)
    assert "\n\n\n" not in npr_article.text


def test_chrome_rules_work_on_another_outlets_page() -> None:
    page = "\n\n".join([
        "Your Daily Planet news source",
        "Mayor unveils flood plan",
        "Share this article",
        "Facebook | Twitter | Email",
        "The mayor unveiled a plan on Friday to protect the riverside from floods.",
        "Image caption, Sandbags were piled along the river last winter",
        "Chip Somodevilla/Getty Images",
        "Photo: Jane Doe/Reuters",
        "Volunteers pile sandbags on the quay. Jane Doe/AFP/Getty Images",
        "Shares in the water company rose 3% after the announcement.",
        "The plan includes a new barrier, pumps and higher walls along the quay.",
        "Read more: Why the river keeps flooding",
        "Residents will be consulted over the summer before building starts next year.",
        "Copyright 2024 Daily Planet. All rights reserved.",
        "Related Stories",
        "Council tax to rise by 4%",
        "New cycle lanes for the high street",
    ])

    cleaned = clean_text(page)

    assert cleaned.split("\n\n") == [
        "Mayor unveils flood plan",
        "The mayor unveiled a plan on Friday to protect the riverside from floods.",
        "Shares in the water company rose 3% after the announcement.",
        "The plan includes a new barrier, pumps and higher walls along the quay.",
        "Residents will be consulted over the summer before building starts next year.",
    ]


def test_repeated_caption_is_dropped_but_repeated_list_items_stay() -> None:
    caption = "Firefighters tackle the blaze at the warehouse on Tuesday night."
    text = "\n\n".join([
        "Warehouse fire",
        caption,
        "A fire destroyed a warehouse on the industrial estate on Tuesday.",
        caption,
        "Nominated in both categories:",
        "“Squid Game”",
        "Second category:",
        "“Squid Game”",
    ])
    cleaned = clean_text(text)
    assert caption not in cleaned
    assert "A fire destroyed a warehouse" in cleaned
    assert cleaned.count("“Squid Game”") == 2


def test_teaser_heading_early_in_the_text_does_not_cut_the_story() -> None:
    text = "\n\n".join([
        "Related",
        "The bridge will close for repairs next month, the council said on Monday.",
        "Drivers will be sent on a ten-mile detour through the village while work goes on.",
        "The closure is expected to last six weeks.",
    ])
    cleaned = clean_text(text)
    assert "six weeks" in cleaned
    assert "ten-mile detour" in cleaned


def test_whitespace_unicode_and_control_characters_are_normalised() -> None:
    raw = "Cafe\u0301   opens\r\n\r\n\r\n\r\nThe  cafe\u200b\x07 opened\ton Monday.\n\n\n\nIt  serves tea. "
    assert clean_text(raw) == "Café opens\n\nThe cafe opened on Monday.\n\nIt serves tea."


def test_html_fragment_keeps_paragraphs_and_line_breaks() -> None:
    html = "<div><p>First <b>bold</b> paragraph.</p><p>Second line one<br>line two</p>" \
        "<figure><figcaption>A caption</figcaption></figure><script>var x;</script>Tail &amp; end</div>"
    text = clean_text(html_to_text(html))
    assert text == "First bold paragraph.\n\nSecond line one\nline two\n\nTail & end"


def test_headline_needs_a_blank_line_after_it() -> None:
    assert split_headline("Pier opens\n\nThe pier opened.") == ("Pier opens", "The pier opened.")
    assert split_headline("Pier opens\nThe pier opened.") == ("", "Pier opens\nThe pier opened.")
    assert split_headline("The pier opened today.\n\nMore later.")[0] == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05T10:00:00+01:00", datetime(2024, 3, 5, 9, 0, tzinfo=UTC)),
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 09:30:00 GMT", datetime(2024, 3, 5, 9, 30, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 09:30:00 EST", datetime(2024, 3, 5, 14, 30, tzinfo=UTC)),
        ("yesterday", None),
        ("5", None),
        ("2024-13-45", None),
        ("", None),
        (None, None),
    ],
)
def test_dates_are_aware_utc_or_none(value: str | None, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_chrome_only_file_is_reported_not_indexed(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "chrome.txt"
    path.write_text("Your Gazette news source\n\nSHARE Gazette\n\nCopyright 2024 Gazette. To see more, visit")
    [item] = list(iter_articles(str(path), settings=settings))
    assert isinstance(item, SourceError)
    assert item.source == str(path)


@pytest.mark.parametrize(
    "furniture",
    [
        "Site\n\nHome / News / Sport / Subscribe now!",
        "Home / News / Sport\n\nSubscribe now!",
        "Home\n\n/\n\nNews\n\n/\n\nSport",
        "Home › World › Europe\n\nSign up for our newsletter",
        "Home News Sport Weather iPlayer Sounds\n\nLog in | Register",
        "Subscribe now!",
    ],
)
def test_a_page_of_only_navigation_and_calls_to_action_cleans_to_nothing(furniture: str) -> None:
    assert not has_article_text(furniture)
    assert clean_text(furniture) == ""


@pytest.mark.parametrize(
    "story",
    [
        "Fares frozen\n\nBus fares stay the same.",
        "Storm closes the pier",  # a page that is only its headline
        "Home / News\n\nThe council froze bus fares for another year.",
        "Results\n\nArsenal 2 Chelsea 1\n\nSee the full table below.",
        "地震\n\n东京今天发生了地震。",
    ],
)
def test_short_stories_keep_their_text(story: str) -> None:
    assert has_article_text(story)
    assert clean_text(story) == story
