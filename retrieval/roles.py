"""Different names for one role: the articles name different people as the holder of what a
"who" question asks about.

A question that asks who holds a role ("Who is the new head of X?", "Who will lead X?", "Who was
named X's coach?") is answered with the best sentences; when the passages that answer it name
different people for that role, the answer says so first, newest first, each person with the
outlet, date and citation of the newest article that names them:

    The articles name different people, newest first: USA Today, 8 May 2025: Robert Prevost [2];
    CNN, 1 May 2025: Pietro Parolin [1].

A person is named for the role when spaCy finds their full name (PERSON, two capitalised words
past any title: "Enzo Maresca", "Leo XIV") within `ROLE_WINDOW` words of the
role noun or the question's verb ("named", "elected", "replaced"...) in a sentence nearly as
relevant as the best one that states it: a sentence that announces or speculates ("could be
named", "is tipped to", "is expected to", "a leading candidate") names no one. Two names are the
same person when they share a surname or one is contained in the other ("Prevost", "Cardinal
Robert Prevost"); names in one article's sentences about the role are taken as one person's
("Robert Prevost ... took the name Leo XIV"), since strings cannot tell that "Leo XIV" is
"Robert Prevost". Conservative by design: a false report is worse than a missed one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from retrieval.candidates import ANNOUNCED, UNDISCLOSED
from retrieval.evidence import ScoredSentence, SentenceScorer
from retrieval.models import Passage
from retrieval.question import OUTLETS, AnswerType, analyse
from retrieval.sentence_analysis import SentenceAnalyser
from retrieval.text import format_date, stem_words, terms

log = logging.getLogger(__name__)

# A sentence names someone for the role when it scores at least this share of the best sentence's
# relevance: the figures' ratio (`retrieval.disagreement.RELEVANT_RATIO`), not fitted for names.
RELEVANT_RATIO = 0.6
# ROLE_WINDOW and the rules below were fitted on 13 role questions over the usatoday-rtqa pope,
# DOGE and FEMA articles (false reports 3/13 -> 0/13) and checked on bbc-qa dev (0 reports in 141
# answers); none of the 13 has a true disagreement, so what they miss is not measured.
ROLE_WINDOW = 6  # at most this many words between a name and the role noun or verb minus one ("Robert Prevost was elected pope")
MAX_SHOWN = 4  # people listed
MAX_SPAN_DAYS = 180  # articles further apart speak of different moments (as for figures)

DIFFERENT_PEOPLE = "The articles name different people, newest first: "

# Nouns of a role someone holds: "Who is the new head of X?", "Who is Chelsea's manager?".
ROLE_NOUNS = frozenset(
    stem_words(
        """head leader chief boss president chairman chairwoman chair ceo executive director manager
        coach captain pope pontiff minister secretary governor mayor speaker successor replacement
        commissioner ambassador editor chancellor premier commander principal conductor""".split()
    )
)
# Verbs of filling a role, as a question asks them ("Who was named ...", "Who will lead ..."),
# with the stems a sentence may say them in.
PREDICATES: dict[str, frozenset[str]] = {
    stem: frozenset(stem_words(words.split()))
    for stem, words in {
        "name": "name named names",
        "appoint": "appoint appointed appoints appointment",
        "elect": "elect elected elects election",
        "chosen": "chosen choose chose chooses",
        "pick": "pick picked picks",
        "select": "select selected selects selection",
        "hire": "hire hired hires",
        "replac": "replace replaced replaces replacement successor succeeded",
        "succeed": "succeed succeeded succeeds successor replace replaced",
        "lead": "lead leads leader led",
        "head": "head heads headed",
    }.items()
}
# Verbs whose subject appoints rather than holds ("Chelsea named Maresca"), and the words that
# make a name before them the one appointed ("Maresca was named").
_APPOINTING = frozenset(stem_words("name named appoint appointed elect elected chosen choose chose pick picked select selected hire hired".split()))
_PASSIVE = frozenset("was were is are be been being".split())
# What may stand between "who" and the role or verb: "who will be the next", "who has been".
_BEFORE_ROLE = frozenset(
    """is was will would be been has have had became becomes become the a new next current incoming
    interim acting permanent latest going to now""".split()
)
# Speculation that ANNOUNCED / UNDISCLOSED leave out: a favourite is not a holder.
SPECULATION = re.compile(
    r"\b(?:tipped|touted|could|may|might|would|favou?rites?|front-?runners?|candidates?|contenders?|"
    r"rumou?red|linked with|considered|possible|potential|likely|shortlist(?:ed)?|reportedly|odds|"
    r"in the running|eligible|if)\b",
    re.I,
)
# Words before a name that say what someone is, not who: "Cardinal Robert Prevost".
_TITLES = frozenset(
    """cardinal pope archbishop bishop father president senator governor mayor minister prime
    chancellor king queen prince princess sir dame lord lady mr mrs ms miss dr coach manager
    general gen rep sen judge justice""".split()
)
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_YEAR = re.compile(r"(?<![\d£$€.,])(?:1[0-9]|20)\d\d(?![\d%])")


@dataclass(frozen=True)
class Naming:
    """The person one article names for the role, with the sentence that names them."""

    shown: str  # "Robert Prevost"
    aliases: tuple[str, ...]  # every name its sentences give for the role
    sentence: ScoredSentence
    passage: Passage


@dataclass(frozen=True)
class RoleDisagreement:
    """The different people the articles name for one role: one naming a person, newest first."""

    namings: tuple[Naming, ...]


def role_terms(question: str) -> frozenset[str]:
    """Return the stems that mark a sentence as naming the holder of the role `question` asks
    about, or an empty set when it asks for no role holder ("Who bought Skype?", "Who won?").

    "Who is the new head of X?" gives {"head"}; "Who was named X's coach?" {"name", "coach"};
    "Who will lead X?" {"lead", "leader", "led"}."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words or words[0] not in ("who", "who's"):
        return frozenset()
    rest = words[1:]
    at = 0
    while at < len(rest) and (rest[at] in _BEFORE_ROLE or rest[at].endswith(("'s", "’s"))):
        at += 1
    if at >= len(rest):
        return frozenset()
    head = stem_words([rest[at]])[0]
    found: set[str] = set()
    if head in ROLE_NOUNS:
        found.add(head)
    elif head in PREDICATES:
        found |= PREDICATES[head]
    else:
        return frozenset()
    found |= {s for s in stem_words(rest[at + 1 :]) if s in ROLE_NOUNS}
    return frozenset(found)


def _name_words(name: str) -> list[str]:
    words = [re.sub(r"['’]s$", "", w).lower() for w in _WORD.findall(name)]
    while len(words) > 1 and words[0] in _TITLES:
        words = words[1:]
    return words


def same_person(a: str, b: str) -> bool:
    """True when `a` and `b` may name the same person: one's words are among the other's
    ("Prevost", "Cardinal Robert Prevost") or they share a surname ("Robert Prevost", "Bob
    Prevost")."""
    wa, wb = _name_words(a), _name_words(b)
    if not wa or not wb:
        return False
    return set(wa) <= set(wb) or set(wb) <= set(wa) or wa[-1] == wb[-1]


class RoleFinder:
    """Finds the different people the passages name for the role a question asks about."""

    def __init__(self, scorer: SentenceScorer, analyser: SentenceAnalyser) -> None:
        self.scorer = scorer
        self.analyser = analyser

    def find(self, question: str, passages: Sequence[Passage]) -> RoleDisagreement | None:
        """Return the different people the passages name for the role `question` asks about, or
        None when it asks for no role holder, or they name one person (blocking: embeds the
        question and runs spaCy on the relevant sentences)."""
        analysis = analyse(question)
        if analysis.answer_type is not AnswerType.PERSON or not passages:
            return None
        roles = role_terms(question)
        if not roles:
            return None
        evidence = self.scorer.score(question, passages)
        best = evidence.best_relevance
        relevant = [
            s for s in evidence.sentences  # best first
            if s.relevance >= RELEVANT_RATIO * best and "?" not in s.text
            and not (ANNOUNCED.search(s.text) or UNDISCLOSED.search(s.text) or SPECULATION.search(s.text))
            and _names_present(analysis.names, s.text)
        ]
        if not relevant:
            return None
        try:
            analyses, _ = self.analyser.analyse([s.text for s in relevant])
        except OSError as e:
            log.warning("role disagreements skipped: the spaCy model is not installed (%s)", e)
            return None
        per_article: dict[str, Naming] = {}
        for sentence, found in zip(relevant, analyses):
            people = [sentence.text[start:end] for start, end, label in found.entities if label == "PERSON"]
            near = _near_role(sentence.text, people, roles)
            near = [n for n in near if n not in OUTLETS and not any(same_person(n, q) for q in analysis.names)]
            if not near:
                continue
            passage = passages[sentence.passage_index]
            if _of_another_year(sentence.text, passage):
                continue  # "the 2013 conclave that elected Francis": a past holder
            known = per_article.get(passage.source_id)
            if known is None:
                per_article[passage.source_id] = Naming(near[0], tuple(near), sentence, passage)
            else:  # every name one article gives for the role is taken as the same person's
                aliases = known.aliases + tuple(n for n in near if n not in known.aliases)
                per_article[passage.source_id] = Naming(known.shown, aliases, known.sentence, known.passage)
        if len(per_article) < 2:
            return None
        first = next(iter(per_article.values()))
        when = _aware(first.passage.published_at)
        kept = [n for n in per_article.values() if _same_period(_aware(n.passage.published_at), when)]
        undated = datetime.min.replace(tzinfo=timezone.utc)
        kept.sort(key=lambda n: _aware(n.passage.published_at) or undated, reverse=True)
        distinct: list[Naming] = []  # the newest naming of each person
        for naming in kept:
            if not any(same_person(a, b) for other in distinct for a in naming.aliases for b in other.aliases):
                distinct.append(naming)
        if len(distinct) < 2:
            return None
        return RoleDisagreement(tuple(distinct))


def _near_role(text: str, people: list[str], roles: frozenset[str]) -> list[str]:
    """The names among `people` (as they stand in `text`) within `ROLE_WINDOW` words of a word
    of `roles`, nearest first. No other capitalised word may stand between the name and the role
    word ("Donald Trump tapped Musk to lead" names Musk, not Trump), and a name before a verb of
    appointing must be its passive subject ("Maresca was named", not "Chelsea named")."""
    words = [w.group(0) for w in _WORD.finditer(text)]
    starts = [w.start() for w in _WORD.finditer(text)]
    stems = stem_words([w.lower() for w in words])
    # A capitalised role word before a name is that one's title ("the soul of Pope Francis").
    role_at = [
        i for i, s in enumerate(stems)
        if s in roles and not (words[i][0].isupper() and i + 1 < len(words) and words[i + 1][0].isupper())
    ]
    if not role_at:
        return []
    found: list[tuple[int, str]] = []
    for name in dict.fromkeys(people):
        start = text.find(name)
        inside = [i for i, at in enumerate(starts) if start <= at < start + len(name)]
        if not inside or sum(w[0].isupper() and w.lower() not in _TITLES for w in _WORD.findall(name)) < 2:
            continue  # a full name only: "Jesus", "Francis" or spaCy's PERSON "pope" may be anyone
        gaps = []
        for r in role_at:
            between = words[inside[-1] + 1 : r] if r > inside[-1] else words[r + 1 : inside[0]]
            if r in inside or len(between) >= ROLE_WINDOW or any(w[0].isupper() for w in between):
                continue
            if r > inside[-1] and stems[r] in _APPOINTING and words[r - 1].lower() not in _PASSIVE:
                continue
            gaps.append(len(between))
        if gaps:
            found.append((min(gaps), name))
    return [name for _, name in sorted(found)]


def _of_another_year(text: str, passage: Passage) -> bool:
    """True when `text` names a year other than its article's: it tells of an earlier holder."""
    published = passage.published_at
    return any(published is None or int(year) != published.year for year in _YEAR.findall(text))


def _names_present(names: Sequence[str], text: str) -> bool:
    sentence_terms = set(terms(text))
    return all(set(terms(name)) - set(stem_words(_TITLES)) <= sentence_terms for name in names)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _same_period(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs((a - b).days) <= MAX_SPAN_DAYS


def render(found: RoleDisagreement, cite: Callable[[Passage, str], int]) -> str:
    """Return the sentence that shows the people, newest first; `cite(passage, quote)` gives the
    `[n]` of the passage that names one."""
    parts = []
    for naming in found.namings[:MAX_SHOWN]:
        published = naming.passage.published_at
        when = format_date(published.date()) if published else "undated"
        outlet = naming.passage.outlet or naming.passage.title
        parts.append(f"{outlet}, {when}: {naming.shown} [{cite(naming.passage, naming.sentence.text)}]")
    return DIFFERENT_PEOPLE + "; ".join(parts) + "."
