"""A reader over the retrieved passages: the short answer a question asks for, and whether the
best sentences actually state it.

Sentence similarity cannot tell "Mr Ebbers could face a jail sentence of up to 85 years if
convicted" from a sentence that gives the verdict, nor "financial details were not disclosed"
from a price. The reader looks at what the sentences assert:

1. the question's expected answer type (`retrieval.question`);
2. the best few sentences (by the evidence score when an `Evidence` is given, else by term
   overlap) analysed by spaCy (`retrieval.sentence_analysis`: entities and tags, cached per
   sentence);
3. candidate answers (`retrieval.candidates`): entity spans of the expected type (and, for verdicts and results, outcome
   phrases) that the question does not already contain, scored by type match, the sentence's
   relevance, closeness to the question's terms, whether the sentence states the fact or only
   announces it, and how many other articles give the same span;
4. named features for the abstention policy (`Reading.features`).

The short answer carries its passage index and character offsets in that passage's text, so it
can be checked by slicing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retrieval.candidates import ANNOUNCED, UNDISCLOSED, Candidate, ReadSentence, find_candidates
from retrieval.models import Passage
from retrieval.question import QuestionAnalysis, analyse
from retrieval.sentence_analysis import SentenceAnalyser, SentenceAnalysis, SentenceCache
from retrieval.text import split_sentences, terms

if TYPE_CHECKING:
    from retrieval.evidence import Evidence

log = logging.getLogger(__name__)

# Sentences analysed per answer. spaCy sm (entities + tags) ran at ~1,500 words a second on this
# busy 2-core machine (~12 ms a sentence): 8 sentences cost ~100 ms the first time, nothing cached.
MAX_SENTENCES = 8
NEAR_TOP = 0.8  # a sentence within this share of the best sentence's relevance is "near the top"


@dataclass
class Reading:
    """What the reader found: the best short answer (or None) and features for the policy."""

    question: QuestionAnalysis
    answer: Candidate | None
    candidates: list[Candidate]
    features: dict[str, float]
    sentences_read: int = 0
    analysed: int = 0  # sentences spaCy had to analyse (not cached)
    elapsed_ms: float = 0.0
    best_sentence: str = ""
    notes: list[str] = field(default_factory=list)


class Reader:
    """Finds the short answer in the passages and describes how well they state it.

    `nlp` is a spaCy pipeline (default: `load_nlp()` from `retrieval.sentence_analysis`, loaded
    on first use); `cache` keeps sentence analyses and can be shared between readers."""

    def __init__(self, nlp: Any = None, *, max_sentences: int = MAX_SENTENCES, cache: SentenceCache | None = None) -> None:
        self.analyser = SentenceAnalyser(nlp, cache)
        self.max_sentences = max_sentences

    @property
    def cache(self) -> SentenceCache:
        return self.analyser.cache

    def read(
        self, question: str | QuestionAnalysis, passages: Sequence[Passage], evidence: Evidence | None = None
    ) -> Reading:
        """Return the reading of `passages` for `question`. `evidence` (the scored sentences of
        the same passages) picks the sentences to read; without it they are ranked by the share
        of the question's terms they contain. Raises ValueError for an empty question."""
        started = time.perf_counter()
        analysis = question if isinstance(question, QuestionAnalysis) else analyse(question)
        sentences = self._top_sentences(analysis, passages, evidence)
        analyses, analysed = self.analyser.analyse([s.text for s in sentences])
        candidates = find_candidates(analysis, passages, sentences, analyses)
        best = candidates[0] if candidates else None
        reading = Reading(
            question=analysis,
            answer=best,
            candidates=candidates,
            features=self._features(analysis, sentences, analyses, candidates),
            sentences_read=len(sentences),
            analysed=analysed,
            best_sentence=sentences[0].text if sentences else "",
        )
        reading.elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("read %d sentences (%d analysed) in %.0f ms", len(sentences), analysed, reading.elapsed_ms)
        return reading

    # --- choosing sentences ---------------------------------------------------

    def _top_sentences(
        self, question: QuestionAnalysis, passages: Sequence[Passage], evidence: Evidence | None
    ) -> list[ReadSentence]:
        found: list[ReadSentence] = []
        if evidence is not None and evidence.sentences:
            for scored in evidence.sentences:
                text = passages[scored.passage_index].text
                start = text.find(scored.text, scored.start)
                if start < 0:
                    continue
                found.append(ReadSentence(scored.passage_index, start, start + len(scored.text), scored.text, scored.relevance))
                if len(found) == self.max_sentences:
                    break
            return found
        wanted = set(terms(question.text))
        for index, passage in enumerate(passages):
            for start, end in split_sentences(passage.text):
                raw = passage.text[start:end]
                text = raw.strip()
                if len(text.split()) < 4:
                    continue
                begin = start + raw.index(text)
                share = len(wanted & set(terms(text))) / len(wanted) if wanted else 0.0
                found.append(ReadSentence(index, begin, begin + len(text), text, share))
        found.sort(key=lambda s: s.relevance, reverse=True)
        return found[: self.max_sentences]

    # --- features ---------------------------------------------------------------------------

    @staticmethod
    def _features(
        question: QuestionAnalysis,
        sentences: list[ReadSentence],
        analyses: Sequence[SentenceAnalysis],
        candidates: list[Candidate],
    ) -> dict[str, float]:
        top = sentences[:3]
        best = candidates[0] if candidates else None
        strong = [c for c in candidates if c.type_match >= 0.8]
        announced = [bool(ANNOUNCED.search(s.text)) for s in top]
        undisclosed = [bool(UNDISCLOSED.search(s.text)) for s in top]
        first_announced = bool(announced and announced[0])
        best_relevance = top[0].relevance if top else 0.0
        # A span of the asked type, stated (not announced), in a sentence nearly as relevant as
        # the best one: what an answer looks like. Near misses have the type elsewhere in the
        # article ("£750m" for last year's sale) or only in an announcing sentence.
        stated_near_top = any(
            not c.announced and c.relevance >= NEAR_TOP * best_relevance for c in strong
        )
        # The outcome is asked, and what the best sentences say about it is still to come.
        only_announced = question.asks_outcome and first_announced and not stated_near_top
        # The question's predicate: its terms that are not part of a name or number ("sold",
        # "flotation", "price" in "At what price were shares in Paion finally sold in its
        # flotation?"). A near miss shares the names with the article, not the event asked about.
        name_terms = set(terms(" ".join((*question.names, *question.numbers))))
        predicate = set(terms(question.text)) - name_terms
        answer_sentences = [c.sentence for c in strong if not c.announced]

        def predicate_share(text: str) -> float:
            return len(predicate & set(terms(text))) / len(predicate) if predicate else 1.0

        predicate_in_answer = max((predicate_share(t) for t in answer_sentences), default=0.0)
        predicate_in_top = max((predicate_share(s.text) for s in sentences), default=0.0)
        # The asked relation: the best read sentence that carries most of the predicate ("paid",
        # "replaced", "verdict"), and whether it states a span of the asked type without marking
        # it as still to come or withheld ("X is to go on trial", "has yet to be named").
        shares = [predicate_share(s.text) for s in sentences]
        relation = sentences[shares.index(max(shares))].text if shares and max(shares) > 0 else ""
        relation_states = bool(relation) and not ANNOUNCED.search(relation) and not UNDISCLOSED.search(relation) and any(
            c.sentence == relation for c in strong
        )
        constraints = [w.lower() for w in (*question.names, *question.numbers)]
        where = (best.sentence if best else (top[0].text if top else "")).lower()
        present = sum(1 for c in constraints if c in where) / len(constraints) if constraints else 1.0
        return {
            "typed_question": float(question.typed),
            "asks_plan": float(question.asks_plan),
            "asks_outcome": float(question.asks_outcome),
            "answer_type_found": float(bool(strong)) if question.typed else 1.0,
            # ...in a sentence that states it rather than announcing it
            "stated_answer_found": float(any(not c.announced for c in strong)) if question.typed else 1.0,
            # ...in the best sentence itself: near misses put the asked fact's type elsewhere
            "answer_in_best_sentence": float(any(c.sentence == top[0].text for c in strong)) if question.typed and top else float(not question.typed),
            "best_candidate_score": best.score if best else 0.0,
            "best_candidate_relevance": best.relevance if best else 0.0,
            "predicate_in_answer_sentence": predicate_in_answer if question.typed else predicate_in_top,
            "predicate_in_top_sentences": predicate_in_top,
            "stated_answer_near_top": float(stated_near_top) if question.typed else 1.0,
            "best_sentence_announced": float(first_announced),
            "top_announced_share": sum(announced) / len(announced) if announced else 0.0,
            "outcome_only_announced": float(only_announced),
            "undisclosed": float(any(undisclosed)),
            "support": float(min(best.support, 3)) if best else 0.0,
            "constraints_in_answer_sentence": present,
            "best_sentence_past": float(analyses[0].past) if analyses else 0.0,
            "relation_states_answer": float(relation_states) if question.typed else 1.0,
        }
