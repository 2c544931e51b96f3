"""The conversation engine behind `newsbot ask`, `newsbot chat` and the Discord bot.

`ConversationEngine.stream_ask(conversation_id, question)` yields the answer text as the language
model writes it (drafts), then the verified `Answer`; `ask` returns just that `Answer`. Both:

1. reads the filters the question states (`parse_filters`: outlet, dates, "latest") and merges
   them with explicit ones;
2. rewrites a follow-up ("what did he say about it?", "and the other one?", "why?") into a
   standalone question from the conversation's history (`retrieval.condense`): with the chat
   model when one is configured, else offline (`retrieval.followups`: pronouns and "that
   survey" resolved, the previous question's names carried); the articles the previous answer
   cited come first when the follow-up stays with that story;
3. retrieves passages and answers with the configured answerer; when the language model is
   unavailable, the extractive answer is given with a notice. A question about a period the
   store has no articles from is answered with the period the articles cover
   (`retrieval.uncovered`);
4. records the turn in the history store (in memory, or `SQLiteHistory` to survive restarts),
   bounded by `settings.history_tokens`, oldest turns dropped first.

Async only: blocking work (embedding, retrieval, SQLite) runs in worker threads; model calls use
`ainvoke`. A command-line caller makes one `asyncio.run` around its work.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from datetime import date
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from retrieval.citations import strip_markers
from retrieval.disagreement import DisagreementFinder
from retrieval.errors import LLMUnavailableError
from retrieval.condense import same_story_first, standalone_question
from retrieval.extractive import Answerer, ExtractiveAnswerer
from retrieval.models import Answer, Passage, SearchFilters
from retrieval.query import Coverage, parse_filters
from retrieval.retriever import Retriever
from retrieval.followups import rewrite_offline
from retrieval.history import HistoryStore, InMemoryHistory, Turn
from retrieval.settings import Settings
from retrieval.timeline import TIMELINE_K, TimelineAnswerer, is_timeline_question
from retrieval.tokens import get_encoding
from retrieval.uncovered import uncovered_answer
from retrieval.workers import question_priority, run_cpu

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

LLM_UNAVAILABLE_NOTICE = (
    "The language model is unavailable right now; this answer was extracted from the articles."
)


def known_outlets(retriever: object) -> list[str]:
    """The outlets the retriever's store holds ([] when it cannot say). Blocking."""
    method = getattr(retriever, "known_outlets", None) or getattr(retriever, "outlets", None)
    return list(method()) if callable(method) else []


def store_coverage(retriever: object) -> Coverage | None:
    """The publish dates the retriever's store spans (`HybridRetriever.coverage`), or None when
    the retriever cannot say (then every period a question names applies). Blocking."""
    method = getattr(retriever, "coverage", None)
    return method() if callable(method) else None


class Retrieved(BaseModel):
    """What retrieval found for one question: the question as searched, the filters, passages,
    and the period asked about when the store has no articles from it (see `parse_filters`)."""

    standalone: str
    filters: SearchFilters
    passages: list[Passage]
    uncovered: tuple[date | None, date | None] | None = None
    coverage: Coverage | None = None


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
        self.timeline = TimelineAnswerer(self.fallback.scorer, self.fallback.policy, answerer=answerer)
        self.disagreements = DisagreementFinder(self.fallback.scorer, self.fallback.reader.analyser)
        self.chat_model = chat_model
        self.today = today
        self.history: HistoryStore = history or InMemoryHistory(settings.history_tokens)
        self._encoding = get_encoding(settings.tokenizer_encoding)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- public API ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the reader's spaCy pipeline now (blocking). Loaded on the first question instead,
        it held the GIL for ~0.3 s while 50 questions were being answered (bench/bot_load.py:
        the longest stall of the bot's event loop, 264 ms). Raises OSError when the model is not
        installed."""
        self.fallback.reader.analyser.nlp

    async def ask(
        self,
        conversation_id: str,
        question: str,
        *,
        filters: SearchFilters | None = None,
        today: date | None = None,
    ) -> Answer:
        """Answer `question` in the conversation and remember the turn; return the verified
        `Answer`. The same as `stream_ask` without the drafts, and raises what it raises."""
        return await _final(self.stream_ask(conversation_id, question, filters=filters, today=today))

    async def stream_ask(
        self,
        conversation_id: str,
        question: str,
        *,
        filters: SearchFilters | None = None,
        today: date | None = None,
    ) -> AsyncGenerator[str | Answer, None]:
        """Answer `question` in the conversation and remember the turn.

        Yields the answer text written so far each time the language model adds to it (a draft:
        unverified, to show as such), then exactly one `Answer`: the verified one, which replaces
        the draft, once the turn is recorded. The extractive answerer writes no drafts: only the
        `Answer` comes. Iterate to the end or close the iterator (`contextlib.aclosing`): it holds
        the conversation's turn until then.

        `filters` (e.g. from slash-command options) win over filters stated in the question;
        `today` is the day the question was asked (the message's date in Discord): what "last
        week" means; by default the engine's clock. A question about a period after the newest
        article (or before the oldest) is answered with the period the articles cover. Raises
        RetrievalError subclasses from retrieval (EmptyIndexError, StoreUnavailableError...); an
        unavailable language model is not an error: the extractive answer comes with a notice.
        """
        question = question.strip()
        if not question:
            yield Answer(question="", text="Ask a question about the news.", abstained=True)
            return
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        # The pool runs this question's CPU jobs before those of questions asked after it.
        with question_priority():
            async with lock:  # turns of one conversation stay in order
                history = await asyncio.to_thread(self.history.turns, conversation_id)
                retrieved = await self.retrieve(question, history, explicit=filters, today=today)
                answer: Answer | None = None
                async with aclosing(self._answer_stream(question, retrieved)) as items:
                    async for item in items:
                        if isinstance(item, Answer):
                            answer = item
                        else:
                            yield item
                assert answer is not None  # _answer_stream always ends with one
                turn = self._turn(question, retrieved.standalone, answer, retrieved.filters)
                await asyncio.to_thread(self.history.add, conversation_id, turn, answer)
            yield answer

    async def last_answer(self, conversation_id: str) -> Answer | None:
        """Return the last answer of the conversation (for /sources), or None."""
        return await asyncio.to_thread(self.history.last_answer, conversation_id)

    async def forget(self, conversation_id: str) -> None:
        """Forget the conversation's history and last answer."""
        await asyncio.to_thread(self.history.forget, conversation_id)

    async def standalone_question(self, question: str, history: Sequence[Turn]) -> str:
        """Return `question` rewritten to stand alone: with the chat model when there is one
        (falling back to the offline rewrite when it fails), else offline."""
        return await standalone_question(
            question, history, chat_model=self.chat_model, timeout=self.settings.llm_timeout
        )

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
        ("last week"); default: the engine's clock. Periods apply only where the store has dated
        articles; one it has none from comes back as `uncovered`."""
        outlets, coverage = await asyncio.to_thread(self._store_facts)
        searched, stated, uncovered = parse_filters(
            question, today=today or self.today(), known_outlets=outlets, coverage=coverage
        )
        standalone = await self.standalone_question(searched, history)
        filters = merge_filters(explicit, stated)
        followup = bool(history) and standalone != searched
        if filters.is_empty() and followup:
            filters = history[-1].filters  # a follow-up keeps the scope of what it follows
        log.info("question %r -> %r %s", question, standalone, filters.model_dump(exclude_defaults=True))
        k = k or self.settings.retrieval_k
        if is_timeline_question(standalone):  # a story's events are spread over many articles
            k = max(k, TIMELINE_K)
        passages = await self.retriever.asearch(standalone, k=k, filters=filters)
        if followup:
            previous = await self._previous_sources(history, filters)
            passages = same_story_first(searched, passages, previous)
        return Retrieved(
            standalone=standalone, filters=filters, passages=passages, uncovered=uncovered, coverage=coverage
        )

    def _store_facts(self) -> tuple[list[str], Coverage | None]:
        return known_outlets(self.retriever), store_coverage(self.retriever)

    async def _previous_sources(self, history: Sequence[Turn], filters: SearchFilters) -> list[str]:
        """The articles the previous answer cited; for a turn that does not record them (an
        evaluation's history, a turn kept before they were recorded), the article its question
        retrieves first."""
        previous = history[-1]
        if previous.sources or previous.abstained:
            return previous.sources
        asked = previous.standalone
        if not asked:  # "Where can you buy it?" must search for what "it" was
            earlier = history[:-1]
            asked = await asyncio.to_thread(rewrite_offline, previous.question, earlier) if earlier else previous.question
        found = await self.retriever.asearch(asked, k=1, filters=filters)
        return [p.source_id for p in found[:1]]

    async def answer_retrieved(self, question: str, retrieved: Retrieved) -> Answer:
        """Answer from what `retrieve` found (its first settings.retrieval_k passages); an
        unavailable language model gives the extractive answer with a notice."""
        return await _final(self._answer_stream(question, retrieved))

    async def _answer_stream(self, question: str, retrieved: Retrieved) -> AsyncGenerator[str | Answer, None]:
        """Drafts (the text so far) while a streaming answerer writes, then the `Answer`."""
        passages = retrieved.passages[: self.settings.retrieval_k]
        answer: Answer | None = None
        # The answerer reads the standalone question with its carried names: without them a
        # follow-up whose "she" stays unresolved scores its evidence too low (tried: calib
        # follow-ups abstained 4 of 15 instead of 0).
        if retrieved.uncovered is not None and retrieved.coverage is not None:
            answer = uncovered_answer(question, retrieved.uncovered, retrieved.coverage, passages)
            yield answer.model_copy(update={"standalone_question": retrieved.standalone, "filters": retrieved.filters})
            return
        try:
            if is_timeline_question(retrieved.standalone):
                answer = await self.timeline.answer(retrieved.standalone, retrieved.passages)
            elif isinstance(self.answerer, ExtractiveAnswerer):
                # It writes its whole text at once: a draft would only be the answer twice.
                answer = await self.answerer.answer(retrieved.standalone, passages)
            else:
                draft = ""
                # Closed at once when our consumer stops early: the model's HTTP stream with it.
                stream = self.answerer.stream(retrieved.standalone, passages)
                async with aclosing(stream) as items:  # type: ignore[type-var]  # async generators
                    async for item in items:
                        if isinstance(item, Answer):
                            answer = item
                        elif item:
                            draft += item
                            if draft.strip():
                                yield draft
                if answer is None:
                    raise LLMUnavailableError(f"the {self.answerer.name} answerer's stream ended without an answer")
        except LLMUnavailableError as e:
            log.warning("answering extractively: %s", e)
            answer = await self.fallback.answer(retrieved.standalone, passages)
            answer.notice = LLM_UNAVAILABLE_NOTICE
        answer = answer.model_copy(
            update={"question": question, "standalone_question": retrieved.standalone, "filters": retrieved.filters}
        )
        if answer.answerer != self.timeline.name:  # figures that differ between passages are shown
            answer = await run_cpu(self.disagreements.annotate, answer, passages)
        yield answer

    def _turn(self, question: str, standalone: str, answer: Answer, filters: SearchFilters) -> Turn:
        """The turn to keep, cut to fit the history budget on its own."""
        text = strip_markers(answer.text)
        budget = self.history.max_tokens

        def count(s: str) -> int:
            return len(self._encoding.encode_ordinary(s))

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
            sources=list(dict.fromkeys(c.passage.source_id for c in answer.citations)),
            short_answer=answer.short_answer,
        )


async def _final(items: AsyncGenerator[str | Answer, None]) -> Answer:
    """The `Answer` that ends `items`, the drafts before it skipped."""
    async with aclosing(items):
        async for item in items:
            if isinstance(item, Answer):
                return item
    raise AssertionError("the answer stream ended without an Answer")


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
