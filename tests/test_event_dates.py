"""When a sentence's event happened, resolved against its article's publish date."""

from __future__ import annotations

from datetime import date

import pytest

from retrieval.event_dates import EventDate, Precision, event_date

SUNDAY = date(2022, 6, 12)  # Sunday 12 June 2022


@pytest.mark.parametrize(
    ("sentence", "published", "day", "label"),
    [
        ("The minister resigned on Monday.", SUNDAY, date(2022, 6, 6), "6 June 2022"),
        ("The talks collapsed on Sunday.", SUNDAY, SUNDAY, "12 June 2022"),
        ("They met last Thursday.", SUNDAY, date(2022, 6, 9), "9 June 2022"),
        ("The unions said yesterday that they would strike.", SUNDAY, date(2022, 6, 11), "11 June 2022"),
        ("Two weeks ago the board met in secret.", SUNDAY, date(2022, 5, 29), "29 May 2022"),
        ("Talks will resume on Friday.", SUNDAY, date(2022, 6, 17), "17 June 2022"),
        ("It happened on March 5, 2025, in Ohio.", SUNDAY, date(2025, 3, 5), "5 March 2025"),
        ("The vote on 3 June passed easily.", SUNDAY, date(2022, 6, 3), "3 June 2022"),
        ("The Fed cut rates on Dec. 30 to calm markets.", date(2025, 1, 3), date(2024, 12, 30), "30 December 2024"),
        ("Sales fell last year.", date(2005, 3, 1), date(2004, 1, 1), "2004"),
        ("The deal closed in March.", SUNDAY, date(2022, 3, 1), "March 2022"),
        ("The agency said last month that prices rose.", SUNDAY, date(2022, 5, 1), "May 2022"),
        ("In 2004 the firm was sold.", SUNDAY, date(2004, 1, 1), "2004"),
    ],
)
def test_dates_resolve_against_the_publish_date(sentence: str, published: date, day: date, label: str) -> None:
    resolved = event_date(sentence, published)
    assert resolved is not None and resolved.stated
    assert resolved.day == day and resolved.label() == label


def test_the_first_date_a_sentence_states_is_its_event() -> None:
    older = event_date(
        "The last major outbreak of measles in the U.S. occurred six years ago when 22 outbreaks led to "
        "1,249 cases from Jan. 1 to Oct. 1.",
        date(2025, 2, 19),
    )
    assert older == EventDate(date(2019, 1, 1), Precision.YEAR)
    admitted = event_date("Pope Francis was hospitalized Feb. 14, the Vatican said on Tuesday.", date(2025, 2, 18))
    assert admitted == EventDate(date(2025, 2, 14), Precision.DAY)


def test_a_sentence_without_a_date_happened_when_published_and_undated_stays_undated() -> None:
    assert event_date("The company grew.", SUNDAY) == EventDate(SUNDAY, Precision.DAY, stated=False)
    assert event_date("The company grew.", None) is None
    assert event_date("Sales fell on March 5.", None) is None, "which year is unknown"
    assert event_date("Sales fell on March 5, 2004.", None) == EventDate(date(2004, 3, 5), Precision.DAY)


def test_words_that_only_look_like_dates_are_not_dates() -> None:
    assert not event_date("Trump told the Sunday Times he may act.", SUNDAY).stated  # type: ignore[union-attr]
    assert not event_date("Protesters march on the capital.", SUNDAY).stated  # type: ignore[union-attr]
    assert not event_date("Prices rose 5% to March 5% levels.", SUNDAY).stated  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sentence", "published", "day"),
    [
        # USA Today, Monday 17 February 2025: he went into hospital on Friday 14 February.
        ("Pope Francis was admitted to a hospital in Rome on Friday for a respiratory infection and will remain "
         "for as long as necessary to complete treatment, the Vatican said.", date(2025, 2, 17), date(2025, 2, 14)),
        # USA Today, Sunday 9 February 2025: said that day, the tariffs came the next.
        ("President Donald Trump said Sunday he will impose 25% tariffs on steel and aluminum imports on Monday "
         "and announce \u201creciprocal\u201d tariffs the next day.", date(2025, 2, 9), date(2025, 2, 9)),
        ("Talks will resume on Friday.", SUNDAY, date(2022, 6, 17)),
    ],
)
def test_a_weekday_is_ahead_only_after_words_about_the_future(sentence: str, published: date, day: date) -> None:
    resolved = event_date(sentence, published)
    assert resolved is not None and resolved.day == day
