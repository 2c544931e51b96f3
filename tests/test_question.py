"""Question analysis: the answer type each kind of question expects, its focus, its constraints,
and whether it asks for something done or something planned. The questions are written in the
style of bbc-qa and cnn-rtqa."""

from __future__ import annotations

import pytest

from retrieval.question import AnswerType, analyse


@pytest.mark.parametrize(
    ("question", "expected", "focus"),
    [
        ("Who replaced him as leader of the Scottish Tories?", AnswerType.PERSON, ""),
        ("Whom did President Bush nominate to take Alan Greenspan's place?", AnswerType.PERSON, ""),
        ("Who won the Masters final at Wembley?", AnswerType.PERSON, "winner"),
        ("How much did eBay pay for Skype?", AnswerType.MONEY, ""),
        ("What fee did Chelsea pay Lyon for Michael Essien?", AnswerType.MONEY, "fee"),
        ("How much rain fell on Boscastle in two hours?", AnswerType.QUANTITY, "rain"),
        ("How many seats did the Liberal Democratic Party win?", AnswerType.COUNT, "seats"),
        ("Roughly how many people watched the final?", AnswerType.COUNT, "people"),
        ("When did the Gizmondo go on sale in the UK?", AnswerType.DATE, ""),
        ("In which year did Diane Abbott enter Parliament?", AnswerType.DATE, "year"),
        ("Where will the 2012 Olympics be held?", AnswerType.PLACE, ""),
        ("Which country won the Eurovision Song Contest held in Kiev?", AnswerType.PLACE, "country"),
        ("Which overseas company is buying the stake in Changyu?", AnswerType.ORGANISATION, "company"),
        ("Which film won the Palme d'Or at Cannes?", AnswerType.WORK, "film"),
        ("Which Austrian novelist was awarded the Nobel Prize in Literature?", AnswerType.PERSON, "novelist"),
        ("Which Olympic event was Jamie Costin meant to compete in?", AnswerType.ENTITY, "event"),
        ("What was the verdict in the Michael Jackson trial?", AnswerType.OUTCOME, "verdict"),
        ("What sentence did the court give Yoshiaki Tsutsumi?", AnswerType.OUTCOME, "sentence"),
        ("What did the European Court of Justice decide?", AnswerType.OUTCOME, ""),
        ("What share of MP3 player owners are men?", AnswerType.PERCENT, "share"),
        ("Why did the actor drop out of the film?", AnswerType.REASON, ""),
        ("Did the Scottish Parliament pass the bill?", AnswerType.YES_NO, ""),
        ("What did Jeff Sessions say about contacts with the Russians?", AnswerType.DESCRIPTION, ""),
    ],
)
def test_answer_type_and_focus(question: str, expected: AnswerType, focus: str) -> None:
    analysis = analyse(question)
    assert analysis.answer_type is expected
    assert analysis.focus == focus


def test_a_lead_in_clause_does_not_hide_the_question_word() -> None:
    analysis = analyse("In Pew Internet's survey of musicians, what proportion thought the lawsuits were good?")
    assert analysis.answer_type is AnswerType.PERCENT


def test_a_question_of_two_parts_keeps_both() -> None:
    analysis = analyse("Who bought the six greyhound stadiums, and for how much?")
    assert analysis.answer_type is AnswerType.PERSON
    assert analysis.parts == (AnswerType.PERSON, AnswerType.MONEY)


def test_a_yes_no_question_with_a_second_part_expects_the_second() -> None:
    analysis = analyse("Did the show go ahead in the end, and how big was the crowd?")
    assert analysis.answer_type is AnswerType.QUANTITY
    assert analysis.parts[0] is AnswerType.YES_NO


def test_constraints_are_the_names_numbers_years_dates_and_outlet() -> None:
    analysis = analyse("According to the BBC, how much did Cingular pay for AT&T Wireless on 26 October 2004?")
    assert "Cingular" in analysis.names
    assert "BBC" not in analysis.names
    assert analysis.outlet == "BBC"
    assert analysis.years == ("2004",)
    assert analysis.dates == ("26 October 2004",)
    assert "2004" in analysis.numbers


def test_a_name_opening_the_question_is_kept_but_a_question_word_is_not() -> None:
    analysis = analyse("Which team did Arsenal face at the Emirates Stadium?")
    assert analysis.names == ("Arsenal", "Emirates Stadium")


def test_an_outcome_question_is_told_from_a_plan_question() -> None:
    done = analyse("Who was finally selected as Labour's candidate for Copeland?")
    plan = analyse("When is the trial due to start?")
    future = analyse("Which charity will manage the money Riggs Bank is donating?")
    assert done.asks_outcome and not done.asks_plan
    assert plan.asks_plan and not plan.asks_outcome
    assert future.asks_plan and not future.asks_outcome


def test_typed_says_whether_a_span_can_answer() -> None:
    assert analyse("How many people died?").typed
    assert not analyse("Why did he resign?").typed
    assert not analyse("Is the deal off?").typed


def test_an_empty_question_is_refused() -> None:
    with pytest.raises(ValueError, match="question"):
        analyse("   ")
