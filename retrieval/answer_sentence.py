"""The short answer as a sentence: the question turned into a statement with the answer put where
the question word was ("Who won the Australian Open?" + "Roger Federer" -> "Roger Federer won the
Australian Open"; "How much did Google pay for YouTube?" + "$1.65bn" -> "Google paid $1.65bn for
YouTube").

The classic wh-substitution, on spaCy's tags and parse of the question (`SentenceAnalyser.parse`).
It builds only what it can build safely and returns None otherwise, so that the answer leads with
the span alone: a question that does not start with its question word, has more than one clause,
a negation, punctuation inside, a question phrase other than who / whom / what / which /
how much / how many / when / where, a subject that is not a plain noun phrase, or a verb whose
past form is not known. "When" builds only with a date whose preposition is certain ("in 2004",
"on 5 March", "last week"); "where" only with "in" and a verb that is not one of motion ("went
in Paris"), or with the question's own stranded preposition ("Where did he come from?").

The statement must also be what the passage says (`stated_by`): in the parse of the passage
sentence that holds the span, the span hangs below a verb of the question's verb's lemma, in the
role the statement gives it (subject, passive subject, object). A copula ("Who was the only
Connacht man in the squad?") says too little to check and is not built.

The span goes in verbatim (only its first letter may be capitalised at the start of the
sentence): the answerer still checks it against its passage.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.question import AnswerType, QuestionAnalysis

CACHE_SIZE = 2_000  # sentences built, kept per (question, span): a repeated question is not parsed again
MAX_TOKENS = 25  # longer questions have clauses this does not read
ROUND_NUMBERS = frozenset("tens dozens scores hundreds thousands millions billions".split())
WH_WORDS = frozenset({"who", "whom", "what", "which", "how", "when", "where"})
AUXILIARIES = frozenset({"be", "have", "do", "will", "would", "can", "could", "shall", "should", "may", "might", "must"})
FINITE_TAGS = frozenset({"VBD", "VBZ", "VBP", "MD"})
VERB_TAGS = frozenset({"VB", "VBN", "VBG", "VBD", "VBZ", "VBP"})
# Tags a subject noun phrase may be made of ("the Bank of England's new governor").
NOUN_PHRASE_TAGS = frozenset(
    {"DT", "PDT", "JJ", "JJR", "JJS", "NN", "NNS", "NNP", "NNPS", "CD", "PRP", "PRP$", "POS", "HYPH", "IN", "CC", "NFP", "$"}
)
FOCUS_TAGS = frozenset({"JJ", "NN", "NNS", "NNP", "NNPS", "HYPH", "CD"})
PREPOSITION_TAGS = frozenset({"IN", "RP"})
BAD_CHARACTERS = re.compile(r"[,;:()\[\]\"“”‘’…]|\bn't\b|\bnot\b|\bnever\b", re.I)
# Verbs whose "where" takes "to" or "from", not "in": "Where did he go?" -> refuse.
MOTION_VERBS = frozenset(
    """go come move travel fly head return send take bring flee escape emigrate relocate transfer
    drive sail walk run leave arrive carry ship export deport switch join""".split()
)
# Verbs whose past is the base form (missing from the lemmatizer's exceptions for that reason).
SAME_PAST = frozenset(
    """cut put set hit cost let shut spread hurt quit bet cast burst split bid broadcast forecast
    upset read beat thrust shed offset reset""".split()
)
MONTHS = "january february march april may june july august september october november december"
DAYS = "monday tuesday wednesday thursday friday saturday sunday"
_MONTH = rf"(?:{MONTHS.replace(' ', '|')})"
_DAY = rf"(?:{DAYS.replace(' ', '|')})"
# Dates that read after "in" / "on", and those that need no preposition.
IN_DATE = re.compile(
    rf"^(?:(?:early|mid|late)[- ])?(?:(?:19|20)\d\d|{_MONTH}(?: (?:19|20)\d\d)?|the (?:19|20)\d0s|"
    rf"(?:the )?(?:spring|summer|autumn|winter)(?: of)? (?:19|20)\d\d)$",
    re.I,
)
ON_DATE = re.compile(
    rf"^(?:{_DAY}(?: \d{{1,2}}(?:st|nd|rd|th)?(?: {_MONTH})?)?|\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}(?:,? (?:19|20)\d\d)?|"
    rf"{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? (?:19|20)\d\d)?)$",
    re.I,
)
BARE_DATE = re.compile(
    r"^(?:(?:last|this|next|earlier|later) \w+|yesterday|today|tomorrow|recently|(?:in|on|at|by|during|since|until) .+|.+ ago)$",
    re.I,
)


PARTICIPLE_ENDING = re.compile(r"(?:en|wn|ne|rn|un)$")  # "taken", "shown", "gone", "born", "begun"


def past_forms(verb_exceptions: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Return base verb -> past tense, from the lemmatizer's verb exceptions (inflected form ->
    lemmas; spaCy's `lemma_exc["verb"]`): the irregular pasts ("paid", "went", "bought") and the
    regular ones with a doubled consonant ("stopped"). A base form with two non "-ing" entries
    keeps the one that does not end like a participle ("went", not "gone"); one that has only a
    participle ("beaten", "shown", "done") is left out, since its past may be either; "won",
    "ran", "paid" stay."""
    forms: dict[str, list[str]] = {}
    for inflected, lemmas in verb_exceptions.items():
        if inflected.endswith("ing") or not inflected.isalpha():
            continue
        for lemma in lemmas:
            forms.setdefault(lemma, []).append(inflected)
    table: dict[str, str] = {}
    for lemma, listed in forms.items():
        found = sorted(set(listed) - {third_person(lemma)})
        if len(found) == 2:  # past and participle: "went" / "gone", "took" / "taken"
            found = [f for f in found if not PARTICIPLE_ENDING.search(f)]
        if len(found) == 1 and not PARTICIPLE_ENDING.search(found[0]):
            table[lemma] = found[0]
    return table


def past_tense(verb: str, irregular: Mapping[str, str]) -> str | None:
    """Return the past tense of the base form `verb`, or None when it cannot be sure."""
    verb = verb.lower()
    if verb in SAME_PAST:
        return verb
    if verb in irregular:
        return irregular[verb]
    if not verb.isalpha() or len(verb) < 2:
        return None
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    # A final consonant-vowel-consonant may double ("commit" -> "committed") or not ("visit" ->
    # "visited"); the exceptions table lists the doubled ones it knows, so refuse the rest.
    if re.search(r"[^aeiou][aeiou][^aeiouwxy]$", verb) and len(verb) > 3:
        return None
    return verb + "ed"


def third_person(verb: str) -> str:
    """Return the present tense of `verb` after he / she / it ("pays", "buys", "has")."""
    verb = verb.lower()
    if verb in ("have", "be", "do", "go"):
        return {"have": "has", "be": "is", "do": "does", "go": "goes"}[verb]
    if re.search(r"(?:s|sh|ch|x|z)$", verb):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def date_phrase(span: str) -> str | None:
    """Return `span` as it follows a verb ("in 2004", "on 5 March", "last week"), or None when
    the preposition is not certain."""
    if BARE_DATE.match(span):
        return span
    if IN_DATE.match(span):
        return f"in {span}"
    if ON_DATE.match(span):
        return f"on {span}"
    return None


def _text(tokens: Sequence[Any]) -> str:
    """The tokens' text with their own spacing (a subject like "Google's" stays whole)."""
    return "".join(t.text_with_ws for t in tokens).strip()


def _capitalise(text: str) -> str:
    """`text` with a capital first letter, except for names that start in lower case ("eBay")."""
    return text if text[1:2].isupper() else text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Built:
    """A statement built from a question: its text, the lemma of its main verb, and the role the
    span has: "nsubj" / "nsubjpass" (the subject, active or passive), "object" or "adjunct"
    (when, where)."""

    text: str
    verb: str
    role: str


def build(
    question: QuestionAnalysis, doc: Any, span: str, irregular: Mapping[str, str]
) -> Built | None:
    """Return the statement that answers `question` with `span`, without final punctuation
    ("Roger Federer won the Australian Open"), with the verb and the role the span has in it, or
    None when it cannot be built safely (see the module docstring). `doc` is spaCy's parse of the
    question (tags, dependencies, lemmas); `irregular` maps base verbs to their past tense
    (`past_forms`)."""
    if not span.strip() or len(question.parts) > 1 or BAD_CHARACTERS.search(question.text):
        return None
    tokens = [t for t in doc if not t.is_space]
    while tokens and tokens[-1].is_punct:
        tokens.pop()
    if not tokens or len(tokens) > MAX_TOKENS or any(t.is_punct and t.tag_ != "HYPH" and t.text != "'s" for t in tokens):
        return None
    wh = tokens[0].lower_
    if wh not in WH_WORDS:
        return None
    # The question phrase and, for "how many X" / "which X", its noun phrase.
    at = 1
    if wh == "how":
        if len(tokens) < 3 or tokens[1].lower_ not in ("much", "many"):
            return None
        at = 2
    focus_start = at
    if wh in ("which", "what", "how"):
        while at < len(tokens) and tokens[at].tag_ in FOCUS_TAGS:
            at += 1
    focus = tokens[focus_start:at]
    rest = tokens[at:]
    if not rest or (wh == "how" and tokens[1].lower_ == "many" and not focus):
        return None
    answer = span
    if wh == "how" and tokens[1].lower_ == "many":
        head = focus[-1].lower_
        if head not in span.lower():  # "200" -> "200 jobs"; "200 jobs" stays as it is
            of = " of" if span.split()[-1].lower() in ROUND_NUMBERS else ""  # "thousands of hunt meets"
            answer = f"{span}{of} {_text(focus)}"
    elif wh == "how" and question.answer_type is not AnswerType.MONEY and focus:
        return None  # "How much oil ...": the span may or may not carry its unit
    kind = question.answer_type
    first = rest[0]
    # A subject question: the question phrase is followed by the verb ("Who won ...", "Which
    # company is buying ...", "How much was paid for ..."), not by an inverted auxiliary.
    inverted = first.lemma_ in AUXILIARIES and first.tag_ in FINITE_TAGS and not (
        len(rest) > 1 and rest[1].tag_ in VERB_TAGS
    )
    if first.tag_ in FINITE_TAGS and not inverted:
        if wh in ("when", "where"):
            return None
        group = 1
        while group < len(rest) and rest[group].tag_ in VERB_TAGS:
            group += 1
        main = rest[group - 1]
        passive = main.tag_ == "VBN" and any(t.lemma_ == "be" for t in rest[: group - 1])
        if main.lemma_ == "be":
            return None  # "Who is the boss?": a copula says too little to check (see `stated_by`)
        return Built(f"{_capitalise(answer)} {_text(rest)}", main.lemma_.lower(), "nsubjpass" if passive else "nsubj")
    if not inverted:
        return None
    # An inverted question: "[did] [Google] [pay] [for YouTube]", "[was] [X] [sold] [for]".
    aux = first
    verb_at = next((i for i in range(1, len(rest)) if rest[i].tag_ in VERB_TAGS), None)
    end_subject = verb_at if verb_at is not None else len(rest)
    subject = rest[1:end_subject]
    if not subject or any(t.tag_ not in NOUN_PHRASE_TAGS for t in subject) or subject[-1].tag_ in ("IN", "CC", "DT"):
        return None
    if verb_at is None:  # "When is the final?", "Who was the winner?": a copula
        return None
    group_end = verb_at + 1
    while group_end < len(rest) and rest[group_end].tag_ in VERB_TAGS:
        group_end += 1
    main = rest[group_end - 1]
    while group_end < len(rest) and rest[group_end].tag_ == "RP":  # "set aside", "pay back"
        group_end += 1
    tail = rest[group_end:]
    if any(t.tag_ in VERB_TAGS or t.lower_ in WH_WORDS for t in tail):
        return None  # a second clause
    if aux.lemma_ == "do":
        if group_end - verb_at - sum(1 for t in rest[verb_at:group_end] if t.tag_ == "RP") != 1 or rest[verb_at].tag_ != "VB":
            return None
        base = rest[verb_at].lower_
        if aux.tag_ == "VBD":
            inflected = past_tense(base, irregular)
        elif aux.lower_ == "does":
            inflected = third_person(base)
        else:
            inflected = base
        if inflected is None:
            return None
        verbs = " ".join([inflected, *(t.text for t in rest[verb_at + 1 : group_end])])
    else:
        verbs = f"{aux.lower_} {_text(rest[verb_at:group_end])}"
    stranded = bool(tail) and tail[-1].tag_ in PREPOSITION_TAGS
    before = f"{_capitalise(_text(subject))} {verbs}"
    after = _text(tail)
    verb = main.lemma_.lower()
    if wh == "when":
        placed = date_phrase(span) if kind is AnswerType.DATE and not stranded else None
        return None if placed is None else Built(" ".join(p for p in (before, after, placed) if p), verb, "adjunct")
    if wh == "where":
        if stranded:
            return Built(f"{before} {after} {answer}", verb, "adjunct")
        if verb in MOTION_VERBS:
            return None
        return Built(" ".join(p for p in (before, after, f"in {answer}") if p), verb, "adjunct")
    if stranded:  # "How much was X sold for?" -> "X was sold for $800m"
        return Built(f"{before} {after} {answer}", verb, "object")
    return Built(" ".join(p for p in (before, answer, after) if p), verb, "object")


SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"})
HOPS = 3  # "$800m" -> "for" -> "sold"; "600" -> "schools" -> "signed"


def stated_by(built: Built, doc: Any, start: int, end: int) -> bool:
    """True when the parse `doc` of the passage sentence that holds the span (at character
    offsets `start`, `end` in it) has the span where the built sentence puts it: within a few
    dependency arcs below a verb of the question's verb's lemma, as its subject (active or
    passive, as in the question) for a subject question, not as its subject for an object
    question. So "Turkey's Everasia is reported by Reuters to have won ..." does not make
    "Reuters was reported to have won ...", nor "Nintendo has sold almost 4m DS consoles"
    "... had racked up almost 4m advance orders"."""
    inside = [t for t in doc if t.idx >= start and t.idx + len(t.text) <= end]
    indices = {t.i for t in inside}
    heads = [t for t in inside if t.head.i not in indices or t.head.i == t.i]
    if not heads:
        return False
    child = heads[0]
    for _ in range(HOPS):
        parent = child.head
        if parent.i == child.i:
            return False
        if parent.lemma_.lower() == built.verb and parent.pos_ in ("VERB", "AUX"):
            if built.role == "object":
                return child.dep_ not in SUBJECT_DEPS
            return built.role == "adjunct" or child.dep_ == built.role
        child = parent
    return False


class AnswerSentences:
    """Builds the short answer's sentence with the reader's spaCy pipeline (`analyser`: a
    `SentenceAnalyser`; the question is parsed once per answer that leads with a span)."""

    def __init__(self, analyser: Any, *, cache_size: int = CACHE_SIZE) -> None:
        self.analyser = analyser
        self.cache_size = cache_size
        self._pasts: dict[str, str] | None = None
        self._built: OrderedDict[tuple[str, str], Built | None] = OrderedDict()
        self._lock = threading.Lock()

    def build(self, question: QuestionAnalysis, span: str) -> Built | None:
        """Return the statement that answers `question` with `span` (see `build`), or None.
        Blocking: parses the question (once: a repeated question and span come from a cache).
        Raises OSError when the spaCy model is not installed."""
        key = (question.text, span)
        with self._lock:
            if key in self._built:
                self._built.move_to_end(key)
                return self._built[key]
        if self._pasts is None:
            self._pasts = self.analyser.verb_pasts()
        built = build(question, self.analyser.parse(question.text), span, self._pasts)
        with self._lock:
            self._built[key] = built
            while len(self._built) > self.cache_size:
                self._built.popitem(last=False)
        return built

    def stated(self, question: QuestionAnalysis, span: str, sentence: str, start: int) -> str | None:
        """Return the built statement when the passage `sentence`, which holds `span` at
        character `start`, states it (`stated_by`), else None. Blocking: parses the question and
        the sentence."""
        built = self.build(question, span)
        if built is None or sentence[start : start + len(span)] != span:
            return None
        # The statement repeats the question's years and numbers: the sentence must give them too
        # ("won the 2022 NHL Stanley Cup Finals" is not "won the Stanley Cup in 2019").
        if any(n not in sentence for n in (*question.years, *question.numbers)):
            return None
        return built.text if stated_by(built, self.analyser.parse(sentence), start, start + len(span)) else None
