"""Different figures for one quantity across articles: shown side by side, newest first; the same
figure in other words is no disagreement."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from retrieval.disagreement import DisagreementFinder, figures, same_value
from retrieval.evidence import SentenceScorer
from retrieval.models import Answer, Citation, Passage
from retrieval.question import AnswerType


def passage(source_id: str, outlet: str, day: int, text: str) -> Passage:
    return Passage(chunk_id=f"{source_id}#0", text=text, source_id=source_id, story_id=source_id,
                   title=f"{outlet} report", outlet=outlet, published_at=datetime(2005, 1, day, tzinfo=UTC))


@pytest.fixture
def finder(local_embeddings: Any) -> DisagreementFinder:
    return DisagreementFinder(SentenceScorer(local_embeddings))


def annotate(finder: DisagreementFinder, question: str, passages: list[Passage]) -> Answer:
    first = passages[0]
    answer = Answer(question=question, text=f"As of 3 January 2005: {first.text.split('.')[0]} [1].",
                    citations=[Citation(n=1, passage=first, quote=first.text)])
    return finder.annotate(answer, passages)


QUAKE = "How many people died in the tsunami?"


def test_different_tolls_are_shown_newest_first_with_outlet_and_date(finder: DisagreementFinder) -> None:
    passages = [
        passage("bbc/1", "BBC", 3, "The death toll from the Asian tsunami has risen to 150,000, officials said. Aid is arriving."),
        passage("cnn/1", "CNN", 5, "Officials said the tsunami death toll had reached 155,000 people. Rescue teams are still searching."),
        passage("bbc/2", "BBC", 2, "Markets in Asia were calm on Sunday despite the disaster."),
    ]
    answer = annotate(finder, QUAKE, passages)
    first_line = answer.text.splitlines()[0]
    assert re.search(r"CNN, 5 January 2005: 155,000(?: people)? \[(\d)\]; BBC, 3 January 2005: 150,000 \[1\]", first_line), first_line
    cited = {c.n: c.passage.source_id for c in answer.citations}
    n = int(re.search(r"155,000(?: people)? \[(\d)\]", first_line).group(1))  # type: ignore[union-attr]
    assert cited[n] == "cnn/1" and cited[1] == "bbc/1"
    assert answer.text.endswith(passages[0].text.split(".")[0] + " [1]."), "the quoted answer is kept below"


def test_an_update_by_the_same_outlet_reads_as_an_update(finder: DisagreementFinder) -> None:
    passages = [
        passage("bbc/1", "BBC", 3, "The death toll from the Asian tsunami has risen to 150,000, officials said."),
        passage("bbc/2", "BBC", 6, "The death toll from the Asian tsunami has risen to 162,000, officials said."),
    ]
    first_line = annotate(finder, QUAKE, passages).text.splitlines()[0]
    assert re.search(r"BBC, 6 January 2005: 162,000 \[2\], up from 150,000 on 3 January 2005 \[1\]", first_line), first_line


def test_the_same_figure_in_other_words_is_no_disagreement(finder: DisagreementFinder) -> None:
    passages = [
        passage("bbc/1", "BBC", 3, "The death toll from the Asian tsunami has risen to 150,000, officials said."),
        passage("cnn/1", "CNN", 5, "About 150 thousand people have died in the Asian tsunami, officials said."),
        passage("npr/1", "NPR", 4, "The Asian tsunami death toll has reached 150000, officials said."),
    ]
    answer = annotate(finder, QUAKE, passages)
    assert answer.text.startswith("As of 3 January 2005:") and len(answer.citations) == 1


def test_figures_of_something_else_are_no_disagreement(finder: DisagreementFinder) -> None:
    passages = [
        passage("bbc/1", "BBC", 3, "The death toll from the Asian tsunami has risen to 150,000, officials said."),
        passage("cnn/1", "CNN", 5, "The Kashmir earthquake of October killed 73,000 people, officials said."),
    ]
    answer = annotate(finder, QUAKE, passages)
    assert len(answer.citations) == 1 and "73,000" not in answer.text


def test_questions_that_ask_no_quantity_are_left_alone(finder: DisagreementFinder) -> None:
    passages = [
        passage("bbc/1", "BBC", 3, "The death toll from the Asian tsunami has risen to 150,000, officials said."),
        passage("cnn/1", "CNN", 5, "Officials said the tsunami death toll had reached 155,000."),
    ]
    answer = annotate(finder, "Which countries did the tsunami hit?", passages)
    assert len(answer.citations) == 1


def test_figures_read_numbers_with_their_units() -> None:
    money = figures("Tata paid $1.13bn, or £600m, in 2005.", AnswerType.MONEY, frozenset())
    assert [(value, shown) for _, value, shown, _, _ in money] == [(1.13e9, "$1.13bn"), (600e6, "£600m")]
    counted = figures("Two people had died, and 58 cases were confirmed by 2025.", AnswerType.COUNT, frozenset({"case"}))
    assert [value for _, value, _, _, _ in counted] == [58.0]


def test_a_rounded_figure_is_the_same_figure() -> None:
    def figure(value: float, digits: int, approximate: bool = False) -> Any:
        from retrieval.disagreement import Figure
        return Figure(value, frozenset(), str(value), digits, approximate, None, None)  # type: ignore[arg-type]

    assert same_value(figure(1.1e9, 2), figure(1.13e9, 3))
    assert same_value(figure(130, 2, approximate=True), figure(133, 3))
    assert not same_value(figure(150_000, 2), figure(155_000, 3))
    assert not same_value(figure(58, 2), figure(159, 3))


def test_ordinals_and_ages_are_not_figures() -> None:
    found = figures("It is the 15th shutdown; the 88-year-old pope served 12 years.", AnswerType.COUNT, frozenset({"year", "shutdown"}))
    assert [value for _, value, _, _, _ in found] == [12.0]


def test_a_question_that_names_its_unit_gets_the_figures_of_that_unit(finder: DisagreementFinder) -> None:
    """"How strong ... in mph" asks for no number in its words, but for mph; "Erin" names
    "Hurricane Erin"."""
    question = "How strong were Hurricane Erin's winds in mph?"
    passages = [
        passage("usat/1", "USA Today", 16, "Hurricane Erin's maximum sustained winds reached 160 mph on Saturday, forecasters said."),
        passage("usat/2", "USA Today", 17, "Erin weakened, with maximum sustained winds of 125 mph and gusts of 150 mph."),
    ]
    first_line = annotate(finder, question, passages).text.splitlines()[0]
    assert re.search(r"USA Today, 17 January 2005: 125(?: mph)? \[2\], down from 160(?: mph)? on 16 January 2005 \[1\]", first_line), first_line
    same = [passages[0], passage("cnn/1", "CNN", 17, "Erin's maximum sustained winds reached 160 mph, the hurricane center said.")]
    assert finder.find(question, same) is None, "one figure in two articles is no disagreement"


def test_a_count_worded_as_people_sickened_or_killed_is_a_figure() -> None:
    cases = frozenset({"case", "measl", "infect", "sicken"})
    assert [f[2] for f in figures("An outbreak that has sickened 159 and killed one.", AnswerType.COUNT, cases)] == ["159"]
    deaths = frozenset({"kill", "death", "dead"})
    found = figures("A river burst its banks, killing at least 25 people.", AnswerType.COUNT, deaths)
    assert [(f[2], f[4]) for f in found] == [("25", True)], "approximate: 'at least'"
    assert figures("On Oct. 1, the federal government entered its 15th shutdown.", AnswerType.COUNT,
                   frozenset({"govern", "shutdown"})) == [], "the day of a date is no count"
