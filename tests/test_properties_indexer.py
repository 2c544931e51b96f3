"""Property tests of the indexer: a junk batch never raises and never costs an article already
indexed, its chunks or its catalog entry. A regression test follows the property.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, strategies as st
from langchain_core.embeddings import DeterministicFakeEmbedding

from ingest.indexer import Indexer
from retrieval.store import get_collection
from tests.support.hostile_input import (
    GOOD_FILES,
    STORE,
    example_folder,
    folder_settings,
    junk_files,
    named_file,
    scratch,  # noqa: F401 - a fixture
    write_good,
    write_junk,
)


def _chunks_by_source(indexer: Indexer) -> dict[str, list[str]]:
    """source_id -> the texts of its chunks in the store, in chunk order."""
    got = get_collection(indexer.client, indexer.settings).get(include=["documents", "metadatas"])
    chunks: dict[str, list[tuple[int, str]]] = {}
    for text, meta in zip(got["documents"], got["metadatas"], strict=True):
        chunks.setdefault(meta["source_id"], []).append((meta["chunk_index"], text))
    return {sid: [text for _, text in sorted(pairs)] for sid, pairs in chunks.items()}


@STORE
@given(junk_files, st.booleans())
def test_a_junk_batch_never_raises_and_loses_nothing_indexed(
    scratch: Path, files: list[tuple[str, bytes]], prune: bool
) -> None:
    with example_folder(scratch) as root:
        corpus = root / "corpus"
        write_good(corpus)
        indexer = Indexer(folder_settings(root), embeddings=DeterministicFakeEmbedding(size=32))
        try:
            first = indexer.ingest([str(corpus)])
            assert sorted(first.added) == sorted(GOOD_FILES) and first.exit_code == 0
            before = _chunks_by_source(indexer)
            catalog_before = {sid: indexer.article(sid).n_chunks for sid in GOOD_FILES}
            assert set(before) == set(GOOD_FILES) and all(before.values())

            junk = write_junk(corpus, files)
            report = indexer.ingest([str(corpus)], prune=prune)  # never raises

            after = _chunks_by_source(indexer)
            assert {sid: after.get(sid) for sid in GOOD_FILES} == before, "nothing lost or changed"
            assert {sid: indexer.article(sid).n_chunks for sid in GOOD_FILES} == catalog_before
            assert set(GOOD_FILES) <= set(report.unchanged)
            assert report.deleted == []
            assert all(named_file(e, junk) is not None for e in report.failed), report.failed
        finally:
            indexer.close()


def test_a_lone_surrogate_in_json_does_not_stop_the_batch(scratch: Path) -> None:
    with example_folder(scratch) as root:
        corpus = root / "corpus"
        write_good(corpus)
        indexer = Indexer(folder_settings(root), embeddings=DeterministicFakeEmbedding(size=32))
        try:
            indexer.ingest([str(corpus)])
            before = _chunks_by_source(indexer)
            (corpus / "emoji.json").write_bytes(
                b'{"title": "Half an emoji", "body": "Fans cheered \\ud83d at the final whistle."}'
            )
            report = indexer.ingest([str(corpus)])
            after = _chunks_by_source(indexer)
            assert {sid: after.get(sid) for sid in before} == before
            assert set(after) == set(before) | set(report.added)
        finally:
            indexer.close()
