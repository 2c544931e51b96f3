"""Filters read from the question: outlets, dates and "latest", against a fixed today."""

from __future__ import annotations

from datetime import date

import pytest

from retrieval.outlets import outlet_matches, resolve_outlets
from retrieval.query import Coverage, parse_filters

# A Wednesday. Monday was 13 March; last week ran Monday 6 to Sunday 12 March.
TODAY = date(2017, 3, 15)
KNOWN = ["BBC News", "NPR", "CNN", "The Guardian", "Reuters"]

D = date


@pytest.mark.parametrize(
    ("question", "query", "outlets", "since", "until", "recent"),
    [
        # --- outlets ----------------------------------------------------------------------------
        ("What did NPR report about the Russian envoy?", "The Russian envoy?", ["NPR"], None, None, False),
        ("what has CNN said on the hurricane", "the hurricane", ["CNN"], None, None, False),
        ("Did the BBC report on the fire?", "The fire?", ["BBC News"], None, None, False),
        ("Who won the election, according to the BBC?", "Who won the election?", ["BBC News"], None, None, False),
        ("According to BBC News, who won the election?", "Who won the election?", ["BBC News"], None, None, False),
        ("What was said on CNN about the storm?", "What was said about the storm?", ["CNN"], None, None, False),
        ("What did they say on CNN?", "What did they say?", ["CNN"], None, None, False),
        ("Oil prices from the Guardian and Reuters", "Oil prices", ["The Guardian", "Reuters"], None, None, False),
        ("the guardian's coverage of the strike", "the strike", ["The Guardian"], None, None, False),
        # A question about the BBC is not a question to the BBC.
        ("What is the view on the BBC licence fee?", "What is the view on the BBC licence fee?", [], None, None, False),
        ("Why did the BBC chairman resign?", "Why did the BBC chairman resign?", [], None, None, False),
        # An outlet the store does not hold is left alone.
        ("What did Fox News report about taxes?", "What did Fox News report about taxes?", [], None, None, False),
        # --- relative days and weeks ------------------------------------------------------------
        # Time phrases filter, and stay in the searched text: they are part of what articles say.
        ("rail fares since Monday", "rail fares since Monday", [], D(2017, 3, 13), None, False),
        ("rail fares since Wednesday", "rail fares since Wednesday", [], D(2017, 3, 8), None, False),
        ("What happened to the pound last week?", "What happened to the pound last week?", [], D(2017, 3, 6), D(2017, 3, 12), False),
        # "This week" is the past seven days (today 2017-03-15, a Wednesday).
        ("this week's football results", "this week's football results", [], D(2017, 3, 9), D(2017, 3, 15), False),
        ("Who resigned yesterday?", "Who resigned yesterday?", [], D(2017, 3, 14), D(2017, 3, 14), False),
        ("Who resigned today?", "Who resigned today?", [], D(2017, 3, 15), D(2017, 3, 15), False),
        ("strikes in the past 3 days", "strikes in the past 3 days", [], D(2017, 3, 12), D(2017, 3, 15), False),
        ("What happened to stocks last month?", "What happened to stocks last month?", [], D(2017, 2, 1), D(2017, 2, 28), False),
        ("fires on Monday", "fires on Monday", [], D(2017, 3, 13), D(2017, 3, 13), False),
        # --- calendar dates ---------------------------------------------------------------------
        # Dates named outright stay in the question and only rank that period first (soft):
        # "in 1995" usually dates the event, not the article. "since"/"before" scope the news.
        ("news about rail since 3 March", "news about rail since 3 March", [], D(2017, 3, 3), None, False),
        ("news about rail since March 3rd", "news about rail since March 3rd", [], D(2017, 3, 3), None, False),
        # A day later in the year than today is last year's.
        ("storms since 20 December", "storms since 20 December", [], D(2016, 12, 20), None, False),
        ("storms since 2016-11-05", "storms since 2016-11-05", [], D(2016, 11, 5), None, False),
        ("Who won the vote in March 2017?", "Who won the vote in March 2017?", [], D(2017, 3, 1), D(2017, 3, 31), False),
        ("Who won the Oscars in 2005?", "Who won the Oscars in 2005?", [], D(2005, 1, 1), D(2005, 12, 31), False),
        ("floods in February", "floods in February", [], D(2017, 2, 1), D(2017, 2, 28), False),
        ("floods in May", "floods in May", [], D(2016, 5, 1), D(2016, 5, 31), False),
        ("flooding on 4 March 2016", "flooding on 4 March 2016", [], D(2016, 3, 4), D(2016, 3, 4), False),
        ("Tell me about strikes between 1 and 5 March 2017", "Tell me about strikes between 1 and 5 March 2017", [], D(2017, 3, 1), D(2017, 3, 5), False),
        ("strikes between 28 February and 2 March 2017", "strikes between 28 February and 2 March 2017", [], D(2017, 2, 28), D(2017, 3, 2), False),
        ("strikes between March 1 and March 5, 2016", "strikes between March 1 and March 5, 2016", [], D(2016, 3, 1), D(2016, 3, 5), False),
        ("strikes from March to May 2016", "strikes from March to May 2016", [], D(2016, 3, 1), D(2016, 5, 31), False),
        ("strikes between December and February 2017", "strikes between December and February 2017", [], D(2016, 12, 1), D(2017, 2, 28), False),
        ("tax cuts before 2005", "tax cuts before 2005", [], None, D(2004, 12, 31), False),
        ("tax cuts after March 2016", "tax cuts after March 2016", [], D(2016, 4, 1), None, False),
        ("tax cuts until 10 March", "tax cuts until 10 March", [], None, D(2017, 3, 10), False),
        # --- latest -----------------------------------------------------------------------------
        ("What is the latest on Brexit?", "What is the latest on Brexit?", [], None, None, True),
        ("latest on Brexit", "latest on Brexit", [], None, None, True),
        ("the most recent news about Greece", "the most recent news about Greece", [], None, None, True),
        ("newest phones from Apple", "newest phones from Apple", [], None, None, True),
        # --- combined ---------------------------------------------------------------------------
        ("What did the BBC say about the match in March?", "The match in March?", ["BBC News"], D(2017, 3, 1), D(2017, 3, 31), False),
        ("latest from NPR on the envoy since Monday", "latest on the envoy since Monday", ["NPR"], D(2017, 3, 13), None, True),
        # --- left alone -------------------------------------------------------------------------
        ("What will happen in 2030?", "What will happen in 2030?", [], None, None, False),
        ("Profits doubled compared with last year", "Profits doubled compared with last year", [], None, None, False),
        ("What happened on 31 February 2017?", "What happened on 31 February 2017?", [], None, None, False),
        ("Why did the Labour party lose?", "Why did the Labour party lose?", [], None, None, False),
        ("What may happen to rates?", "What may happen to rates?", [], None, None, False),
    ],
)
def test_parse_filters(
    question: str, query: str, outlets: list[str], since: date | None, until: date | None, recent: bool
) -> None:
    got_query, filters, _ = parse_filters(question, today=TODAY, known_outlets=KNOWN)
    assert (got_query, filters.outlets, filters.since, filters.until, filters.prefer_recent) == (
        query, outlets, since, until, recent,
    )


@pytest.mark.parametrize(
    "question",
    ["What happened yesterday?", "What's the latest?", "according to the BBC", "news since Monday"],
)
def test_question_is_kept_when_only_filter_words_would_remain(question: str) -> None:
    query, filters, _ = parse_filters(question, today=TODAY, known_outlets=KNOWN)
    assert query == question
    assert not filters.is_empty()


def test_since_weekday_on_that_weekday_means_a_week_ago() -> None:
    monday = date(2017, 3, 13)
    _, filters, _ = parse_filters("rail since Monday", today=monday, known_outlets=[])
    assert filters.since == date(2017, 3, 6)


def test_a_short_name_selects_every_outlet_it_names() -> None:
    known = ["BBC News", "BBC Sport", "CNN"]
    _, filters, _ = parse_filters("Who scored, according to the BBC?", today=TODAY, known_outlets=known)
    assert filters.outlets == ["BBC News", "BBC Sport"]
    _, filters, _ = parse_filters("Who scored, according to BBC Sport?", today=TODAY, known_outlets=known)
    assert filters.outlets == ["BBC Sport"]


def test_no_known_outlets_means_no_outlet_filter() -> None:
    query, filters, _ = parse_filters("What did NPR report about the envoy?", today=TODAY, known_outlets=[])
    assert query == "What did NPR report about the envoy?"
    assert filters.outlets == []


@pytest.mark.parametrize(
    ("requested", "outlet", "matches"),
    [
        ("BBC", "BBC News", True),
        ("the BBC", "BBC News", True),
        ("bbc news", "BBC News", True),
        ("bbc.co.uk", "BBC News", True),
        ("BBC", "BBC Sport", True),
        ("Guardian", "The Guardian", True),
        ("NPR", "National Public Radio", True),
        ("National Public Radio", "NPR", True),
        ("washingtonpost.com", "Washington Post", True),
        ("CNN", "BBC News", False),
        ("News", "BBC News", False),
        ("Post", "Washington Post", False),
        ("", "BBC News", False),
    ],
)
def test_outlet_matches(requested: str, outlet: str, matches: bool) -> None:
    assert outlet_matches(requested, outlet) is matches


def test_resolve_outlets_returns_store_spellings() -> None:
    assert resolve_outlets(["the bbc", "cnn"], ["BBC News", "CNN", "NPR"]) == ["BBC News", "CNN"]
    assert resolve_outlets(["Fox"], ["BBC News", "CNN"]) == []


@pytest.mark.parametrize(
    ("question", "soft"),
    [
        ("How much did Infinity Broadcasting pay in 1995 to settle?", True),
        ("Why did US retail sales fall in January 2005?", True),
        ("news about rail since 3 March", False),
        ("What happened to the pound last week?", False),
        ("Which movie topped the box office this week?", False),
        ("strikes in the past 3 days", False),
    ],
)
def test_named_dates_are_soft_and_relative_dates_filter(question: str, soft: bool) -> None:
    _, filters, _ = parse_filters(question, today=TODAY, known_outlets=KNOWN)
    assert filters.since is not None or filters.until is not None
    assert filters.soft_dates is soft


@pytest.mark.parametrize(
    "question",
    [
        "Who presents the Today programme?",
        "What did the Sunday Times report about Blair?",
        "How did The Day After Tomorrow do at the box office?",
        "What did \"Last Night of the Proms\" cost?",
        "What did Theresa May say about it?",
        "How did This Morning's ratings change?",
    ],
)
def test_a_time_word_inside_a_name_is_not_a_date(question: str) -> None:
    query, filters, _ = parse_filters(question, today=TODAY, known_outlets=KNOWN)
    assert query == question
    assert (filters.since, filters.until) == (None, None)


def test_a_part_of_a_year_is_that_part_not_a_window_before_today() -> None:
    query, filters, _ = parse_filters(
        "How did sales do in the last three months of 2004?", today=TODAY, known_outlets=[]
    )
    assert query == "How did sales do in the last three months of 2004?"
    assert (filters.since, filters.until, filters.soft_dates) == (D(2004, 10, 1), D(2004, 12, 31), True)


UNDATED = Coverage()  # a store whose articles carry no dates (the BBC corpus)
DATED = Coverage(D(2022, 6, 2), D(2022, 11, 21))


@pytest.mark.parametrize(
    "question",
    ["Who won this year's festival?", "How did sales do in the last three months of 2004?",
     "What happened to the pound last week?", "rail fares since Monday"],
)
def test_an_undated_store_takes_no_date_filter_and_keeps_the_question(question: str) -> None:
    query, filters, uncovered = parse_filters(question, today=TODAY, known_outlets=[], coverage=UNDATED)
    assert query == question
    assert (filters.since, filters.until, uncovered) == (None, None, None)


def test_relative_dates_resolve_against_the_day_asked_and_filter_when_the_store_covers_them() -> None:
    asked = D(2022, 9, 14)  # a Wednesday
    _, filters, uncovered = parse_filters("What happened last week?", today=asked, known_outlets=[], coverage=DATED)
    assert (filters.since, filters.until, uncovered) == (D(2022, 9, 5), D(2022, 9, 11), None)


@pytest.mark.parametrize(
    ("question", "uncovered"),
    [
        # After the newest article: nothing can report it.
        ("What happened last week?", (D(2026, 11, 23), D(2026, 11, 29))),
        ("Who won the vote in March 2025?", (D(2025, 3, 1), D(2025, 3, 31))),
        ("tax cuts since 2024", (D(2024, 1, 1), None)),
    ],
)
def test_a_period_after_the_newest_article_is_reported_not_filtered(
    question: str, uncovered: tuple[date | None, date | None]
) -> None:
    _, filters, got = parse_filters(question, today=D(2026, 12, 2), known_outlets=[], coverage=DATED)
    assert got == uncovered
    assert (filters.since, filters.until) == (None, None)


def test_a_named_year_before_the_oldest_article_is_the_event_not_out_of_range() -> None:
    # Articles of 2022 may well say what happened in 1995.
    query, filters, uncovered = parse_filters(
        "How much was paid in 1995?", today=D(2022, 9, 14), known_outlets=[], coverage=DATED
    )
    assert (query, filters.since, uncovered) == ("How much was paid in 1995?", None, None)


@pytest.mark.parametrize(
    "question",
    ["By how much did UK home prices rise in February according to Nationwide?",
     "Which band took over the station for a week in December?",
     "How much did traders sell on 2 August?"],
)
def test_a_month_without_a_year_is_not_reported_as_out_of_range(question: str) -> None:
    # "in December" may be any year's December: the question is answered from the articles.
    query, filters, uncovered = parse_filters(question, today=D(2026, 12, 2), known_outlets=[], coverage=DATED)
    assert (query, filters.since, filters.until, uncovered) == (question, None, None, None)
