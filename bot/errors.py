"""The one place where failures become a friendly sentence for the user and a log line."""

from __future__ import annotations

import logging

from ingest.errors import SourceError
from retrieval.errors import (
    EmptyIndexError,
    LLMUnavailableError,
    RetrievalError,
    StoreLockedError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)

UNAVAILABLE = "The news index is unavailable right now, try again shortly."


def friendly_message(error: BaseException) -> str:
    """Return one sentence for the user. An unavailable store and unexpected retrieval errors are
    logged as warnings, unknown errors with their traceback."""
    if isinstance(error, StoreUnavailableError):
        # An outage the operator must hear about (the user only gets the sentence): the error
        # names the server and the network reason, no traceback needed.
        log.warning("told the user the news index is unavailable: %s", error)
        return UNAVAILABLE
    if isinstance(error, EmptyIndexError):
        return "Nothing is indexed yet: an admin can add articles with /reindex."
    if isinstance(error, StoreLockedError):
        return "The index is being updated by another process; try again in a minute."
    if isinstance(error, LLMUnavailableError):
        return "The language model is unavailable right now; try again shortly."
    if isinstance(error, SourceError):
        return f"Could not read {error.source}: {error.reason}."
    if isinstance(error, RetrievalError):
        log.warning("retrieval failed: %s", error)
        return "Something went wrong while searching the news; try again shortly."
    log.error("unexpected error", exc_info=error)
    return "Something went wrong on my side; it has been logged. Try again shortly."
