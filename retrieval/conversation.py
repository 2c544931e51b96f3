"""The conversation engine behind `newsbot ask`, `newsbot chat` and the Discord bot.

`ConversationEngine.ask(conversation_id, question)`:

1. reads the filters the question states (`parse_filters`: outlet, dates, "latest") and merges
   them with explicit ones;
2. rewrites a follow-up ("what did he say about it?", "and the other one?", "why?") into a
   standalone question from the conversation's history: with the chat model when one is
   configured, else offline (named entities, numbers and topic words of the previous turn carried
   into the query, pronouns replaced when that is unambiguous);
3. retrieves passages and answers with the configured answerer; when the language model is
   unavailable, the extractive answer is given with a notice;
4. records the turn in the history store (in memory, or `SQLiteHistory` to survive restarts),
   bounded by `settings.history_tokens`, oldest turns dropped first.

Async only: blocking work (embedding, retrieval, SQLite) runs in worker threads; model calls use
`ainvoke`. A command-line caller makes one `asyncio.run` around its work.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from langchain_core.embeddings import Embeddings
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from retrieval.citations import strip_markers
from retrieval.disagreement import DisagreementFinder
from retrieval.errors import LLMUnavailableError
from retrieval.extractive import Answerer, ExtractiveAnswerer
from retrieval.models import Answer, Passage, SearchFilters
from retrieval.query import parse_filters
from retrieval.settings import Settings
from retrieval.text import NUMBER, QUESTION_WORDS, STOPWORDS, entities, text_words
from retrieval.timeline import TIMELINE_K, TimelineAnswerer, is_timeline_question
from retrieval.tokens import get_encoding
from retrieval.workers import run_cpu

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

# Receives the answer text as it is produced (a draft the returned `Answer` replaces).
DeltaCallback = Callable[[str], Awaitable[None] | None]

LLM_UNAVAILABLE_NOTICE = (
    "The language model is unavailable right now; this answer was extracted from the articles."
)

CONDENSE_SYSTEM_PROMPT = (
    "Rewrite the user's last message as one standalone question that can be understood without "
    "the conversation: replace pronouns and references with the names and things they refer to. "
    "Keep names, dates and numbers. Do not answer it. Reply with the question only."
)
CONDENSE_TURNS = 3  # previous turns shown to the chat model when condensing
CONDENSE_ANSWER_CHARS = 400


class Retriever(Protocol):
    """What the engine needs from the retriever (`retrieval.hybrid.HybridRetriever`): `asearch`,
    and the outlets in the store as `outlets()` (or `known_outlets()`), for `parse_filters`."""

    async def asearch(self, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]: ...


def known_outlets(retriever: object) -> list[str]:
    """The outlets the retriever's store holds ([] when it cannot say). Blocking."""
    method = getattr(retriever, "known_outlets", None) or getattr(retriever, "outlets", None)
    return list(method()) if callable(method) else []


# --- history --------------------------------------------------------------------------------


class Turn(BaseModel):
    """One question and answer of a conversation, as the history keeps it."""

    question: str
    standalone: str = ""
    answer: str = ""
    abstained: bool = False
    filters: SearchFilters = Field(default_factory=SearchFilters)
    tokens: int = 0


class Retrieved(BaseModel):
    """What retrieval found for one question: the question as searched, the filters, passages."""

    standalone: str
    filters: SearchFilters
    passages: list[Passage]


class HistoryStore(Protocol):
    """Where conversations are kept. Methods block (call them from a thread)."""

    max_tokens: int

    def turns(self, conversation_id: str) -> list[Turn]:
        """Return the kept turns, oldest first."""
        ...

    def add(self, conversation_id: str, turn: Turn, answer: Answer) -> None:
        """Record a turn (dropping the oldest beyond `max_tokens`) and the full last answer."""
        ...

    def last_answer(self, conversation_id: str) -> Answer | None:
        """Return the last answer given in the conversation (for /sources), or None."""
        ...

    def forget(self, conversation_id: str) -> None:
        """Drop everything kept about the conversation."""
        ...


def _kept(tokens: Sequence[int], max_tokens: int) -> int:
    """How many of the newest turns fit in `max_tokens` (the newest always counts)."""
    total = 0
    kept = 0
    for n in reversed(tokens):
        if kept and total + n > max_tokens:
            break
        total += n
        kept += 1
    return kept


class InMemoryHistory:
    """History kept in this process only (lost on restart)."""

    def __init__(self, max_tokens: int = 1200) -> None:
        self.max_tokens = max_tokens
        self._turns: dict[str, list[Turn]] = {}
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()

    def turns(self, conversation_id: str) -> list[Turn]:
        with self._lock:
            return list(self._turns.get(conversation_id, []))

    def add(self, conversation_id: str, turn: Turn, answer: Answer) -> None:
        with self._lock:
            turns = self._turns.setdefault(conversation_id, [])
            turns.append(turn)
            keep = _kept([t.tokens for t in turns], self.max_tokens)
            del turns[: len(turns) - keep]
            self._answers[conversation_id] = answer

    def last_answer(self, conversation_id: str) -> Answer | None:
        with self._lock:
            return self._answers.get(conversation_id)

    def forget(self, conversation_id: str) -> None:
        with self._lock:
            self._turns.pop(conversation_id, None)
            self._answers.pop(conversation_id, None)


class SQLiteHistory:
    """History in a SQLite file: survives restarts, and several processes may share it."""

    def __init__(self, path: Path | str, max_tokens: int = 1200) -> None:
        self.path = Path(path)
        self.max_tokens = max_tokens
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS turns (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "conversation_id TEXT NOT NULL, tokens INTEGER NOT NULL, turn TEXT NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation_id, seq)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS last_answers (conversation_id TEXT PRIMARY KEY, answer TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def turns(self, conversation_id: str) -> list[Turn]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT turn FROM turns WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
        return [Turn.model_validate_json(row[0]) for row in rows]

    def add(self, conversation_id: str, turn: Turn, answer: Answer) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO turns (conversation_id, tokens, turn) VALUES (?, ?, ?)",
                (conversation_id, turn.tokens, turn.model_dump_json()),
            )
            rows = db.execute(
                "SELECT seq, tokens FROM turns WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
            keep = _kept([tokens for _, tokens in rows], self.max_tokens)
            dropped = [seq for seq, _ in rows[: len(rows) - keep]]
            if dropped:
                db.executemany("DELETE FROM turns WHERE seq = ?", [(seq,) for seq in dropped])
            db.execute(
                "INSERT OR REPLACE INTO last_answers (conversation_id, answer) VALUES (?, ?)",
                (conversation_id, answer.model_dump_json()),
            )

    def last_answer(self, conversation_id: str) -> Answer | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT answer FROM last_answers WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        return Answer.model_validate_json(row[0]) if row else None

    def forget(self, conversation_id: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))
            db.execute("DELETE FROM last_answers WHERE conversation_id = ?", (conversation_id,))


# --- follow-ups -----------------------------------------------------------------------------

_PRONOUNS = frozenset("he him his she her hers they them their theirs it its".split())
_PERSONAL = {"he": "", "him": "", "she": "", "his": "'s"}
_DEMONSTRATIVE = re.compile(
    r"(?:^|\b(?:about|for|in|on|at|of|with|from|after|before|during|by|to|over|behind)\s+)"
    r"(?:this|that|these|those)\b",
    re.I,
)
_LEADING = re.compile(
    r"^\s*(?:and|but|so|also|then|or|what about|how about|what else|why|how come|same)\b", re.I
)
_REFERENCE = re.compile(r"\b(?:the other(?: one)?|the same|the former|the latter|the first one|the second one)\b", re.I)
def is_followup(question: str) -> bool:
    """True when `question` probably leans on the conversation: it is very short, starts with
    "and"/"what about"/"why", names "the other one", or uses a pronoun before naming anyone."""
    words = text_words(question)
    if not words:
        return False
    if len(words) <= 3 or _LEADING.match(question) or _REFERENCE.search(question):
        return True
    if _DEMONSTRATIVE.search(question):
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


def rewrite_offline(question: str, history: Sequence[Turn]) -> str:
    """Return `question` made standalone from the last turn of `history`, without a model.

    Pronouns are replaced when the previous question names exactly one person-like phrase;
    the previous turn's entities and topic words not already in the question are appended in
    brackets, which is what retrieval needs. A very short follow-up ("why?") takes the whole
    previous question along."""
    if not history or not is_followup(question):
        return question
    previous = history[-1]
    prev_question = previous.standalone or previous.question
    asked = question.strip()
    if len(text_words(asked)) <= 3:
        return f"{asked} {re.sub(r'[?.!]+$', '', _strip_context(prev_question))}?".strip()

    names = [e for e in entities(_strip_context(prev_question)) if " " in e and not NUMBER.match(e)]
    rewritten = asked
    if len(names) == 1:
        name = names[0]

        def replace(match: re.Match[str]) -> str:
            return name + _PERSONAL[match.group(0).lower()]

        # "her" is left alone: object or possessive, it cannot be told apart cheaply.
        rewritten = re.sub(r"\b(?:he|him|she|his)\b", replace, rewritten, flags=re.I)

    carried: list[str] = []
    answer_entities = [] if previous.abstained else entities(_first_sentence(previous.answer))
    candidates = entities(prev_question) + answer_entities[:4] + keywords(prev_question)
    lowered = rewritten.lower()
    for item in candidates:
        if item.lower() not in lowered and item.lower() not in (c.lower() for c in carried):
            carried.append(item)
    carried = carried[:8]
    return f"{rewritten} ({', '.join(carried)})" if carried else rewritten


def _strip_context(question: str) -> str:
    """The question without the bracketed context an earlier rewrite appended."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", question).strip()


def _first_sentence(text: str) -> str:
    text = strip_markers(re.sub(r"^As of [^:]{3,30}:\s*", "", text))
    return re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0] if text else ""


# --- the engine -----------------------------------------------------------------------------


class ConversationEngine:
    """Answers questions in conversations, keeping per-conversation history.

    `retriever` has `async asearch(query, *, k, filters)` and `outlets()`; `answerer` is an
    `ExtractiveAnswerer` or `LLMAnswerer`; `embeddings` builds the extractive fallback;
    `chat_model` (optional) condenses follow-ups; `history` defaults to an in-memory store
    bounded by `settings.history_tokens`; `today` says what "last week" means.
    """

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        answerer: Answerer,
        embeddings: Embeddings,
        chat_model: BaseChatModel | None = None,
        today: Callable[[], date] = date.today,
        history: HistoryStore | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.answerer = answerer
        fallback = answerer if isinstance(answerer, ExtractiveAnswerer) else getattr(answerer, "extractive", None)
        self.fallback: ExtractiveAnswerer = fallback or ExtractiveAnswerer(settings, embeddings)
        self.timeline = TimelineAnswerer(self.fallback.scorer, self.fallback.policy)
        self.disagreements = DisagreementFinder(self.fallback.scorer)
        self.chat_model = chat_model
        self.today = today
        self.history: HistoryStore = history or InMemoryHistory(settings.history_tokens)
        self._encoding = get_encoding(settings.tokenizer_encoding)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- public API ---------------------------------------------------------------------------

    async def ask(
        self,
        conversation_id: str,
        question: str,
        *,
        filters: SearchFilters | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Answer:
        """Answer `question` in the conversation and remember the turn.

        `filters` (e.g. from slash-command options) win over filters stated in the question.
        `on_delta` receives the answer text as it is produced (a draft; the returned `Answer` is
        the verified one). Raises RetrievalError subclasses from retrieval (EmptyIndexError,
        StoreUnavailableError...); an unavailable language model is not an error: the extractive
        answer comes back with a notice.
        """
        question = question.strip()
        if not question:
            return Answer(question="", text="Ask a question about the news.", abstained=True)
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        async with lock:  # turns of one conversation stay in order
            return await self._ask(conversation_id, question, filters, on_delta)

    async def last_answer(self, conversation_id: str) -> Answer | None:
        """Return the last answer of the conversation (for /sources), or None."""
        return await asyncio.to_thread(self.history.last_answer, conversation_id)

    async def forget(self, conversation_id: str) -> None:
        """Forget the conversation's history and last answer."""
        await asyncio.to_thread(self.history.forget, conversation_id)

    async def standalone_question(self, question: str, history: Sequence[Turn]) -> str:
        """Return `question` rewritten to stand alone: with the chat model when there is one
        (falling back to the offline rewrite when it fails), else offline."""
        if not history or not is_followup(question):
            return question
        if self.chat_model is not None:
            condensed = await self._condense(question, history)
            if condensed:
                return condensed
        return rewrite_offline(question, history)

    # --- steps --------------------------------------------------------------------------------

    async def retrieve(
        self,
        question: str,
        history: Sequence[Turn],
        *,
        explicit: SearchFilters | None = None,
        today: date | None = None,
        k: int | None = None,
    ) -> Retrieved:
        """Parse the filters stated in `question`, rewrite it to stand alone from `history`, and
        retrieve passages (`k`, default settings.retrieval_k). `today` resolves relative dates
        ("last week"); default: the engine's clock."""
        outlets = await asyncio.to_thread(known_outlets, self.retriever)
        searched, stated, _ = parse_filters(question, today=today or self.today(), known_outlets=list(outlets))
        standalone = await self.standalone_question(searched, history)
        filters = merge_filters(explicit, stated)
        if filters.is_empty() and history and standalone != searched:
            filters = history[-1].filters  # a follow-up keeps the scope of what it follows
        log.info("question %r -> %r %s", question, standalone, filters.model_dump(exclude_defaults=True))
        k = k or self.settings.retrieval_k
        if is_timeline_question(standalone):  # a story's events are spread over many articles
            k = max(k, TIMELINE_K)
        passages = await self.retriever.asearch(standalone, k=k, filters=filters)
        return Retrieved(standalone=standalone, filters=filters, passages=passages)

    async def answer_retrieved(
        self, question: str, retrieved: Retrieved, *, on_delta: DeltaCallback | None = None
    ) -> Answer:
        """Answer from what `retrieve` found (its first settings.retrieval_k passages); an
        unavailable language model gives the extractive answer with a notice."""
        passages = retrieved.passages[: self.settings.retrieval_k]
        try:
            if is_timeline_question(retrieved.standalone):
                answer = await self.timeline.answer(retrieved.standalone, retrieved.passages)
                if on_delta is not None and inspect.isawaitable(result := on_delta(answer.text)):
                    await result
            elif on_delta is None:
                answer = await self.answerer.answer(retrieved.standalone, passages)
            else:
                final: Answer | None = None
                async for item in self.answerer.stream(retrieved.standalone, passages):
                    if isinstance(item, Answer):
                        final = item
                    elif item and inspect.isawaitable(result := on_delta(item)):
                        await result
                if final is None:
                    raise LLMUnavailableError(f"the {self.answerer.name} answerer's stream ended without an answer")
                answer = final
        except LLMUnavailableError as e:
            log.warning("answering extractively: %s", e)
            answer = await self.fallback.answer(retrieved.standalone, passages)
            answer.notice = LLM_UNAVAILABLE_NOTICE
        answer = answer.model_copy(
            update={"question": question, "standalone_question": retrieved.standalone, "filters": retrieved.filters}
        )
        if answer.answerer == self.timeline.name:
            return answer
        return await run_cpu(self.disagreements.annotate, answer, passages)

    async def _ask(
        self,
        conversation_id: str,
        question: str,
        explicit: SearchFilters | None,
        on_delta: DeltaCallback | None,
    ) -> Answer:
        history = await asyncio.to_thread(self.history.turns, conversation_id)
        retrieved = await self.retrieve(question, history, explicit=explicit)
        answer = await self.answer_retrieved(question, retrieved, on_delta=on_delta)
        turn = self._turn(question, retrieved.standalone, answer, retrieved.filters)
        await asyncio.to_thread(self.history.add, conversation_id, turn, answer)
        return answer

    def _turn(self, question: str, standalone: str, answer: Answer, filters: SearchFilters) -> Turn:
        """The turn to keep, cut to fit the history budget on its own."""
        text = strip_markers(answer.text)
        budget = self.history.max_tokens
        count = lambda s: len(self._encoding.encode_ordinary(s))  # noqa: E731
        q_tokens, s_tokens = count(question), count(standalone) if standalone != question else 0
        a_tokens = count(text)
        if q_tokens + s_tokens + a_tokens > budget:
            room = max(budget - q_tokens - s_tokens, 0)
            text = self._encoding.decode(self._encoding.encode_ordinary(text)[:room])
            a_tokens = count(text)
            if q_tokens + s_tokens + a_tokens > budget:  # the question alone is over budget
                standalone, s_tokens, text, a_tokens = "", 0, "", 0
                question = self._encoding.decode(self._encoding.encode_ordinary(question)[:budget])
                q_tokens = count(question)
        return Turn(
            question=question,
            standalone=standalone if standalone != question else "",
            answer=text,
            abstained=answer.abstained,
            filters=filters,
            tokens=q_tokens + s_tokens + a_tokens,
        )

    async def _condense(self, question: str, history: Sequence[Turn]) -> str:
        assert self.chat_model is not None
        lines = []
        for turn in history[-CONDENSE_TURNS:]:
            lines.append(f"User: {turn.standalone or turn.question}")
            lines.append(f"Assistant: {turn.answer[:CONDENSE_ANSWER_CHARS]}")
        prompt = "Conversation:\n" + "\n".join(lines) + f"\n\nLast message: {question}\n\nStandalone question:"
        messages = [SystemMessage(content=CONDENSE_SYSTEM_PROMPT), HumanMessage(content=prompt)]
        try:
            async with asyncio.timeout(self.settings.llm_timeout):
                reply = await self.chat_model.ainvoke(messages)
        except Exception as e:  # a model that is down must not stop the answer
            log.warning("condensing the follow-up with the chat model failed (%s); rewriting offline", type(e).__name__)
            return ""
        text = reply.text.strip().strip('"').strip()
        text = re.sub(r"^(?:standalone question|question)\s*:\s*", "", text, flags=re.I)
        first = text.splitlines()[0].strip() if text else ""
        if not first or len(first) > max(300, 4 * len(question)):
            return ""
        return first

def merge_filters(explicit: SearchFilters | None, stated: SearchFilters) -> SearchFilters:
    """Explicit filters win field by field; the question's fill the rest."""
    if explicit is None:
        return stated
    return SearchFilters(
        outlets=explicit.outlets or stated.outlets,
        since=explicit.since or stated.since,
        until=explicit.until or stated.until,
        prefer_recent=explicit.prefer_recent or stated.prefer_recent,
    )
