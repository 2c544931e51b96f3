"""Property tests of chunking: any text is cut into exact, ordered spans that cover every
character and stay within the token budget, even a "word" longer than the budget.
"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ingest.chunking import Chunker
from ingest.models import Chunk
from tests.support.hostile_input import FAST, messy_text, sentence, wordy_text

BUDGET, OVERLAP = 48, 12
CHUNKER = Chunker(chunk_tokens=BUDGET, overlap=OVERLAP)


def _count(text: str) -> int:
    return len(CHUNKER.encoding.encode_ordinary(text))


def _check_chunks(text: str, chunker: Chunker) -> list[Chunk]:
    chunks = chunker.chunk("x", text)
    covered = bytearray(len(text))
    for i, chunk in enumerate(chunks):
        assert chunk.index == i and chunk.source_id == "x"
        assert text[chunk.char_start : chunk.char_end] == chunk.text, "spans are exact slices"
        assert chunk.text and chunk.text == chunk.text.strip(), "chunks start and end on text"
        assert chunk.tokens == _count(chunk.text)
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start > a.char_start, "chunks are in order and always move forward"
        assert b.char_end > a.char_end, "no chunk is a slice of the one before"
    missing = [c for c, hit in zip(text, covered) if not hit and not c.isspace()]
    assert missing == [], "every non-space character is in some chunk"
    return chunks


@FAST
@given(st.one_of(messy_text, wordy_text()))
def test_chunk_spans_are_exact_ordered_and_cover_every_character(text: str) -> None:
    chunks = _check_chunks(text, CHUNKER)
    assert bool(chunks) == bool(text.strip())


@FAST
@given(st.one_of(messy_text, wordy_text()))
def test_chunks_stay_within_the_token_budget(text: str) -> None:
    """Any text is chunked within the budget, even a "word" longer than the budget."""
    for chunk in _check_chunks(text, CHUNKER):
        assert chunk.tokens <= BUDGET


@FAST
@given(
    st.lists(sentence, min_size=1, max_size=60), st.sampled_from(("\n\n", " ", "\n", "\n" * 25))
)
def test_chunks_of_prose_stay_within_the_budget_at_any_size(
    sentences: list[str], join: str
) -> None:
    chunker = Chunker(chunk_tokens=16, overlap=4)
    for chunk in _check_chunks(join.join(sentences), chunker):
        assert chunk.tokens <= 16


def test_an_overlap_never_repeats_the_end_of_the_chunk_before() -> None:
    """Found by the property above: the three sentences count 4 + 4 + 13 tokens alone but 16
    joined ("officials. Said"), and the overlap started the next chunk with the second sentence,
    which then could not take the third: a chunk that was a slice of the one before."""
    text = (
        "Officials officials officials. Officials officials officials. Said"
        + " officials" * 10
        + "."
    )
    _check_chunks(text, Chunker(chunk_tokens=16, overlap=4))


@pytest.mark.parametrize(
    "text",
    [
        "东京电力公司周二表示，核电站的冷却系统已恢复正常运行，但专家警告说仍需密切监测。" * 20,
        "Full report: https://news.example/reports/" + "a1b2c3d4e5" * 120 + " was released today.",
    ],
    ids=["cjk-prose", "long-url"],
)


def test_a_word_longer_than_the_budget_is_split(text: str) -> None:
    chunker = Chunker(chunk_tokens=180, overlap=30)
    assert max(chunk.tokens for chunk in chunker.chunk("x", text)) <= 180
