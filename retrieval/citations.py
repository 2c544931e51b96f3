"""Verification of an answer's citations, before anything is shown.

An answerer writes text with `[n]` markers that point into the numbered list of passages it was
given. `verify` keeps only what that list supports:

- a marker must name a passage that was given (`[7]` with five passages is removed);
- text in quotation marks (straight or curly) must appear in the cited passage, compared after
  normalising quotes, dashes, whitespace and case; a citation whose passage lacks the quotation is
  removed;
- a sentence left without any valid citation is dropped (a sentence without a marker is a claim
  without support, so it is dropped too);
- the surviving citations are renumbered densely, `[1]`, `[2]`... in order of first use.

So a citation to something that was not retrieved never reaches the user.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from retrieval.models import Answer, Citation, Passage
from retrieval.text import MARKER, join_abbreviations, split_sentences

# A sentence of answer text: up to . ! ? (with closing quotes/brackets and any citation markers
# right after it), or the end of the line. Lines never join: list items stay separate sentences.
# (Article text is split by `retrieval.text.split_sentences`, the same rule without markers.)
_ANSWER_SENTENCE = re.compile(
    r"[^\s].*?(?:[.!?]+[\"'”’)]*(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])*(?=\s|$)|$)", re.M
)
# Quotations: double quotes of any shape, or curly single quotes (a straight ' is an apostrophe
# too often to pair reliably).
_QUOTATION = re.compile(r"[\"“”„]([^\"“”„]+)[\"“”„]|‘([^‘’]+)’")
# Spellings small models use for a marker: "[Passage 2]", "[source 2]", "【2】".
_LOOSE_MARKER = re.compile(r"[\[【]\s*(?:passage|source|doc(?:ument)?)?\s*#?(\d{1,3})\s*[\]】]", re.I)
_WORD = re.compile(r"[\w£$€%]+(?:['’.,-][\w%]+)*", re.U)
_QUOTE_CHARS = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "‘": "'", "’": "'", "‚": "'", "‛": "'",
     "′": "'", "–": "-", "—": "-", "‐": "-", "‑": "-", "…": "..."}
)


def normalize(text: str) -> str:
    """Return `text` in the form quotations are compared in: NFKC, straight quotes, plain hyphens,
    one space between words, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_CHARS)
    return " ".join(text.split()).lower()


def words(text: str) -> list[str]:
    """Return the lower-cased words of `text` (numbers and amounts included)."""
    return [w.lower() for w in _WORD.findall(text)]


def _answer_sentences(text: str) -> list[tuple[int, int]]:
    return join_abbreviations(text, [(m.start(), m.end()) for m in _ANSWER_SENTENCE.finditer(text)])


def quotations(sentence: str) -> list[str]:
    """Return the quoted passages of `sentence` (the text between paired quotation marks)."""
    found = []
    for match in _QUOTATION.finditer(sentence):
        quoted = (match.group(1) or match.group(2) or "").strip()
        if any(c.isalnum() for c in quoted):
            found.append(quoted)
    return found


def contains_quotation(passage_text: str, quotation: str) -> bool:
    """True when `quotation` appears in `passage_text` (normalised; an ellipsis in the quotation
    may stand for omitted words, so each piece around it must appear)."""
    haystack = normalize(passage_text)
    pieces = [p.strip(" .,;:!?'\"") for p in normalize(quotation).split("...")]
    pieces = [p for p in pieces if p]
    return bool(pieces) and all(p in haystack for p in pieces)


def strip_markers(text: str) -> str:
    """Return `text` without its `[n]` markers."""
    return MARKER.sub("", text).strip()


def supporting_span(passage_text: str, claim: str) -> tuple[int, int]:
    """Return the `(start, end)` span of the sentence(s) of `passage_text` that `claim` rests on.

    When the claim (or a quotation in it) appears in the passage verbatim, the sentences that
    contain it; otherwise the sentence sharing most words with the claim.
    """
    spans = split_sentences(passage_text)
    if not spans:
        return 0, len(passage_text)
    normalized = normalize(passage_text)
    for probe in [strip_markers(claim), *quotations(claim)]:
        probe_n = normalize(probe).strip(" .,;:!?'\"")
        if len(probe_n) < 8 or probe_n not in normalized:
            continue
        hits = []
        for s, e in spans:
            sentence_n = normalize(passage_text[s:e])
            if probe_n in sentence_n or sentence_n.strip(" .,;:!?'\"") in probe_n:
                hits.append((s, e))
        if hits:
            return hits[0][0], hits[-1][1]
    claim_words = set(words(strip_markers(claim)))
    return max(spans, key=lambda span: len(claim_words & set(words(passage_text[span[0] : span[1]]))))


def supporting_sentence(passage_text: str, claim: str) -> str:
    """Return the sentence(s) of `passage_text` that `claim` rests on (see `supporting_span`)."""
    start, end = supporting_span(passage_text, claim)
    return passage_text[start:end].strip()


def join_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Return the text of `spans` in document order: touching spans as one run, others joined
    with " … " (so the result is a quotation `contains_quotation` accepts)."""
    merged: list[list[int]] = []
    for start, end in sorted(set(spans)):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return " … ".join(text[s:e].strip() for s, e in merged)


@dataclass
class Verified:
    """The part of an answer that its passages support.

    `text` keeps only supported sentences, with markers renumbered `[1]`, `[2]`... in order of
    first use; `citations` holds one entry per cited passage; `problems` says what was removed.
    """

    text: str
    citations: list[Citation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dropped_sentences: int = 0

    @property
    def supported(self) -> bool:
        """True when at least one sentence kept a valid citation."""
        return bool(self.citations)


def verify(text: str, passages: Sequence[Passage]) -> Verified:
    """Check `text`'s `[n]` markers against `passages` (`[1]` is `passages[0]`).

    Returns the supported sentences with dense numbering and their citations; never raises on
    malformed answer text.
    """
    text = _LOOSE_MARKER.sub(r"[\1]", text)
    problems: list[str] = []
    dropped = 0
    renumber: dict[int, int] = {}  # passage index -> new number
    spans_by_index: dict[int, list[tuple[int, int]]] = {}
    lines = text.splitlines()
    out_lines: list[str] = []
    for line in lines:
        line_sentences: list[str] = []
        for start, end in _answer_sentences(line):
            sentence = line[start:end]
            quoted = quotations(strip_markers(sentence))
            valid_in_sentence: list[int] = []
            for group in MARKER.finditer(sentence):
                for raw in re.split(r"\s*[,;]\s*", group.group(1)):
                    n = int(raw)
                    if not 1 <= n <= len(passages):
                        problems.append(f"[{n}] names no passage that was given")
                        continue
                    passage = passages[n - 1]
                    missing = [q for q in quoted if not contains_quotation(passage.text, q)]
                    if missing:
                        problems.append(f"[{n}] does not contain the quotation {missing[0]!r}")
                        continue
                    if n - 1 not in valid_in_sentence:
                        valid_in_sentence.append(n - 1)
            if not valid_in_sentence:
                if strip_markers(sentence):
                    dropped += 1
                continue
            for index in valid_in_sentence:
                renumber.setdefault(index, len(renumber) + 1)
                span = supporting_span(passages[index].text, sentence)
                spans_by_index.setdefault(index, []).append(span)
            line_sentences.append(_rewrite_markers(sentence, set(valid_in_sentence), renumber, len(passages)))
        if line_sentences:
            out_lines.append(" ".join(line_sentences))
        elif not line.strip() and out_lines and out_lines[-1]:
            out_lines.append("")  # keep paragraph breaks between kept paragraphs
    while out_lines and not out_lines[-1]:
        out_lines.pop()
    citations = [
        Citation(n=n, passage=passages[index], quote=join_spans(passages[index].text, spans_by_index.get(index, [])))
        for index, n in sorted(renumber.items(), key=lambda item: item[1])
    ]
    return Verified(
        text="\n".join(out_lines).strip(),
        citations=citations,
        problems=problems,
        dropped_sentences=dropped,
    )


def _rewrite_markers(sentence: str, valid: set[int], renumber: dict[int, int], given: int) -> str:
    """Replace each marker group by its valid, renumbered members; drop groups left empty."""

    def replace(match: re.Match[str]) -> str:
        numbers: list[int] = []
        for raw in re.split(r"\s*[,;]\s*", match.group(1)):
            index = int(raw) - 1
            if 0 <= index < given and index in valid and renumber[index] not in numbers:
                numbers.append(renumber[index])
        if not numbers:
            return ""
        leading = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
        return (leading or "") + "".join(f"[{n}]" for n in numbers)

    rewritten = MARKER.sub(replace, sentence)
    # Two adjacent groups may now repeat a number ("[1] [1]" after renumbering): keep one.
    rewritten = re.sub(r"(\[\d+\])(\s*\1)+", r"\1", rewritten)
    return rewritten.strip()


def audit(answer: Answer) -> list[str]:
    """Return what is wrong with a finished `answer` (empty when every marker has a citation,
    every citation's quote is in its passage, and every cited sentence's quotations are too)."""
    problems: list[str] = []
    by_n = {c.n: c for c in answer.citations}
    for start, end in _answer_sentences(answer.text):
        sentence = answer.text[start:end]
        for group in MARKER.finditer(sentence):
            for raw in re.split(r"\s*[,;]\s*", group.group(1)):
                citation = by_n.get(int(raw))
                if citation is None:
                    problems.append(f"[{raw}] has no citation")
                    continue
                for quoted in quotations(strip_markers(sentence)):
                    if not contains_quotation(citation.passage.text, quoted):
                        problems.append(f"[{raw}] does not contain the quotation {quoted!r}")
    for citation in answer.citations:
        if citation.quote and not contains_quotation(citation.passage.text, citation.quote):
            problems.append(f"the quote of [{citation.n}] is not in its passage")
    return problems
