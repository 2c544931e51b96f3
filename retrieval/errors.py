"""Errors raised by the retrieval side. One place in `bot/` maps them to friendly sentences."""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class for retrieval failures."""


class StoreUnavailableError(RetrievalError):
    """The Chroma store (embedded folder or server) cannot be reached."""


class StoreLockedError(RetrievalError):
    """Another process holds the embedded store for writing."""


class EmptyIndexError(RetrievalError):
    """Nothing is indexed yet."""


class LLMUnavailableError(RetrievalError):
    """The configured chat model is down, too slow or refused the request."""
