"""Whether a retrieved passage is about a topic: the bar a watch (and a topic briefing) applies
to what the hybrid retriever returns, since retrieval always returns its best, relevant or not.

A passage is about the topic when BM25 matched it (it shares a word with the topic) and its
dense similarity to the topic reaches `MIN_DENSE`. The figure is measured on the USA Today 2025
stream (bench/watches.py): see the README's "Watches" section.
"""

from __future__ import annotations

from retrieval.models import Passage

# Cosine similarity (all-MiniLM-L6-v2) of topic and passage at or above which a passage is about
# the topic. Fitted with bench/watches.py on USA Today February-March 2025 (213 articles, 10
# weeks, 7 topics): 0.40 gives precision 0.86 and recall 0.87, and 11 of the 51 passing mentions
# fire (0.30: 0.66 / 0.92, 22; 0.50: 0.93 / 0.73, 4). The check on April-May is in the README.
MIN_DENSE = 0.40


def is_about(passage: Passage, min_dense: float = MIN_DENSE) -> bool:
    """True when `passage` shares a word with the topic (a BM25 match) and its dense similarity
    to it is at least `min_dense`."""
    return passage.keyword_score is not None and (passage.dense_score or 0.0) >= min_dense
