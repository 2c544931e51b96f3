"""The real BBC corpus as it is: 2,225 files, 98 exact duplicate pairs, one file not UTF-8."""

from __future__ import annotations

from pathlib import Path

from ingest.indexer import Indexer
from retrieval.settings import Settings
from retrieval.store import get_collection


def test_the_whole_bbc_corpus_goes_in_once(settings: Settings, fake_embeddings, shared_data: Path) -> None:
    indexer = Indexer(settings, embeddings=fake_embeddings)
    try:
        report = indexer.ingest([str(shared_data / "bbc")], outlet="BBC News")
        total = len(report.added) + len(report.duplicates) + len(report.failed)
        assert total == 2225
        # 98 files appear twice, byte for byte: each is indexed once, its second location recorded.
        assert report.failed == []  # sport/199.txt is Windows-1252, read as such
        assert len(report.duplicates) == 98
        assert len(report.added) == 2127
        for dup in report.duplicates:
            entry = indexer.article(dup)
            original = indexer.article(entry.duplicate_of)
            assert original.duplicate_of is None
            assert original.article.text == entry.article.text
        # The same body re-run under a new headline is a copy of the same story, indexed as one.
        assert indexer.article("business/365").story_id == indexer.article("business/267").story_id
        stats = indexer.stats()
        assert stats["stories"] < stats["articles"] - 30
        collection = get_collection(indexer.client, settings)
        assert collection.count() == indexer.stats()["chunks"]
        ids = collection.get(where={"source_id": {"$in": report.duplicates[:20]}})["ids"]
        assert ids == [], "duplicate locations have no chunks of their own"

        again = indexer.ingest([str(shared_data / "bbc")], outlet="BBC News")
        assert again.added == [] and again.updated == [] and again.duplicates == []
        assert len(again.unchanged) == total - len(report.failed)
    finally:
        indexer.close()
