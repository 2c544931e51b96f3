"""The one text analyzer: words, stems, stopwords, names, numbers, sentences and dates.

Keyword search (`retrieval.keyword`), sentence scoring (`retrieval.evidence`), the answerers and
the conversation engine all read text through this module, so a word, a name or a sentence means
the same thing everywhere.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import date

# --- stopwords ------------------------------------------------------------------------------

# Words that carry no topic when scoring a sentence against a question, or when picking the
# topic words of a turn: function words, and the reporting and question verbs of news questions
# ("according", "said", "tell", "kind of").
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours according said say says tell told
    much many whose whether did does one ones kind sort get got""".split()
)

# The BM25 index's stopwords: bm25s's English list (`bm25s.stopwords.STOPWORDS_EN`, as of bm25s 0.3.16), copied
# here so that an upgrade of bm25s cannot change the terms of a saved index behind its manifest.
# It differs from STOPWORDS on purpose: it is the list every keyword index so far was built and
# scored with (`retrieval.keyword.ANALYZER` names it), and BM25's IDF already discounts common
# reporting verbs; changing it would change every BM25 score and force a rebuild of every index.
INDEX_STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then
    there these they this to was will with""".split()
)

# What may be left of a question once its filters are cut out ("What did the BBC report last
# week?" leaves "What did report"): a leftover of only these words is no question, and the
# question is searched whole. Not merged into STOPWORDS: that would change which questions are
# searched whole ("before", "against", "most" and 98 more words are content here), and "us"
# ("tell us") is filler here but a name ("US") for STOPWORDS' users.
FILLER_WORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its of on or "
    "the to was were what when where which who whom whose why will with tell me us about any "
    "there their news say said report reported happened happen s".split()
)

# Words that open or glue a question rather than name something: a capitalised one opening a
# sentence is not a name ("Which", "How"), and they are not topic words.
QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how is are was were do does did has have had can "
    "could will would should may might tell give show list and but so also then or the a an in on "
    "at for of to from by with about after before during since according former latter".split()
)

# Lower-case words that may sit inside a name ("Department for International Development").
CONNECTORS = frozenset("of for the and de du da la van von der al bin".split())

# --- words and stems ------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9£$€%][\w£$€%.,'’&-]*")
_INDEX_WORD = re.compile(r"(?u)\b\w\w+\b")

_local = threading.local()


def stem_words(words: Iterable[str]) -> list[str]:
    """Return the Snowball English stems of `words` (lower-case words), in order.

    Each thread has its own stemmer: PyStemmer objects are not thread-safe, and answers are
    scored and the keyword index is built in several worker threads at once."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return list(stemmer.stemWords(list(words)))


def terms(text: str) -> list[str]:
    """Return the stemmed content words of `text` (stopwords and question words removed)."""
    raw = [w for w in re.findall(r"[a-z0-9£$€%]+", text.lower().replace("'s ", " ")) if w not in STOPWORDS]
    return stem_words(raw)


def index_words(text: str) -> list[str]:
    """Return the words BM25 indexes of `text`, unstemmed: lower-cased words of 2+ characters
    without `INDEX_STOPWORDS` (`retrieval.keyword.Analyzer` stems them)."""
    return [w for w in _INDEX_WORD.findall(text.lower()) if w not in INDEX_STOPWORDS]


def text_words(text: str) -> list[str]:
    """Return the words of `text` as written (case kept, trailing punctuation removed)."""
    return [w.rstrip(".,'’") for w in _TOKEN.findall(text)]


# --- sentences ------------------------------------------------------------------------------

# A sentence of article text: up to . ! ? (with closing quotes or brackets), or the end of the
# line; paragraphs and the headline line split too.
_TEXT_SENTENCE = re.compile(r"[^\s].*?(?:[.!?]+[\"'”’)\]]*(?=\s)|$)", re.M)
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Gov|Sen|Rep|Rev|Lt|Col|Sgt|Capt|Inc|Ltd|Co|Corp|"
    r"No|vs|etc|approx|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z]|\b(?:[A-Za-z]\.)+[A-Za-z])\.$"
)
# Where names stop: after every . ! ? and at line breaks, abbreviations included. Names and
# sentence openers (`entities`, `sentence_openers`) are read this way, not by `split_sentences`:
# the abstention threshold was calibrated with it, and `split_sentences` gives other openers for
# 120 of 1,670 texts of the question sets and articles ("Mr. Kennedy", `."` endings).
_SENTENCE_GAP = re.compile(r"(?<=[.!?])\s+|\n+")
# Final punctuation, possibly inside closing quotes or brackets: the text ends a sentence.
ENDS_SENTENCE = re.compile(r"[.!?][\"'”’)\]]*$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return the `(start, end)` spans of the sentences of `text`.

    Sentences end at . ! ? and at line breaks; a full stop after a common abbreviation
    ("Mr.", "U.S.") or an initial does not end a sentence.
    """
    return join_abbreviations(text, [(m.start(), m.end()) for m in _TEXT_SENTENCE.finditer(text)])


def join_abbreviations(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return `spans` (sentence spans of `text`, in order) with each span that ends at an
    abbreviation or an initial joined to the next one on the same line; empty spans dropped."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged:
            prev_start, prev_end = merged[-1]
            same_line = "\n" not in text[prev_end:start]
            if same_line and _ABBREVIATION.search(text[prev_start:prev_end]):
                merged[-1] = (prev_start, end)
                continue
        merged.append((start, end))
    return merged


# --- names and numbers ----------------------------------------------------------------------

NUMBER = re.compile(r"^[£$€]?\d[\d,.]*(?:%|m|bn|k)?$")

# Abbreviations news writes both ways: a passage that says "the United States" covers "US".
ALIASES = {
    "us": ("united states", "u.s.", "america", "american", "americans"),
    "uk": ("united kingdom", "britain", "british"),
    "un": ("united nations",),
    "eu": ("european union",),
}

SMALL_NUMBERS = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve".split()))

_AS_OF = re.compile(r"^As of [^:]{3,30}:\s*")
# `[1]`, `[1, 2]`, `[1; 2]`: one group of citation numbers (`retrieval.citations` checks them).
MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")


def plain_answer_text(text: str) -> str:
    """Return answer text without its "As of <date>:" prefix and its `[n]` markers."""
    return MARKER.sub("", _AS_OF.sub("", text)).strip()


def entities(text: str) -> list[str]:
    """Return the capitalised phrases and numbers of `text`, in order, without repeats
    ("Gordon Brown", "Department for International Development", "£50m", "2005").

    A possessive ends a phrase ("India's Tata Steel" gives "India", "Tata Steel"); a capitalised
    question word opening a sentence ("Which", "How") is not a name."""
    text = plain_answer_text(text)
    found: list[str] = []
    seen: set[str] = set()
    for sentence in _SENTENCE_GAP.split(text):
        phrase: list[str] = []

        def flush() -> None:
            while phrase and phrase[-1].lower() in CONNECTORS:
                phrase.pop()
            name = " ".join(phrase)
            if name and name.lower() not in seen:
                seen.add(name.lower())
                found.append(name)
            phrase.clear()

        raw_words = _TOKEN.findall(sentence)
        for i, raw in enumerate(raw_words):
            possessive = bool(re.search(r"['’]s[.,]?$", raw))
            word = re.sub(r"['’]s$", "", raw.rstrip(".,")).rstrip("'’")
            if not word:
                continue
            capital = word[:1].isupper() and not (i == 0 and word.lower() in QUESTION_WORDS)
            if NUMBER.match(word):
                flush()
                if word.lower() not in seen:
                    seen.add(word.lower())
                    found.append(word)
            elif capital and (phrase or word.lower() not in QUESTION_WORDS):
                phrase.append(word)
            elif phrase and word.lower() in CONNECTORS:
                phrase.append(word)
            else:
                flush()
            if possessive or raw.endswith((",", ".")):
                flush()
        flush()
    return found


def sentence_openers(text: str) -> set[str]:
    """Return the first word of each sentence of `text`, lower-cased."""
    openers = set()
    for sentence in _SENTENCE_GAP.split(text):
        words = text_words(sentence)
        if words:
            openers.add(words[0].lower())
    return openers


def number_core(word: str) -> str:
    """Return the digits of a number as written: '£1,500m' -> '1500', '2.9' -> '2.9',
    '2005' -> '2005' ('' when `word` has no digit)."""
    match = re.search(r"\d[\d,.]*", word)
    return match.group(0).replace(",", "").rstrip(".") if match else ""


def stated_numbers(text: str) -> set[str]:
    """Return the numbers `text` states, as `number_core` writes them: with and without thousands
    separators (scraped text has "$30, 000"), decimals also by their whole part ("13.7%" states
    "13" for "more than 13%"), and one to twelve also when spelled out."""
    found: set[str] = set()
    for version in (text, re.sub(r"(?<=\d),(?=\d{3}\b)", "", text), re.sub(r"(?<=\d), (?=\d{3}\b)", "", text)):
        for number in re.findall(r"(?<![\d.])\d+(?:\.\d+)?", version):
            found.add(number)
            found.add(number.partition(".")[0])
    for value, word in SMALL_NUMBERS.items():
        if re.search(rf"\b{word}\b", text, re.I):
            found.add(str(value))
    return found


# --- dates ----------------------------------------------------------------------------------


def format_date(day: date) -> str:
    """Return `day` as people read it: '2 March 2017'."""
    return f"{day.day} {day:%B %Y}"
