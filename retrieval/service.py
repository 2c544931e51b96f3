"""Builds the question-answering stack from settings: retriever, answerer, conversation engine.

The CLI and the Discord bot both call `build_engine`, so they answer the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrieval.settings import Settings

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from retrieval.conversation import ConversationEngine, HistoryStore
    from retrieval.extractive import Answerer
    from retrieval.hybrid import HybridRetriever


def build_engine(
    settings: Settings,
    *,
    embeddings: Embeddings | None = None,
    client: Any = None,
    history: HistoryStore | None = None,
    retriever: HybridRetriever | None = None,
) -> ConversationEngine:
    """Return a `ConversationEngine` over the configured store: the LLM answerer when
    `LLM_MODEL` is set, else the offline extractive one. The engine's `.retriever` is the
    `HybridRetriever` (for `/search`). Raises StoreUnavailableError when a Chroma server is
    configured and cannot be reached."""
    from retrieval.conversation import ConversationEngine
    from retrieval.embeddings import LocalEmbeddings
    from retrieval.extractive import ExtractiveAnswerer
    from retrieval.hybrid import HybridRetriever

    embeddings = embeddings or LocalEmbeddings(settings.embedding_model, batch_size=settings.embedding_batch_size)
    retriever = retriever or HybridRetriever.from_settings(settings, embeddings=embeddings, client=client)
    chat_model = None
    answerer: Answerer
    if settings.llm_model:
        from retrieval.llm import LLMAnswerer, build_chat_model

        chat_model = build_chat_model(settings)
        answerer = LLMAnswerer(settings, chat_model, embeddings)
    else:
        answerer = ExtractiveAnswerer(settings, embeddings)
    return ConversationEngine(
        settings, retriever, answerer, embeddings, chat_model=chat_model, history=history
    )
