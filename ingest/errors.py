"""Errors raised on the ingest side. Each names the input it is about."""

from __future__ import annotations


class IngestError(Exception):
    """Base class for ingest failures."""


class SourceError(IngestError):
    """One input could not be read or parsed; the rest of the batch goes on.

    `source` names the input (a path or URL) and `reason` says what is wrong in a few words.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
