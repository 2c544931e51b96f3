"""The composition root: every part of newsbot is built here, once, from the settings.

`newsbot serve`, each `newsbot` command, the tests and the benchmarks all do

    async with build_app(settings) as app:
        ...  # app.engine, app.retriever, app.indexer, app.history, app.state

and pass the parts on. Nothing else builds the embedding model, the store client or the files
beside the store, so every entry point answers from the same wiring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from bot.state import BotState
from retrieval.settings import Settings

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel

    from ingest.indexer import Indexer
    from retrieval.conversation import ConversationEngine
    from retrieval.history import HistoryStore
    from retrieval.fusion import Mode
    from retrieval.hybrid import HybridRetriever
    from retrieval.summaries import StorySummariser

log = logging.getLogger(__name__)


class AppOptions(TypedDict, total=False):
    """What `build_app` may be given instead of what the settings describe (see there)."""

    embeddings: Embeddings | None
    client: Any  # a chromadb ClientAPI
    chat_model: BaseChatModel | None
    today: Callable[[], date] | None
    history: HistoryStore | None
    retriever_mode: Mode
    create_store: bool


class App:
    """The built parts, open between `async with` (or `open()`) and its end (or `close()`).

    Opening is blocking (it opens the Chroma store and SQLite files): `async with` runs it in a
    worker thread; synchronous callers (session-wide test fixtures) call `open()` themselves.
    """

    embeddings: Embeddings
    client: Any  # a chromadb ClientAPI
    retriever: HybridRetriever
    indexer: Indexer
    history: HistoryStore
    engine: ConversationEngine
    state: BotState
    summariser: StorySummariser | None  # briefing summaries, when a chat model is configured

    def __init__(self, settings: Settings, options: AppOptions) -> None:
        self.settings = settings
        self._options = options
        self._opened = False

    def open(self) -> App:
        """Build every part (blocking). Returns the app. Raises StoreUnavailableError when a
        configured Chroma server cannot be reached or the store cannot be used (its subclasses
        StoreMissingError: no store and `create_store` false; StoreUnusableError: the path is a
        file or cannot be written), LLMUnavailableError when the configured chat model cannot
        be built."""
        from ingest.indexer import Indexer
        from retrieval.extractive import Answerer, ExtractiveAnswerer
        from retrieval.llm import LLMAnswerer, build_chat_model
        from retrieval.conversation import ConversationEngine
        from retrieval.history import SQLiteHistory
        from retrieval.embeddings import LocalEmbeddings
        from retrieval.hybrid import HybridRetriever
        from retrieval.store import check_store, open_client
        from retrieval.summaries import StorySummariser

        if self._opened:
            return self
        settings, options = self.settings, self._options
        create_store = options.get("create_store", True)
        # Before the model or anything else: a bad store path is the error to report.
        check_store(settings, create=create_store)
        # The model itself loads on first use, in whichever thread embeds first.
        self.embeddings = options.get("embeddings") or LocalEmbeddings(
            settings.embedding_model, batch_size=settings.embedding_batch_size
        )
        client = options.get("client")
        self.client = client if client is not None else open_client(settings, create=create_store)
        self.retriever = HybridRetriever.from_settings(
            settings, embeddings=self.embeddings, client=self.client, mode=options.get("retriever_mode", "hybrid")
        )
        self.indexer = Indexer(settings, embeddings=self.embeddings, client=self.client)
        try:
            # This process's writes reach the keyword index at once, not at the next version check.
            self.indexer.on_change(self.retriever.index_changed)
            self.history = options.get("history") or SQLiteHistory(settings.history_path, settings.history_tokens)
            chat_model = options.get("chat_model")
            if chat_model is None and settings.llm_model:
                chat_model = build_chat_model(settings)
            answerer: Answerer = (
                LLMAnswerer(settings, chat_model, self.embeddings)
                if chat_model is not None
                else ExtractiveAnswerer(settings, self.embeddings)
            )
            self.engine = ConversationEngine(
                settings,
                self.retriever,
                answerer,
                self.embeddings,
                chat_model=chat_model,  # the model that answers also condenses follow-ups
                today=options.get("today") or date.today,
                history=self.history,
            )
            self.summariser = StorySummariser(settings, chat_model) if chat_model is not None else None
        except BaseException:
            self.indexer.close()
            raise
        self.state = BotState(settings.bot_state_path)  # opens its file on first use
        self._opened = True
        return self

    def close(self) -> None:
        """Close the files the parts hold open (blocking). Safe to call twice."""
        if not self._opened:
            return
        self._opened = False
        self.indexer.close()
        self.state.close()

    async def __aenter__(self) -> App:
        return await asyncio.to_thread(self.open)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.close)


def build_app(settings: Settings, **options: Unpack[AppOptions]) -> App:
    """Return the app for `settings`, not yet open: use it as `async with build_app(s) as app`.

    Defaults build what the settings describe: the local embedding model, the configured Chroma
    store, the hybrid retriever, the LLM answerer when `LLM_MODEL` is set (else the extractive
    one), the conversation history at `settings.history_path` and the bot state at
    `settings.bot_state_path`. Pass `embeddings`, `client` or `chat_model` to use yours (tests
    pass fakes), `today` for the engine's clock, `history` to keep conversations elsewhere (the
    terminal keeps them in memory), `retriever_mode` for `dense` or `bm25` retrieval (the eval;
    default `hybrid`), `create_store=False` to refuse (StoreMissingError) rather than create a
    missing embedded store (commands that only read; default True)."""
    return App(settings, options)
