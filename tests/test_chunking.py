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
    fast = Chunker(chunk_tokens=400, overlap=20, fits=chunker.fits, span_fits=model.span_fits)
    for text in _bbc_texts(shared_data, 30) + hostile:
        for chunk in chunker.chunk("x", text) + fast.chunk("x", text):
            assert model.count_tokens(chunk.text) <= model.max_tokens, chunk.text[:80]


@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (100, 60)])
def test_bad_sizes_are_refused_with_a_clear_error(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_tokens|overlap"):
        Chunker(chunk_tokens=size, overlap=overlap)


def test_span_counts_from_one_tokenizer_call_are_the_models_own(shared_data: Path, local_embeddings) -> None:
    """`span_fits` counts a whitespace-bounded span's word pieces from the whole text's: it must
    agree with tokenizing the span alone, also where pieces cost the most."""
    import re

    model = local_embeddings
    texts = _bbc_texts(shared_data, 10) + [
        " ".join(f"{i * 7919:,}.{i % 97:02d}" for i in range(300)),
        "Zwölf Boxkämpfer jagen Viktor. 東京電力公司周二表示 «quoted» naïve café—dash\tTab\r\nCRLF " * 8,
        "x" * 150 + " antidisestablishmentarianism " + "é" * 120,
    ]
    for text in texts:
        fits = model.span_fits(text)
        assert fits is not None
        bounds = [0] + [m.start() for m in re.finditer(r"(?<=\s)\S", text)]
        ends = [m.end() for m in re.finditer(r"\S(?=\s|\Z)", text)]
        for start in bounds[::7]:
            for end in (e for e in ends[::5] if e > start):
                truth = model.count_tokens(text[start:end]) <= model.max_tokens
                assert fits(start, end) == truth, (text[start:end][:60], end - start)


def test_odd_whitespace_falls_back_to_counting_each_span(local_embeddings) -> None:
    assert local_embeddings.span_fits("one\u2028two") is None
    assert local_embeddings.span_fits("one\x0btwo") is None


def test_one_tokenizer_call_per_article_chunks_exactly_as_one_per_span(shared_data: Path, local_embeddings) -> None:
    model = local_embeddings
    exact = Chunker(chunk_tokens=180, overlap=30, fits=model.fits)
    fast = Chunker(chunk_tokens=180, overlap=30, fits=model.fits, span_fits=model.span_fits)
    hostile = [
        " ".join(f"{i * 7919:,}.{i % 97:02d}" for i in range(600)),
        "Full report: https://news.example/reports/" + "a1b2c3d4e5" * 120 + " was released today.",
        "东京电力公司周二表示，核电站的冷却系统已恢复正常运行，但专家警告说仍需密切监测。" * 20,
    ]
    for text in _bbc_texts(shared_data, 40) + hostile:
        assert fast.chunk("x", text) == exact.chunk("x", text)
