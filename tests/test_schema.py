"""Chunk metadata: what ingest writes is what retrieval reads, and older stores still read."""

from __future__ import annotations

from datetime import UTC, datetime

from retrieval.schema import ChunkInfo, ChunkMeta, matches, where

PUBLISHED = datetime(2005, 3, 1, 9, 30, tzinfo=UTC)


def test_what_ingest_writes_reads_back_the_same() -> None:
    meta = ChunkMeta(
        source_id="business/001", story_id="business/000", title="Steel plant closes",
        url="https://example.org/steel", outlet="BBC", author="A. Writer", published_at=PUBLISHED,
        chunk_index=2, char_start=120, char_end=480,
    )

    stored = meta.to_metadata()

    assert all(isinstance(v, str | int) for v in stored.values())  # Chroma takes scalars only
    assert ChunkMeta.from_metadata("chunk-1", stored) == meta
    assert ChunkInfo.from_metadata("chunk-1", stored) == ChunkInfo(
        source_id="business/001", story_id="business/000", outlet="BBC",
        published_ts=int(PUBLISHED.timestamp()),
    )


def test_a_store_written_before_the_schema_reads_as_it_did() -> None:
    # One chunk's metadata exactly as ingest/indexer.py wrote it before retrieval/schema.py.
    legacy = {
        "source_id": "tech/042", "story_id": "tech/042", "title": "Chip sales", "url": "",
        "outlet": "", "author": "", "published_at": "", "published_ts": -1,
        "chunk_index": 0, "char_start": 0, "char_end": 900,
    }

    meta = ChunkMeta.from_metadata("c", legacy)

    assert meta.to_metadata() == legacy
    assert list(meta.to_metadata()) == list(legacy), "the keys in the order ingest always wrote them"
    assert (meta.published_at, meta.char_end) == (None, 900)
    assert ChunkInfo.from_metadata("c", legacy).published_ts == -1


def test_missing_ids_fall_back_to_the_chunk_and_the_article() -> None:
    info = ChunkInfo.from_metadata("chunk-9", {})

    assert (info.source_id, info.story_id, info.outlet, info.published_ts) == ("chunk-9", "chunk-9", "", -1)
    assert ChunkMeta.from_metadata("chunk-9", None).title == ""


def test_date_filters_leave_out_undated_chunks() -> None:
    assert where(None, None, None) is None
    assert where(["BBC"], None, None) == {"outlet": {"$in": ["BBC"]}}
    assert where(None, None, 100) == {
        "$and": [{"published_ts": {"$lte": 100}}, {"published_ts": {"$ne": -1}}]
    }


def test_a_filtered_chunk_passes_as_the_store_would_have_it() -> None:
    assert matches("BBC", 50, ["BBC"], 10, 100)
    assert not matches("NPR", 50, ["BBC"], None, None)
    assert not matches("BBC", 5, None, 10, None)
    assert not matches("BBC", -1, None, None, 100)  # undated: not "before" any date
    assert matches("BBC", -1, None, None, None)
