"""The `Retriever` protocol: what the engine, briefings and watches need of a retriever.

`retrieval.hybrid.HybridRetriever` is the one newsbot builds (`bot.app.build_app`); the bot holds
it as this protocol (`NewsBot.retriever`) and hands it to `retrieval.briefing.brief` and
`retrieval.watches.match_new` as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from retrieval.keyword import KeywordIndex
    from retrieval.models import Passage, SearchFilters
    from retrieval.store import ChunkStore


class Retriever(Protocol):
    """A search over the store, and the store it searches.

    The engine only searches (`asearch`) and asks for the outlets; briefings and watches also
    read articles' chunks from `store` and embed a topic with `embeddings`; the watch loop brings
    the `keyword_index` up to the store before it looks for new articles."""

    @property
    def store(self) -> ChunkStore: ...

    @property
    def embeddings(self) -> Embeddings: ...

    @property
    def keyword_index(self) -> KeywordIndex: ...

    async def asearch(self, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]:
        """Up to `k` passages for `query`, best first, honouring `filters`; raises
        EmptyIndexError when nothing is indexed, RetrievalError when the store cannot be read."""
        ...

    def outlets(self) -> list[str]:
        """The distinct outlets in the store, sorted. Blocking."""
        ...
