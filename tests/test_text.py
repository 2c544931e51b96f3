"""The one text analyzer: what keyword search, scoring and the engine read from text."""

from __future__ import annotations

from datetime import date, datetime

from retrieval.text import INDEX_STOPWORDS, format_date, index_words, stem_words, terms


def test_dates_read_the_same_in_answers_and_source_lists() -> None:
    assert format_date(date(2017, 3, 2)) == "2 March 2017"


def test_the_index_stopwords_are_the_ones_saved_keyword_indexes_were_built_with() -> None:
    # A saved index is reused while `retrieval.keyword.ANALYZER` matches; if bm25s changed its
    # list, the pinned copy keeps the terms (and the saved indexes) as they were.
    from bm25s.stopwords import STOPWORDS_EN

    assert INDEX_STOPWORDS == frozenset(STOPWORDS_EN)
    assert index_words("The UK's 2005 budget: is it a rise?") == ["uk", "2005", "budget", "rise"]


def test_terms_are_stemmed_content_words() -> None:
    expected = stem_words(["jobs", "carlsberg", "cutting", "sweden"])
    assert terms("How many jobs is Carlsberg cutting in Sweden?") == expected
    assert stem_words(["cutting", "jobs"]) == ["cut", "job"]
