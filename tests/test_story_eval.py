"""How `newsbot eval` scores timelines and disagreements."""

from __future__ import annotations

from retrieval.story_eval import ExpectedEvent, date_within, score_conflict, score_timeline

TIMELINE = """- 14 February 2025: Pope Francis was admitted to Gemelli hospital with bronchitis [1].
- 18 February 2025: The Vatican said he had double pneumonia [2].
- As of 21 April 2025: Pope Francis died on Easter Monday at 88 [3]."""


def test_a_timeline_scores_events_found_their_dates_and_order() -> None:
    events = [
        ExpectedEvent(words=["admitted", "Gemelli"], date="2025-02-14"),
        ExpectedEvent(words=["double pneumonia"], date="2025-02-17"),
        ExpectedEvent(words=["died"], date="2025-04"),
        ExpectedEvent(words=["conclave"], date="2025-05-07"),
    ]
    scores = score_timeline(TIMELINE, events)
    assert scores["event_recall"] == 0.75
    assert scores["dates_right"] == 2 / 3, "the pneumonia line is dated 18, not 17 February"
    assert scores["order_right"] == 1.0
    shuffled = "\n".join(reversed(TIMELINE.splitlines()))
    assert score_timeline(shuffled, events)["order_right"] == 0.0


def test_a_date_is_right_when_the_line_lies_within_it() -> None:
    assert date_within("14 February 2025", "2025-02-14") and date_within("14 February 2025", "2025-02")
    assert date_within("February 2025", "2025") and not date_within("2025", "2025-02")
    assert not date_within("Undated", "2025") and not date_within("13 February 2025", "2025-02-14")


def test_a_conflict_is_reported_with_its_values() -> None:
    shown = "The articles give different figures, newest first: CNN, 5 January 2005: 155,000 [1]; BBC, 3 January 2005: 150,000 [2].\n\nAs of ..."
    assert score_conflict(shown, ["155,000", "150,000"]) == {"reported": 1.0, "values_shown": 1.0}
    assert score_conflict("As of 3 January 2005: 150,000 died [1].", ["155,000"]) == {"reported": 0.0, "values_shown": None}


def test_an_event_is_judged_by_the_line_that_holds_its_words_on_its_date() -> None:
    timeline = """- 2013: Francis, who died in 2025, had been pope since 2013 [1].
- 21 April 2025: Pope Francis died on Easter Monday at 88 [2].
- As of 8 May 2025: Cardinals chose a new pope [3]."""
    scores = score_timeline(timeline, [ExpectedEvent(words=["died"], date="2025-04-21")])
    assert scores == {"event_recall": 1.0, "dates_right": 1.0, "order_right": None}
    wrong = score_timeline(timeline.splitlines()[0], [ExpectedEvent(words=["died"], date="2025-04-21")])
    assert wrong["dates_right"] == 0.0, "with no line on its date the event's date is wrong"


def test_two_events_on_one_line_are_not_judged_for_order() -> None:
    line = "- 17 August 2025: Erin, which had exploded into a Category 5 powerhouse, was downgraded to a Category 3 [1]."
    events = [ExpectedEvent(words=["Category 5"], date="2025-08-16"), ExpectedEvent(words=["Category 3"], date="2025-08-17")]
    assert score_timeline(line, events) == {"event_recall": 1.0, "dates_right": 0.5, "order_right": None}
