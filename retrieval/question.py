"""What a question asks: the type of answer it expects, its focus, its constraints, and whether it
asks for something that happened or for a plan.

TREC-style question analysis with patterns (no model): "Who replaced him?" expects a person or
an organisation; "How much was paid?" an amount of money; "Which company bought Skype?" an
organisation, because "company" is the focus; "What was the verdict?" the outcome of an event.
The reader (`retrieval.reader`) looks for spans of that type in the passages, and the
abstention policy uses whether it found any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from retrieval.text import NUMBER, entities


class AnswerType(str, Enum):
    """The kind of answer a question expects."""

    PERSON = "person"  # who: a person or an organisation ("Who bought Skype?")
    ORGANISATION = "organisation"  # which company / team / party
    MONEY = "money"  # how much (paid, cost, worth), what price / fee / value
    QUANTITY = "quantity"  # how much of something that is not money, how big / long / fast
    COUNT = "count"  # how many
    PERCENT = "percent"  # what share / percentage
    DATE = "date"  # when, which year / day
    PLACE = "place"  # where, which country / city
    WORK = "work"  # which film / song / book / game
    ENTITY = "entity"  # which / what X, X of no kind above
    OUTCOME = "outcome"  # what verdict / result / score / sentence, who won, what did X decide
    REASON = "reason"  # why
    YES_NO = "yes_no"  # did / is / will ...
    DESCRIPTION = "description"  # anything else ("What did X say about Y?")


# The focus noun of "which/what X" -> the type of X. Nouns not listed give ENTITY.
FOCUS_TYPES: dict[AnswerType, frozenset[str]] = {
    AnswerType.PERSON: frozenset(
        """person man woman actor actress singer player golfer captain manager coach minister
        politician candidate leader president chancellor chairman chief executive boss director
        author novelist writer artist musician star presenter campaigner striker goalkeeper
        champion winner driver rider boxer footballer cricketer tennis judge mp bishop pope
        businessman tycoon founder official spokesman spokeswoman economist analyst professor lecturer researcher scientist doctor flanker
        prop lock wing"""
        .split()
    ),
    AnswerType.ORGANISATION: frozenset(
        """company firm group team side club band party bank airline carrier automaker carmaker
        maker manufacturer retailer network broadcaster channel newspaper paper agency
        organisation organization union body regulator studio label publisher operator
        supplier brand chain business giant rival bidder buyer insurer lender court charity
        magazine society regiment university school college""".split()
    ),
    AnswerType.PLACE: frozenset(
        """country city town nation state region place venue stadium ground island capital
        county province village area continent""".split()
    ),
    AnswerType.WORK: frozenset("film movie song album book novel game show series play single title".split()),
    AnswerType.DATE: frozenset("year day date month season time decade".split()),
    AnswerType.MONEY: frozenset("price fee value cost sum amount salary fine bid prize pay damages".split()),
    AnswerType.PERCENT: frozenset("percentage share proportion rate chance".split()),
    AnswerType.QUANTITY: frozenset("size majority distance speed weight length height margin".split()),
    AnswerType.OUTCOME: frozenset("verdict outcome result score sentence decision ruling winner".split()),
}

MONEY_WORDS = re.compile(
    r"\b(?:pay|paid|cost|costs|spend|spent|worth|price|fee|raise|raised|sell|sold|buy|bought|sale|takeover|bid|offer|offered|"
    r"invest|invested|valued|value|earn|earned|make|made|fine|fined|damages|compensation|owe|"
    r"owed|debt|profit|profits|loss|losses|revenue|sales|budget|funding|deal)\b",
    re.I,
)
# Verbs that ask who came out ahead of an event: "Who won", "Which side lifted the cup".
WIN_WORDS = re.compile(r"\b(?:won|win|wins|beat|lifted|clinched|claimed|took the title|was declared the winner)\b", re.I)
OUTCOME_VERBS = re.compile(
    r"\b(?:decide|decided|rule|ruled|conclude|concluded|find|found|sentence|sentenced|verdict|"
    r"outcome|result|end up|ended up|turn out|turned out|go ahead|went ahead|pass|passed|"
    r"approve|approved|reject|rejected|vote|voted)\b",
    re.I,
)
# Words that make a question about the future or an intention rather than something done.
PLAN_WORDS = re.compile(
    r"\b(?:will|would|shall|is to|are to|was to|were to|plans? to|planned to|planning to|"
    r"intends? to|going to|is expected to|are expected to|hopes? to|aims? to|set to|due to|"
    r"proposed?|proposing)\b",
    re.I,
)
# Words that insist on the realised outcome ("finally", "in the end").
DONE_WORDS = re.compile(
    r"\b(?:finally|eventually|ultimately|in the end|ended up|actually|did .{0,60}\bgo ahead|"
    r"was (?:elected|appointed|named|chosen|selected|declared|given|awarded|sentenced|convicted|"
    r"cleared|sold|bought))\b",
    re.I,
)
PAST_AUX = re.compile(r"\b(?:did|was|were|had|has|have)\b", re.I)
PAST_VERB = re.compile(r"\b[a-z]{3,}ed\b|\b(?:won|beat|took|bought|sold|paid|became|gave|made|went|got|left|lost|chose|set|put|ran|came|said|told)\b", re.I)

OUTLETS = ("BBC", "CNN", "USA Today", "The Week", "NPR", "Reuters", "AP", "The Guardian", "The Times")
MONTHS = "january february march april may june july august september october november december".split()
DATE_PHRASE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)? (?:{'|'.join(MONTHS)})|(?:{'|'.join(MONTHS)}) \d{{1,2}}(?:st|nd|rd|th)?)"
    rf"(?:,? (?:19|20)\d\d)?\b|\b(?:{'|'.join(MONTHS)})(?: (?:19|20)\d\d)\b",
    re.I,
)
YEAR = re.compile(r"(?<![\d£$€.,])(?:19|20)\d\d(?![\d%])")

_LEAD = re.compile(
    r"^(?:and|but|so|also|then|now|ok|okay|according to [^,]{1,60},|approximately|roughly|about|"
    r"around|nearly|almost|exactly|precisely|in|on|at|for|to|from|by|of|with|under|during)\s+",
    re.I,
)


@dataclass(frozen=True)
class QuestionAnalysis:
    """What a question asks. `names` and `numbers` are the question's constraints: a candidate
    answer that repeats them is not an answer."""

    text: str
    answer_type: AnswerType
    focus: str = ""  # the noun after which/what/how ("company", "verdict", "seats"), lower case
    wh: str = ""  # the question word that decides the type ("how much", "who", "which"...)
    names: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    years: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    outlet: str = ""
    asks_plan: bool = False  # "What will X do?", "When is the trial due to start?"
    asks_outcome: bool = False  # asks for something that happened: a result, a buyer, a price paid
    parts: tuple[AnswerType, ...] = field(default_factory=tuple)  # "Who bought X, and for how much?"

    @property
    def typed(self) -> bool:
        """True when the expected answer is a span of a kind the reader can recognise."""
        return self.answer_type not in (AnswerType.REASON, AnswerType.YES_NO, AnswerType.DESCRIPTION)


PERSON_SUFFIXES = ("ist", "rapper", "sprinter", "general", "official", "lock", "keeper")


def _focus_type(noun: str) -> AnswerType | None:
    singular = noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun
    for answer_type, nouns in FOCUS_TYPES.items():
        if noun in nouns or singular in nouns:
            return answer_type
    if singular.endswith(PERSON_SUFFIXES):  # "which novelist", "which rapper"
        return AnswerType.PERSON
    return None


FUNCTION_WORDS = frozenset(
    """is are was were did does do has have had will would can could should of in on at for to from
    by with that who which and or than as after before when while during since be been being""".split()
)
DETERMINERS = frozenset("the a an his her its their this that these those".split())


def _focus_after(words: list[str], start: int) -> tuple[str, AnswerType | None]:
    """The focus of the noun phrase starting at `words[start]` and its type: the first word of a
    known kind ("which overseas company is buying" -> "company"), else the phrase's last word
    before a function word or a past-tense verb."""
    head = ""
    for word in words[start : start + 6]:
        if word in DETERMINERS and not head:
            continue
        if word in FUNCTION_WORDS or (head and re.fullmatch(r"[a-z]+ed|won|beat|took|went|got|made|gave|became", word)):
            break
        if word.endswith("'s"):  # "Blackburn's reported bid": the owner is not the focus
            head = ""
            continue
        kind = _focus_type(word)
        if kind is not None:
            return word, kind
        head = word
    return head, None


def _part_type(clause: str, context: str = "") -> tuple[AnswerType, str, str]:
    """The answer type, focus and question word of one clause of a question; `context` is the
    whole question ("Who bought X, and for how much?": the money is in the first clause)."""
    text = clause.strip().lower()
    while (lead := _LEAD.match(text)) is not None:
        text = text[lead.end():]
    words = re.findall(r"[a-z0-9']+", text)
    if not words:
        return AnswerType.DESCRIPTION, "", ""
    joined = " ".join(words)
    if match := re.search(r"\bhow (much|many)\b", joined):
        at = len(joined[: match.end()].split())
        focus = words[at] if at < len(words) and words[at] not in FUNCTION_WORDS else ""
        if match.group(1) == "many":
            return AnswerType.COUNT, focus, "how many"
        kind = _focus_type(focus) if focus else None
        if kind is AnswerType.MONEY or MONEY_WORDS.search(context or text) or re.search(r"[£$€]", context or clause):
            return AnswerType.MONEY, focus, "how much"
        return AnswerType.QUANTITY, focus, "how much"
    if match := re.search(r"\bhow (long|big|fast|far|old|tall|high|large|heavy|deep|often)\b", joined):
        return AnswerType.QUANTITY, match.group(1), "how " + match.group(1)
    if re.search(r"\bwhy\b", joined):
        return AnswerType.REASON, "", "why"
    if words[0] == "when" or re.search(r"\bsince when\b", joined):
        return AnswerType.DATE, "", "when"
    if words[0] == "where" or re.search(r"^(?:in|to|from) where\b", joined):
        return AnswerType.PLACE, "", "where"
    if words[0] in ("who", "whom", "whose", "who's"):
        return AnswerType.PERSON, "winner" if WIN_WORDS.search(text) else "", "who"
    # "which"/"what" anywhere ("In Pew's survey, what proportion ..."; "... on which record label?")
    wh_at = next((i for i, w in enumerate(words) if w in ("which", "what")), None)
    if wh_at is not None:
        wh = words[wh_at]
        focus, kind = _focus_after(words, wh_at + 1)
        if kind is None and focus in ("", "one", "of"):
            focus = ""
        if not focus and wh_at + 1 < len(words) and words[wh_at + 1] in ("is", "was", "are", "were"):
            # "What was the verdict?", "What is Blackburn's bid?" (but in "What did the court
            # decide?" the court is the subject, not what is asked)
            focus, kind = _focus_after(words, wh_at + 2)
        if kind is not None:
            return kind, focus, wh
        if OUTCOME_VERBS.search(text):
            return AnswerType.OUTCOME, focus, wh
        if focus and words[wh_at + 1 : wh_at + 2] != [focus] and wh_at + 1 < len(words) and words[wh_at + 1] in FUNCTION_WORDS:
            return AnswerType.DESCRIPTION, focus, wh  # "What was the size of X?": the X's size
        return (AnswerType.ENTITY if focus else AnswerType.DESCRIPTION), focus, wh
    if words[0] in ("did", "does", "do", "is", "are", "was", "were", "has", "have", "had", "will", "can", "could", "would", "should"):
        return AnswerType.YES_NO, "", words[0]
    if "who" in words or "whom" in words:  # "Carlos Moya pulled out ... Who knocked ..."
        return AnswerType.PERSON, "", "who"
    return AnswerType.DESCRIPTION, "", ""


def analyse(question: str) -> QuestionAnalysis:
    """Return what `question` asks. Raises ValueError when the question is empty."""
    text = " ".join(question.split())
    if not text:
        raise ValueError("question: empty")
    # "Who bought X, and for how much?": each clause asks for something; the first decides the type.
    clauses = [c for c in re.split(r",?\s+and\s+(?=(?:for\s+|in\s+|at\s+)?(?:who|whom|what|which|when|where|why|how)\b)", text, flags=re.I) if c]
    parts = tuple(_part_type(c, text)[0] for c in clauses)
    answer_type, focus, wh = _part_type(clauses[0], text)
    if answer_type is AnswerType.YES_NO and len(parts) > 1:
        answer_type, focus, wh = _part_type(clauses[1], text)
    found = entities(text)
    openers = {text_word.lower() for text_word in re.findall(r"^\W*(\w+)", text)}
    names = tuple(
        n for n in found if not NUMBER.match(n) and not (" " not in n and n.lower() in openers) and n not in OUTLETS
    )
    numbers = tuple(n for n in found if NUMBER.match(n))
    years = tuple(dict.fromkeys(YEAR.findall(text)))
    dates = tuple(dict.fromkeys(m.group(0) for m in DATE_PHRASE.finditer(text)))
    outlet = next((o for o in OUTLETS if re.search(rf"\b{re.escape(o)}\b", text)), "")
    asks_plan = bool(PLAN_WORDS.search(text)) and not DONE_WORDS.search(text)
    past = bool(PAST_AUX.search(text) or PAST_VERB.search(text) or DONE_WORDS.search(text))
    asks_outcome = not asks_plan and past and answer_type not in (AnswerType.REASON, AnswerType.DESCRIPTION)
    return QuestionAnalysis(
        text=text,
        answer_type=answer_type,
        focus=focus,
        wh=wh,
        names=names,
        numbers=numbers,
        years=years,
        dates=dates,
        outlet=outlet,
        asks_plan=asks_plan,
        asks_outcome=asks_outcome,
        parts=parts,
    )
