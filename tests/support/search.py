"""`HybridRetriever.asearch` from synchronous test code."""

from __future__ import annotations

import asyncio

from retrieval.hybrid import HybridRetriever
from retrieval.models import Passage, SearchFilters


def search(retriever: HybridRetriever, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]:
    """The passages `retriever.asearch` returns, in one `asyncio.run` (as a CLI command makes;
    from any thread without a running loop)."""
    return asyncio.run(retriever.asearch(query, k=k, filters=filters))
