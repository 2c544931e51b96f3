"""The extractive answerer: cited sentences quoted from the passages, abstention, "as of"."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from retrieval.citations import audit, strip_markers
from retrieval.extractive import NOT_COVERED, Answerer, ExtractiveAnswerer
from retrieval.models import Answer, Passage
from retrieval.settings import Settings
from tests.support.answer_support import (
    INJECTION,
    assert_every_sentence_cited,
    bbc_passages,
    pool,
    sentences_of,
)


@pytest.fixture
def extractive(settings: Settings, local_embeddings: Any) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(settings, local_embeddings)


DISTRACTORS = ("business/063", "tech/145", "sport/167", "entertainment/175")


@pytest.mark.parametrize(
    ("question", "gold", "evidence"),
    [
        (
            "How many jobs is Danish brewer Carlsberg planning to cut in Sweden?",
            "business/173",
            "However, it also plans to cut 200 jobs in Sweden",
        ),
        (
            "How many government agencies is Gordon Brown planning to merge, and into how many?",
            "politics/365",
            "Mr Brown also announced plans to merge 35 agencies into nine",
        ),
        (
            "What song is Alicia Keys going to sing to open February's Super Bowl?",
            "entertainment/175",
            "Keys, who will sing America the Beautiful",
        ),
    ],
)
async def test_extractive_answer_quotes_the_evidence_with_valid_citations(
    extractive: ExtractiveAnswerer, question: str, gold: str, evidence: str
) -> None:
    given = pool(*DISTRACTORS[:2], gold, *DISTRACTORS[2:])
    answer = await extractive.answer(question, given)
    assert not answer.abstained
    assert evidence in answer.text
    assert_every_sentence_cited(answer, given)
    assert 1 <= len(sentences_of(answer)) <= 3
    assert answer.answerer == "extractive"
    assert answer.evidence_score >= extractive.policy.threshold


async def test_extractive_answer_is_short_and_has_no_repeated_sentences(extractive: ExtractiveAnswerer) -> None:
    # Overlapping chunks of one article repeat sentences; the answer must not.
    given = pool("business/063", "business/063")
    answer = await extractive.answer("Why did US retail sales fall in January, and by how much?", given)
    sentences = [strip_markers(s) for s in sentences_of(answer)]
    assert len(sentences) == len(set(sentences))
    assert len(answer.text.split()) <= 80 + 10  # ~80 words; markers and a long first sentence
    assert "0.3%" in answer.text


async def test_list_items_quoted_beside_other_sentences_keep_their_own_citations(extractive: ExtractiveAnswerer) -> None:
    # A fact box's lines end without a full stop. Quoted as they are, the next sentence ran into
    # them, its quotation was checked against the list's passage, and the whole answer failed
    # verification: the reader was told the articles don't cover it.
    plan = Passage(
        chunk_id="plan#0", source_id="plan", story_id="plan", title="Tories set out asylum plans",
        text=(
            "The Conservatives would:\n"
            "- Detain asylum seekers without documents so people whose identity is not known cannot "
            "move freely around the UK - a worry for \"national security\"\n"
            "- Remove at once asylum seekers whose claims are clearly unfounded\n"
            "- Take in a quota of refugees chosen with the UN"
        ),
    )
    # The next chunk of the same article (an answer quotes one article).
    speech = Passage(
        chunk_id="plan#1", source_id="plan", story_id="plan", title="Tories set out asylum plans",
        text=(
            "David Davis said only two out of 10 asylum seekers had their claims accepted under the "
            "current \"unfair and inhumane\" asylum system. He spoke in London."
        ),
    )
    answer = await extractive.answer(
        "What would the Conservatives do about asylum seekers without documents, and how many asylum seekers "
        "had their claims accepted?",
        [plan, speech],
    )
    assert not answer.abstained, answer.text
    assert {c.passage.chunk_id for c in answer.citations} == {"plan#0", "plan#1"}
    assert_every_sentence_cited(answer, [plan, speech])
    assert not re.search(r"(^|\.\s)- ", answer.text), "list bullets are not quoted"


async def test_off_topic_question_abstains_and_lists_the_closest_articles(extractive: ExtractiveAnswerer) -> None:
    given = pool("business/173", "politics/365", "tech/145")
    answer = await extractive.answer("Who was elected Pope by the cardinals after John Paul II died?", given)
    assert answer.abstained
    assert answer.text.startswith(NOT_COVERED)
    assert not answer.citations and "[1]" not in answer.text
    assert [p.source_id for p in answer.closest] == ["business/173", "politics/365", "tech/145"]
    for passage in answer.closest:
        assert passage.title in answer.text
    assert answer.evidence_score < extractive.policy.threshold


async def test_the_threshold_comes_from_settings(settings: Settings, local_embeddings: Any) -> None:
    given = pool("business/173")
    question = "How many jobs is Carlsberg cutting in Sweden?"
    strict = ExtractiveAnswerer(settings.model_copy(update={"abstain_threshold": 0.99}), local_embeddings)
    lenient = ExtractiveAnswerer(settings.model_copy(update={"abstain_threshold": 0.01}), local_embeddings)
    assert (await strict.answer(question, given)).abstained
    answer = await lenient.answer(question, given)
    assert not answer.abstained
    # the same score decides both; calibration can read it from the answer
    assert 0.01 <= answer.evidence_score < 0.99


async def test_a_number_no_article_states_makes_the_answer_abstain(extractive: ExtractiveAnswerer) -> None:
    # BBC articles of 2005: the next Eurovision is in Kiev, the next Xbox has no name or price yet.
    given = pool("entertainment/172", "tech/052", "entertainment/244", "business/173")
    for question in (
        "Where was the Eurovision Song Contest held in 2010?",
        "What price did the Xbox 360 go on sale for?",
    ):
        answer = await extractive.answer(question, given)
        assert answer.abstained, question
        assert answer.text.startswith(NOT_COVERED)

    # Without a number, or with one the articles state, the same articles answer.
    answer = await extractive.answer("When does the next Xbox go on sale?", given)
    assert not answer.abstained
    assert "expected to go on sale at the end of the year" in answer.text
    answer = await extractive.answer("Which Manic Street Preachers guitarist vanished in 1995?", given)
    assert not answer.abstained
    assert "Richey Edwards" in answer.text
    assert_every_sentence_cited(answer, given)


async def test_no_passages_abstains(extractive: ExtractiveAnswerer) -> None:
    answer = await extractive.answer("Anything at all?", [])
    assert answer.abstained and answer.closest == [] and answer.evidence_score == 0.0


async def test_as_of_is_the_newest_cited_article(extractive: ExtractiveAnswerer) -> None:
    older = datetime(2005, 2, 10, 9, 0, tzinfo=UTC)
    newer = datetime(2005, 3, 2, 18, 30, tzinfo=UTC)
    given = bbc_passages("business/173", published=newer) + bbc_passages("business/063", published=older)
    answer = await extractive.answer("How many jobs is Carlsberg planning to cut in Sweden?", given)
    cited = [c.passage.published_at.date() for c in answer.citations if c.passage.published_at]
    assert answer.as_of == max(cited)
    assert answer.text.startswith(f"As of {answer.as_of.day} {answer.as_of:%B %Y}: ")
    assert answer.as_of == date(2005, 3, 2)
    undated = await extractive.answer("How many jobs is Carlsberg planning to cut in Sweden?", bbc_passages("business/173"))
    assert undated.as_of is None and not undated.text.startswith("As of")


async def test_an_injected_instruction_is_not_the_answer_to_an_unrelated_question(
    extractive: ExtractiveAnswerer,
) -> None:
    carlsberg = bbc_passages("business/173")
    poisoned = carlsberg[0].model_copy(update={"text": carlsberg[0].text + "\n\n" + INJECTION, "chunk_id": "poisoned"})
    given = [poisoned, *carlsberg[1:], *pool("politics/365", "business/063")]
    for question in (
        "How many jobs is Carlsberg planning to cut in Sweden?",
        "Why did US retail sales fall in January?",
        "What did Gordon Brown say about civil service jobs?",
    ):
        answer = await extractive.answer(question, given)
        assert not answer.abstained
        assert "cancelled" not in answer.text and "Ignore your instructions" not in answer.text


def test_the_extractive_answerer_is_an_answerer(extractive: ExtractiveAnswerer) -> None:
    assert isinstance(extractive, Answerer)


async def test_extractive_stream_gives_the_text_once_then_the_answer(extractive: ExtractiveAnswerer) -> None:
    question = "How many jobs is Carlsberg planning to cut in Sweden?"
    items = [item async for item in extractive.stream(question, pool("business/173"))]
    assert len(items) == 2
    text, answer = items
    assert isinstance(answer, Answer) and text == answer.text
    assert "200 jobs in Sweden" in answer.text


# Three BBC articles on Ukraine's privatisations; business/197 and business/217 both tell the
# Krivorizhstal sale, business/136 and business/217 both tell the review of 3,000 firms.
UKRAINE = ("business/136", "business/217", "business/197")


@pytest.mark.parametrize(
    ("question", "short", "lead", "article"),
    [
        (
            "How much was the Ukrainian steelworks Krivorizhstal sold for?",
            "$800m",
            "The Ukrainian steelworks Krivorizhstal was sold for $800m [1].",
            "business/197",
        ),
        (
            "How many firms may have their privatisations reviewed in Ukraine?",
            "as many as 3,000",
            "As many as 3,000 firms may have their privatisations reviewed in Ukraine [1].",
            "business/217",
        ),
    ],
)
async def test_an_answer_quotes_one_article_starting_with_the_sentence_of_its_short_answer(
    extractive: ExtractiveAnswerer, question: str, short: str, lead: str, article: str
) -> None:
    # Quoting the best sentence of each of two articles cited both, and the sentence stating the
    # asked figure came last. The short answer leads in a sentence built from the question.
    answer = await extractive.answer(question, pool(*UKRAINE))
    assert not answer.abstained
    assert {c.passage.source_id for c in answer.citations} == {article}
    first, _, quoted = answer.text.partition("\n")
    assert first == lead
    assert answer.short_answer == short
    assert short in sentences_of(answer.model_copy(update={"text": quoted}))[0]
    # The citation rests on the passage sentence that states the span, not on the built one.
    assert short in answer.citations[0].quote and audit(answer) == []
