"""Chunking: token budgets, exact spans, overlap, and nothing the embedding model would truncate."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import Chunker


def _bbc_texts(shared_data: Path, n: int = 60) -> list[str]:
    files = sorted((shared_data / "bbc").glob("*/*.txt"))[:: max(1, 2225 // n)][:n]
    texts = []
    for f in files:
        raw = f.read_bytes().decode("utf-8", errors="replace")
        texts.append(raw.split("\n\n", 1)[-1])
    return texts


def test_spans_are_exact_and_chunks_respect_the_budget(shared_data: Path) -> None:
    chunker = Chunker(chunk_tokens=120, overlap=20)
    for text in _bbc_texts(shared_data):
        chunks = chunker.chunk("x", text)
        assert chunks, "every non-empty article has at least one chunk"
        for i, chunk in enumerate(chunks):
            assert chunk.index == i
            assert text[chunk.char_start : chunk.char_end] == chunk.text
            assert chunk.tokens <= 120


def test_every_word_of_the_article_is_in_some_chunk(shared_data: Path) -> None:
    chunker = Chunker(chunk_tokens=100, overlap=20)
    for text in _bbc_texts(shared_data, 20):
        covered = [False] * len(text)
        for chunk in chunker.chunk("x", text):
            for i in range(chunk.char_start, chunk.char_end):
                covered[i] = True
        missing = [c for c, ok in zip(text, covered, strict=True) if not ok and not c.isspace()]
        assert missing == []


def test_neighbouring_chunks_overlap(shared_data: Path) -> None:
    chunker = Chunker(chunk_tokens=120, overlap=40)
    long_text = max(_bbc_texts(shared_data), key=len)
    chunks = chunker.chunk("x", long_text)
    assert len(chunks) >= 3
    overlapping = sum(1 for a, b in zip(chunks, chunks[1:]) if b.char_start < a.char_end)
    assert overlapping >= len(chunks) // 2
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start > a.char_start, "chunks always move forward"


def test_chunks_end_on_sentence_boundaries_when_they_can(shared_data: Path) -> None:
    chunker = Chunker(chunk_tokens=150, overlap=0)
    ends = [c.text.rstrip()[-1] for t in _bbc_texts(shared_data, 30) for c in chunker.chunk("x", t)]
    assert sum(e in ".!?\"'”’)" for e in ends) / len(ends) > 0.95


def test_a_run_on_sentence_is_split_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = Chunker(chunk_tokens=64, overlap=0).chunk("x", text)
    assert len(chunks) > 10
    for c in chunks:
        assert c.tokens <= 64
        assert not c.text.startswith(" ") and not c.text.endswith(" ")
        assert text[c.char_start - 1 : c.char_start] in ("", " ")


def test_no_chunk_is_truncated_by_the_embedding_model(shared_data: Path, local_embeddings) -> None:
    """all-MiniLM-L6-v2 reads 256 word pieces; text past that would be silently dropped."""
    model = local_embeddings
    chunker = Chunker(
        chunk_tokens=400,  # a budget too large on purpose: the model check must split anyway
        overlap=20,
        fits=lambda t: model.count_tokens(t) <= model.max_tokens,
    )
    hostile = [
        # digits and rare words cost many more word pieces than tiktoken tokens
        " ".join(f"{i * 7919:,}.{i % 97:02d}" for i in range(600)),
        "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. " * 40,
        "Съешь же ещё этих мягких французских булок да выпей чаю. " * 40,
        "antidisestablishmentarianism pneumonoultramicroscopic " * 120,
    ]
    for text in _bbc_texts(shared_data, 30) + hostile:
        for chunk in chunker.chunk("x", text):
            assert model.count_tokens(chunk.text) <= model.max_tokens, chunk.text[:80]


@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (100, 60)])
def test_bad_sizes_are_refused_with_a_clear_error(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_tokens|overlap"):
        Chunker(chunk_tokens=size, overlap=overlap)
