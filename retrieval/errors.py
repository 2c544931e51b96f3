"""Errors raised by the retrieval side. One place in `bot/` maps them to friendly sentences."""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class for retrieval failures."""


class StoreUnavailableError(RetrievalError):
    """The Chroma store (embedded folder or server) cannot be reached."""


class StoreMissingError(StoreUnavailableError):
    """A command that only reads found no store where the settings point (it never creates one)."""


class StoreUnusableError(StoreUnavailableError):
    """The store path cannot be used: it is a file, or newsbot may not write there."""


class StoreLockedError(RetrievalError):
    """Another process holds the embedded store for writing."""


class EmptyIndexError(RetrievalError):
    """Nothing is indexed yet."""


class LLMUnavailableError(RetrievalError):
    """The configured chat model is down, too slow or refused the request."""
