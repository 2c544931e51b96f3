"""Sentence scoring: the question's names and numbers the passages lack, and sentence vectors
cached across questions."""

from __future__ import annotations

from datetime import UTC, datetime

from langchain_core.embeddings import DeterministicFakeEmbedding

from retrieval.evidence import SentenceScorer, entity_coverage, missing_numbers
from tests.support.answer_support import bbc_passages


def test_missing_numbers_reads_numbers_as_articles_write_them() -> None:
    [passage] = bbc_passages("business/173")[:1]
    text = "Prices rose 13.7% and 2,500 staff, some earning $30, 000, worked seven days."
    passage = passage.model_copy(update={"text": text, "title": "Prices"})
    question = "Did prices rise more than 13% while 2500 staff on $30,000 worked 7 days in 2005?"
    assert missing_numbers(question, [passage]) == ["2005"]
    # an article published in the year the question names states it
    dated = passage.model_copy(update={"published_at": datetime(2005, 3, 2, tzinfo=UTC)})
    assert missing_numbers(question, [dated]) == []
    assert missing_numbers("Who won the 2018 FIFA World Cup final?", [dated]) == ["2018"]


def test_names_count_as_covered_the_way_articles_write_them() -> None:
    """Real quiz questions (cnn-rtqa) abstained because "Russians" was not found in a passage
    saying "Russian", "US" not in one saying "the United States", and a sentence's capitalised
    first word ("Despite") was taken for a name."""
    [passage] = bbc_passages("business/173")[:1]
    text = "Russian reservists in the United States faced record-high prices, despite the cuts."
    passage = passage.model_copy(update={"text": text, "title": "Prices"})
    assert entity_coverage("How many Russians could soon be called up?", [passage]) == 1.0
    assert entity_coverage("Despite the cuts, how high did prices in the US go?", [passage]) == 1.0
    # a name the passages do not mention still counts against them, also at a sentence's start
    assert entity_coverage("How many Ukrainians could soon be called up?", [passage]) == 0.0
    assert entity_coverage("Who bought Skype?", [passage]) == 0.0
    assert entity_coverage("Gordon Brown spoke. Did the UK agree?", [passage]) == 0.0


class CountingEmbeddings(DeterministicFakeEmbedding):
    """Fake embeddings that count the texts they are asked to embed."""

    embedded: int = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_documents(texts)


def test_sentences_are_embedded_once_across_questions_and_scored_the_same() -> None:
    embeddings = CountingEmbeddings(size=32)
    scorer = SentenceScorer(embeddings)
    given = bbc_passages("business/173")
    first = scorer.score("How many jobs will Carlsberg cut in Sweden?", given)
    embedded = embeddings.embedded
    second = scorer.score("How many jobs will Carlsberg cut in Sweden?", given)
    assert embedded > 0 and embeddings.embedded == embedded  # the second question embedded nothing
    assert [(s.text, s.score) for s in second.sentences] == [(s.text, s.score) for s in first.sentences]

    scorer.sentences.size = 3  # a full cache drops the least recently used vectors first
    scorer.score("Carlsberg profits", bbc_passages("business/063"))
    assert len(scorer.sentences) == 3
