"""Sentence scoring: how well each sentence of the retrieved passages answers the question.

`SentenceScorer.score` embeds every candidate sentence (one batch, cached across questions) and
scores it against the question; the result, `Evidence`, also says which of the question's names
and numbers no passage states. The abstention policy (`retrieval.policy`) reads its features
from `Evidence`; the answerers quote its best sentences.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from retrieval.citations import strip_markers
from retrieval.embeddings import VectorCache
from retrieval.models import Passage
from retrieval.text import (
    ALIASES,
    CONNECTORS,
    ENDS_SENTENCE,
    NUMBER,
    entities,
    number_core,
    sentence_openers,
    split_sentences,
    stated_numbers,
    stem_words,
    terms,
)

DENSE_WEIGHT = 0.6
LEXICAL_WEIGHT = 0.4
RANK_BONUS = 0.04  # added to the top passage's sentences, halved for the next, and so on
# Sentence vectors kept between questions (about 30 MB): answers keep citing the same articles.
SENTENCE_CACHE_SIZE = 20_000


@dataclass
class ScoredSentence:
    """A sentence of a passage with how well it answers the question."""

    passage_index: int
    start: int
    end: int
    text: str
    dense: float
    lexical: float
    relevance: float  # DENSE_WEIGHT * dense + LEXICAL_WEIGHT * lexical: what abstention uses
    score: float  # relevance + the passage's rank bonus: what selection uses
    vector: list[float]


@dataclass
class Evidence:
    """All scored sentences of the passages, best first, with the question's names and numbers
    the passages lack."""

    question: str
    passages: list[Passage]
    sentences: list[ScoredSentence]
    coverage: float = 1.0  # see `entity_coverage`
    missing_numbers: tuple[str, ...] = ()  # see `missing_numbers`

    @property
    def best_relevance(self) -> float:
        """The relevance of the best sentence (0.0 when there is none)."""
        return max((s.relevance for s in self.sentences), default=0.0)


def entity_coverage(question: str, passages: Sequence[Passage]) -> float:
    """Return the share of the words of the question's names and numbers that appear in the
    passages (1.0 when the question names nothing). "Who bought Skype?" over articles that never
    say "Skype" scores 0.

    Words match by stem ("Russians" is covered by "Russian") and by `retrieval.text.ALIASES`. A
    single capitalised word opening a sentence of the question is not taken for a name: it is
    capitalised because it opens the sentence ("Nearly two years on, ...", "Despite ...")."""
    openers = sentence_openers(strip_markers(question))
    wanted: list[str] = []
    for name in entities(question):
        if " " not in name and name.lower() in openers and not NUMBER.match(name):
            continue
        for word in re.findall(r"[\w£$€%]+", name.lower()):
            if word not in CONNECTORS and word not in wanted:
                wanted.append(word)
    if not wanted:
        return 1.0
    text = " ".join(f"{p.title} {p.text}" for p in passages).lower()
    words = set(re.findall(r"[\w£$€%]+", text))
    stems = set(stem_words(words))
    aliased = {short for short, longs in ALIASES.items() if any(re.search(rf"(?<!\w){re.escape(x)}(?!\w)", text) for x in longs)}

    def present(word: str) -> bool:
        return word in words or word in aliased or stem_words([word])[0] in stems

    return sum(present(w) for w in wanted) / len(wanted)


def missing_numbers(question: str, passages: Sequence[Passage]) -> list[str]:
    """Return the numbers of the question (years, dates, amounts, model numbers) that no passage
    states and that are not the publication year of a passage. "Who won the 2018 World Cup
    final?" over articles about earlier World Cups gives ["2018"]."""
    wanted = [core for word in entities(question) if NUMBER.match(word) and (core := number_core(word))]
    if not wanted:
        return []
    stated: set[str] = set()
    for passage in passages:
        stated |= stated_numbers(f"{passage.title} {passage.text}")
        if passage.published_at:
            stated.add(str(passage.published_at.year))
    return [core for core in dict.fromkeys(wanted) if core not in stated]


class SentenceScorer:
    """Scores every sentence of the passages against the question: cosine similarity of the
    embeddings (all sentences embedded in one batch), IDF-weighted overlap of the question's
    terms, and a small bonus for the passage's retrieval rank."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self.sentences = VectorCache(SENTENCE_CACHE_SIZE)

    def score(self, question: str, passages: Sequence[Passage]) -> Evidence:
        """Return the scored sentences of `passages`, best first (blocking: embeds)."""
        candidates = self._candidates(passages)
        if not candidates or not question.strip():
            return Evidence(question, list(passages), [])
        texts = [text for _, _, _, text in candidates]
        vectors = self.sentences.embed(texts, self.embeddings.embed_documents)
        query = unit(self.embeddings.embed_query(question))
        vectors = [unit(v) for v in vectors]
        scored = []
        for (index, start, end, text), vector, lexical in zip(candidates, vectors, lexical_overlaps(question, texts)):
            dense = dot(query, vector)
            relevance = DENSE_WEIGHT * dense + LEXICAL_WEIGHT * lexical
            bonus = RANK_BONUS / (1 + index)
            scored.append(
                ScoredSentence(index, start, end, text, dense, lexical, relevance, relevance + bonus, vector)
            )
        scored.sort(key=lambda s: s.score, reverse=True)
        return Evidence(
            question,
            list(passages),
            scored,
            entity_coverage(question, passages),
            tuple(missing_numbers(question, passages)),
        )

    @staticmethod
    def _candidates(passages: Sequence[Passage]) -> list[tuple[int, int, int, str]]:
        """Sentences worth quoting: at least four words, not the headline."""
        found: list[tuple[int, int, int, str]] = []
        fallback: list[tuple[int, int, int, str]] = []
        for index, passage in enumerate(passages):
            title = passage.title.strip().lower()
            for start, end in split_sentences(passage.text):
                text = passage.text[start:end].strip()
                fallback.append((index, start, end, text))
                n_words = len(text.split())
                if n_words < 4 or text.lower() == title:
                    continue
                if not ENDS_SENTENCE.search(text) and n_words < 8:
                    continue  # a headline, caption or byline, not a sentence
                found.append((index, start, end, text))
        return found or fallback


def lexical_overlaps(question: str, texts: Sequence[str], *, among: Sequence[str] | None = None) -> list[float]:
    """Return, for each of `texts`, the IDF-weighted share of the question's terms it contains;
    the IDF is taken over the sentences `among` (default: `texts` themselves)."""
    q_terms = set(terms(question))
    pool = [set(terms(t)) for t in (texts if among is None else among)]
    n = len(pool)
    idf = {t: math.log((n + 1) / (sum(t in st for st in pool) + 0.5)) for t in q_terms}
    total = sum(idf.values())
    if total <= 0:
        return [0.0] * len(texts)
    return [sum(idf[t] for t in q_terms & set(terms(text))) / total for text in texts]


def unit(vector: Sequence[float]) -> list[float]:
    """Return `vector` scaled to length 1 (unchanged when it is all zeros)."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    """Return the dot product of two vectors (the cosine similarity of unit vectors)."""
    return sum(x * y for x, y in zip(a, b))
