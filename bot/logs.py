"""Logging set-up, once per process, for the bot (`python -m bot`) and the `newsbot` command."""

from __future__ import annotations

import logging

from rich.console import Console

# Libraries that log every request or model load: quiet unless something is wrong.
NOISY = ("httpx", "chromadb", "sentence_transformers", "trafilatura", "htmldate", "bm25s", "discord")


def configure_logging(verbose: bool, console: Console | None = None) -> None:
    """Configure logging once, for the whole process: INFO with `verbose`, else WARNING, written
    through rich to `console` (default: standard error)."""
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console or Console(stderr=True), show_path=False, show_time=False)],
    )
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
