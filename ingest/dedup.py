"""Near-duplicate detection: the same story on two sites, by shingled Jaccard similarity.

MinHash signatures with LSH find candidates quickly; each candidate is then confirmed with the exact
Jaccard similarity of the two articles' word 5-shingles, so the threshold means what it says.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
SCHEME = "affine32"  # stored signatures must be read back with the scheme that made them
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = 5) -> set[str]:
    """Return the set of lower-cased word `size`-grams of `text`."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@cache
def _permutations() -> np.ndarray:
    """The hash permutations, drawn once: MinHash draws them anew for every object (a third of
    the cost of signing an article)."""
    permutations: np.ndarray = MinHash(num_perm=NUM_PERM, scheme=SCHEME).permutations
    return permutations


def signature(shingle_set: set[str]) -> bytes:
    """Return the MinHash signature of a shingle set, as bytes for the catalog."""
    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME, permutations=_permutations())
    m.update_batch([s.encode("utf-8") for s in shingle_set])
    return np.asarray(m.hashvalues, dtype=np.uint64).tobytes()


def _minhash(sig: bytes) -> MinHash:
    values = np.frombuffer(sig, dtype=np.uint64)
    return MinHash(num_perm=NUM_PERM, hashvalues=values, permutations=_permutations(), scheme=SCHEME)


class StoryIndex:
    """Assigns each new article the story it is a copy of (or a story of its own).

    `text_of(source_id)` returns an indexed article's text for the exact check.
    """

    def __init__(self, threshold: float, text_of: Callable[[str], str | None]) -> None:
        self.threshold = threshold
        self._text_of = text_of
        # LSH is tuned below the threshold so that true pairs are found; the exact check decides.
        self._lsh = MinHashLSH(threshold=max(0.5, threshold - 0.2), num_perm=NUM_PERM)
        self._story: dict[str, str] = {}
        self._texts: dict[str, str] = {}  # articles added by this process, not yet in the catalog

    def add(self, source_id: str, story_id: str, sig: bytes, text: str | None = None) -> None:
        if source_id in self._story:
            self._lsh.remove(source_id)
        self._lsh.insert(source_id, _minhash(sig))
        self._story[source_id] = story_id
        if text is not None:
            self._texts[source_id] = text

    def committed(self) -> None:
        """The articles added so far are in the catalog now: stop holding their texts."""
        self._texts.clear()

    def remove(self, source_id: str) -> None:
        if source_id in self._story:
            self._lsh.remove(source_id)
            del self._story[source_id]
            self._texts.pop(source_id, None)

    def story_for(self, source_id: str, text: str, sig: bytes, mine: set[str] | None = None) -> str:
        """Return the story_id of the most similar indexed article at or above the threshold,
        else `source_id` itself (a new story). `mine` is `shingles(text)` when already made."""
        mine = shingles(text) if mine is None else mine
        best, best_sim = source_id, 0.0
        for candidate in self._lsh.query(_minhash(sig)):
            if candidate == source_id:
                continue
            other = self._texts.get(candidate) or self._text_of(candidate)
            if other is None:
                continue
            sim = jaccard(mine, shingles(other))
            if sim >= self.threshold and sim > best_sim:
                best, best_sim = self._story[candidate], sim
        return best
