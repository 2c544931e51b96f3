"""Which questions ask for a timeline, and what the timeline is about."""

from __future__ import annotations

import pytest

from retrieval.timeline import is_timeline_question, timeline_topic


@pytest.mark.parametrize(
    "question",
    [
        "How did the Glazer takeover of Manchester United unfold?",
        "Timeline of the government shutdown",
        "What has happened with the tariffs since March?",
        "What's the latest on Hurricane Melissa?",
        "How has the measles outbreak developed?",
        "Give me the chronology of the Yukos affair",
    ],
)
def test_questions_about_how_a_story_developed_ask_for_a_timeline(question: str) -> None:
    assert is_timeline_question(question)


@pytest.mark.parametrize(
    "question",
    [
        "How many people died in the measles outbreak?",
        "Who bought Yugansk?",
        "How did Tata Steel pay for Corus?",
        "What happened to the price of oil?",
        "What is the latest iPhone called?",
    ],
)
def test_ordinary_questions_do_not(question: str) -> None:
    assert not is_timeline_question(question)


def test_the_topic_is_the_question_without_the_asking() -> None:
    assert timeline_topic("How did the Glazer takeover of Manchester United unfold?") == "Glazer takeover of Manchester United"
    assert timeline_topic("What's the latest on Hurricane Melissa?") == "Hurricane Melissa"
    assert timeline_topic("Timeline of the government shutdown") == "government shutdown"
