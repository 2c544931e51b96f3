"""Verification of citations: what reaches the user is only what the given passages support."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.citations import (
    audit,
    contains_quotation,
    normalize,
    quotations,
    split_sentences,
    verify,
)
from retrieval.models import Answer, Passage

BBC = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc"


def article_passage(source_id: str, paragraphs: slice = slice(None)) -> Passage:
    """A passage of a real BBC article: some of its paragraphs, with the headline as title."""
    raw = (BBC / f"{source_id}.txt").read_bytes().decode("utf-8", errors="replace")
    title, _, body = raw.partition("\n")
    text = "\n\n".join(p.strip() for p in body.strip().split("\n\n")[paragraphs])
    return Passage(chunk_id=f"{source_id}#0", text=text, source_id=source_id, story_id=source_id,
                   title=title.strip(), outlet="BBC News")


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    return [
        article_passage("politics/365"),  # Gordon Brown: 35 agencies merged into nine
        article_passage("business/063"),  # US retail sales fell 0.3% in January
        article_passage("business/173"),  # Carlsberg to cut 200 jobs in Sweden
    ]


def test_a_fabricated_citation_is_stripped_and_its_sentence_dropped(passages: list[Passage]) -> None:
    text = (
        "Mr Brown announced plans to merge 35 agencies into nine [1]. "
        "He also promised free ponies for every civil servant [7]."
    )
    verified = verify(text, passages)
    assert verified.text == "Mr Brown announced plans to merge 35 agencies into nine [1]."
    assert [c.passage.source_id for c in verified.citations] == ["politics/365"]
    assert "[7]" not in verified.text and "ponies" not in verified.text
    assert any("[7]" in p for p in verified.problems)


def test_an_invalid_citation_beside_a_valid_one_only_loses_itself(passages: list[Passage]) -> None:
    verified = verify("US retail sales fell 0.3% in January [2][9].", passages)
    assert verified.text == "US retail sales fell 0.3% in January [1]."
    assert verified.citations[0].passage.source_id == "business/063"


def test_a_fake_quotation_is_stripped(passages: list[Passage]) -> None:
    text = (
        'A union called the merger plan a "triumph for hard-working taxpayers" [1]. '
        "Carlsberg plans to cut 200 jobs in Sweden [3]."
    )
    verified = verify(text, passages)
    assert "triumph" not in verified.text
    assert verified.text == "Carlsberg plans to cut 200 jobs in Sweden [1]."
    assert any("quotation" in p for p in verified.problems)


def test_a_real_quotation_passes_despite_curly_quotes_case_and_spacing(passages: list[Passage]) -> None:
    # The article has: ... described by one civil service union as a "bonfire of the quangos".
    text = "One union spoke of a “Bonfire  of the\nquangos” [1]."
    verified = verify(text.replace("\n", " "), passages)
    assert verified.supported
    assert "Bonfire" in verified.text
    assert contains_quotation(passages[0].text, "bonfire of the quangos,")


def test_a_quotation_must_be_in_the_passage_it_cites(passages: list[Passage]) -> None:
    # The quotation is real, but from passage 1, not passage 2.
    verified = verify('A union spoke of a "bonfire of the quangos" [2].', passages)
    assert not verified.supported
    assert verified.text == ""


def test_citations_are_renumbered_densely_in_order_of_first_use(passages: list[Passage]) -> None:
    text = (
        "Carlsberg plans to cut 200 jobs in Sweden [3]. "
        "US retail sales fell 0.3% in January [2]. "
        "Carlsberg expects net profits to rise 15% [3]."
    )
    verified = verify(text, passages)
    assert verified.text == (
        "Carlsberg plans to cut 200 jobs in Sweden [1]. "
        "US retail sales fell 0.3% in January [2]. "
        "Carlsberg expects net profits to rise 15% [1]."
    )
    assert [(c.n, c.passage.source_id) for c in verified.citations] == [(1, "business/173"), (2, "business/063")]


def test_uncited_sentences_are_dropped_and_an_answer_without_markers_is_unsupported(
    passages: list[Passage],
) -> None:
    verified = verify("Retail sales fell [2]. I think the economy is doomed.", passages)
    assert verified.text == "Retail sales fell [1]."
    assert verified.dropped_sentences == 1
    assert not verify("Retail sales fell in January.", passages).supported


def test_grouped_markers_and_abbreviations(passages: list[Passage]) -> None:
    text = "Mr. Brown said jobs had gone, and U.S. retail sales fell 0.3% in January [1, 2]."
    verified = verify(text, passages)
    assert verified.text == "Mr. Brown said jobs had gone, and U.S. retail sales fell 0.3% in January [1][2]."
    assert len(verified.citations) == 2
    # small models write markers loosely
    loose = verify("US retail sales fell 0.3% in January [Passage 2].", passages)
    assert loose.text == "US retail sales fell 0.3% in January [1]."


def test_each_citation_quotes_the_passage_sentence_it_rests_on(passages: list[Passage]) -> None:
    verified = verify("Carlsberg plans to cut 200 jobs in Sweden [3].", passages)
    quote = verified.citations[0].quote
    assert quote.startswith("However, it also plans to cut 200 jobs in Sweden")
    assert quote in passages[2].text


def test_audit_flags_markers_without_citations_and_quotes_not_in_the_passage(passages: list[Passage]) -> None:
    good = verify("US retail sales fell 0.3% in January [2].", passages)
    answer = Answer(question="q", text=good.text, citations=good.citations)
    assert audit(answer) == []
    bad = answer.model_copy(update={"text": answer.text + " And more [4]."})
    assert audit(bad) == ["[4] has no citation"]


def test_sentence_and_quotation_helpers() -> None:
    text = 'Headline here\n\nMr. Smith said "we will win." Then he left! Did he?'
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == ["Headline here", 'Mr. Smith said "we will win."', "Then he left!", "Did he?"]
    assert quotations("He said “yes” and ‘no’ and 'maybe'.") == ["yes", "no"]
    assert normalize("“A”  —  ‘b’") == "\"a\" - 'b'"
    assert contains_quotation("He said it was a total disaster for everyone.", "a total … everyone")
