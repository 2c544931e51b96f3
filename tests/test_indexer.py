"""The ingest pipeline end to end into a real embedded Chroma: incremental, deduplicated, safe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.dedup import jaccard, shingles
from ingest.indexer import Indexer
from retrieval.errors import StoreLockedError
from retrieval.settings import Settings
from retrieval.store import get_collection, read_version, writer_lock

ARTICLE = """{title}

{body}
"""


def write(folder: Path, rel: str, title: str, body: str) -> Path:
    path = folder / f"{rel}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ARTICLE.format(title=title, body=body), encoding="utf-8")
    return path


def story(topic: str, n: int = 6) -> str:
    return "\n\n".join(
        f"Paragraph {i} about {topic}: officials said the {topic} plan would change after "
        f"talks on day {i}, and critics in the {topic} debate disagreed sharply." for i in range(n)
    )


def documents(indexer: Indexer) -> list[tuple[str, dict]]:
    got = get_collection(indexer.client, indexer.settings).get(include=["documents", "metadatas"])
    return list(zip(got["documents"], got["metadatas"], strict=True))


def chunk_count(indexer: Indexer) -> int:
    return get_collection(indexer.client, indexer.settings).count()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    write(folder, "business/001", "Rail fares rise", story("rail fares"))
    write(folder, "business/002", "Steel plant closes", story("steel plant"))
    write(folder, "tech/001", "Broadband speeds up", story("broadband"))
    return folder


@pytest.fixture
def indexer(settings: Settings, fake_embeddings) -> Indexer:
    idx = Indexer(settings, embeddings=fake_embeddings)
    yield idx
    idx.close()


def test_articles_are_indexed_with_source_ids_and_spans(indexer: Indexer, corpus: Path) -> None:
    report = indexer.ingest([str(corpus)])
    assert sorted(report.added) == ["business/001", "business/002", "tech/001"]
    assert report.exit_code == 0
    docs = documents(indexer)
    assert {m["source_id"] for _, m in docs} == {"business/001", "business/002", "tech/001"}
    for text, meta in docs:
        article = indexer.article(meta["source_id"]).article
        assert article.text[meta["char_start"] : meta["char_end"]] == text
        assert meta["title"] == article.title
    assert indexer.article("business/001").article.title == "Rail fares rise"


def test_a_second_run_adds_nothing(indexer: Indexer, corpus: Path) -> None:
    indexer.ingest([str(corpus)])
    before = chunk_count(indexer)
    again = indexer.ingest([str(corpus)])
    assert again.added == [] and again.updated == []
    assert len(again.unchanged) == 3
    assert chunk_count(indexer) == before


def test_a_changed_article_has_its_old_chunks_replaced(indexer: Indexer, corpus: Path) -> None:
    indexer.ingest([str(corpus)])
    write(corpus, "tech/001", "Broadband speeds up", story("fibre optic cable"))
    report = indexer.ingest([str(corpus)])
    assert report.updated == ["tech/001"]
    texts = [t for t, m in documents(indexer) if m["source_id"] == "tech/001"]
    assert texts and all("fibre optic" in t for t in texts)
    assert not any("broadband" in t for t in texts)


def test_prune_deletes_articles_gone_from_the_source(indexer: Indexer, corpus: Path) -> None:
    indexer.ingest([str(corpus)])
    (corpus / "business" / "002.txt").unlink()
    without_prune = indexer.ingest([str(corpus)])
    assert without_prune.deleted == []
    assert "business/002" in {m["source_id"] for _, m in documents(indexer)}
    pruned = indexer.ingest([str(corpus)], prune=True)
    assert pruned.deleted == ["business/002"]
    assert "business/002" not in {m["source_id"] for _, m in documents(indexer)}
    assert indexer.article("business/002") is None


def test_prune_never_empties_a_source_that_could_not_be_read(indexer: Indexer, corpus: Path, tmp_path: Path) -> None:
    indexer.ingest([str(corpus)])
    moved = tmp_path / "elsewhere"
    shutil.move(corpus, moved)
    report = indexer.ingest([str(corpus)], prune=True)
    assert report.deleted == []
    assert report.exit_code == 2
    assert chunk_count(indexer) > 0


def test_remove_by_source_id_and_by_url(indexer: Indexer, corpus: Path, tmp_path: Path) -> None:
    indexer.ingest([str(corpus)])
    feed_like = tmp_path / "items.jsonl"
    feed_like.write_text(
        '{"title": "Dam report", "body": "%s", "url": "https://news.example/dam"}\n'
        % story("dam").replace("\n", "\\n"),
        encoding="utf-8",
    )
    indexer.ingest([str(feed_like)])
    assert indexer.remove("business/001") == ["business/001"]
    assert indexer.remove("https://news.example/dam") == ["https://news.example/dam"]
    assert indexer.remove("no/such/article") == []
    left = {m["source_id"] for _, m in documents(indexer)}
    assert left == {"business/002", "tech/001"}


def test_exact_duplicates_are_indexed_once_with_every_location(indexer: Indexer, corpus: Path) -> None:
    shutil.copy(corpus / "business" / "001.txt", corpus / "tech" / "009.txt")
    report = indexer.ingest([str(corpus)])
    assert report.duplicates == ["tech/009"]
    ids = [m["source_id"] for _, m in documents(indexer)]
    assert "tech/009" not in ids
    assert indexer.article("tech/009").duplicate_of == "business/001"
    # Removing the indexed copy keeps the text indexed under the other location.
    indexer.remove("business/001")
    ids = {m["source_id"] for _, m in documents(indexer)}
    assert "tech/009" in ids
    assert indexer.article("tech/009").duplicate_of is None


def test_near_duplicates_are_recorded_as_one_story(indexer: Indexer, corpus: Path) -> None:
    text = story("harbour bridge", n=12)
    write(corpus, "wire/a", "Bridge to reopen", text)
    write(corpus, "wire/b", "Harbour bridge will reopen", text.replace("sharply.", "sharply!", 1))
    indexer.ingest([str(corpus)])
    a, b = indexer.article("wire/a"), indexer.article("wire/b")
    assert a.duplicate_of is None and b.duplicate_of is None, "near copies are both kept"
    assert a.story_id == b.story_id == "wire/a"
    stories = {m["story_id"] for _, m in documents(indexer) if m["source_id"] in ("wire/a", "wire/b")}
    assert stories == {"wire/a"}
    assert indexer.article("business/001").story_id == "business/001"


def test_a_chain_of_copies_across_batches_is_one_story(settings: Settings, fake_embeddings, corpus: Path) -> None:
    """One article per batch: a copy of a copy is recognised through the middle copy, which an
    earlier batch indexed."""
    text = story("harbour bridge", n=12)
    copy = text.replace("day 1,", "night 1,")
    copy_of_copy = copy.replace("day 3,", "night 3,")
    threshold = settings.near_duplicate_threshold
    assert jaccard(shingles(text), shingles(copy)) >= threshold
    assert jaccard(shingles(copy), shingles(copy_of_copy)) >= threshold
    assert jaccard(shingles(text), shingles(copy_of_copy)) < threshold, "only the middle copy links them"
    write(corpus, "wire/a", "Bridge to reopen", text)
    write(corpus, "wire/b", "Bridge will reopen", copy)
    write(corpus, "wire/c", "Harbour bridge will reopen", copy_of_copy)
    indexer = Indexer(settings.model_copy(update={"ingest_batch": 1}), embeddings=fake_embeddings)
    try:
        report = indexer.ingest([str(corpus)])
        assert len(report.added) == 6
        assert [indexer.article(f"wire/{x}").story_id for x in "abc"] == ["wire/a"] * 3
        assert indexer.article("business/001").story_id == "business/001"
        assert chunk_count(indexer) == sum(indexer.article(s).n_chunks for s in report.added)
    finally:
        indexer.close()


def test_dry_run_writes_nothing(indexer: Indexer, corpus: Path) -> None:
    report = indexer.ingest([str(corpus)], dry_run=True)
    assert len(report.added) == 3
    assert chunk_count(indexer) == 0
    assert indexer.article("business/001") is None


def test_bad_inputs_are_named_and_the_rest_is_indexed(indexer: Indexer, corpus: Path) -> None:
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    (corpus / "junk.txt").write_bytes(bytes(range(256)) * 40)
    (corpus / "latin1.txt").write_bytes("Caf\xe9 society\n\nUn caf\xe9 \x81\x8d\x8f\x90 ferme.".encode("latin-1"))
    report = indexer.ingest([str(corpus)])
    failed = {Path(f.source).name for f in report.failed}
    assert {"empty.txt", "junk.txt"} <= failed
    assert all(f.reason for f in report.failed)
    assert len(report.added) >= 3
    assert report.exit_code == 1


def linkless_feed(path: Path, *stories: str) -> None:
    items = "".join(
        f"<item><title>{name} story</title><description>The {name} committee approved the harbour "
        f"bridge budget on Tuesday.</description></item>"
        for name in stories
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>',
        encoding="utf-8",
    )


def test_linkless_entries_of_two_feeds_in_one_folder_are_both_indexed(
    indexer: Indexer, tmp_path: Path
) -> None:
    feeds = tmp_path / "feeds"
    linkless_feed(feeds / "alpha.rss", "alpha")
    linkless_feed(feeds / "beta.rss", "beta")
    first = indexer.ingest([str(feeds)])
    assert (len(first.added), first.failed) == (2, [])
    assert {doc.split()[1] for doc, _ in documents(indexer)} == {"alpha", "beta"}
    again = indexer.ingest([str(feeds)])
    assert len(again.unchanged) == 2
    # A new story at the top of a feed leaves the ids of the entries below it alone.
    linkless_feed(feeds / "alpha.rss", "gamma", "alpha")
    grown = indexer.ingest([str(feeds)], prune=True)
    assert (len(grown.added), len(grown.unchanged), grown.deleted) == (1, 2, [])


def test_two_different_articles_with_one_source_id_are_a_named_failure(
    indexer: Indexer, tmp_path: Path
) -> None:
    # Files are named relative to the folder given, so 001 of two folders share an id.
    write(tmp_path / "monday", "001", "Rail fares rise", story("rail fares"))
    write(tmp_path / "tuesday", "001", "Steel plant closes", story("steel plant"))
    report = indexer.ingest([str(tmp_path / "monday"), str(tmp_path / "tuesday")])
    assert report.added == ["001"]
    [failure] = report.failed
    assert failure.source == "001"
    assert str(tmp_path / "tuesday") in failure.reason and "same source id" in failure.reason
    assert report.exit_code == 1


def test_all_failed_has_its_own_exit_code(indexer: Indexer, tmp_path: Path) -> None:
    report = indexer.ingest([str(tmp_path / "missing-folder")])
    assert report.exit_code == 2
    assert "missing-folder" in report.failed[0].source


def test_a_second_writer_is_refused_with_a_clear_error(indexer: Indexer, corpus: Path) -> None:
    with writer_lock(indexer.settings):
        with pytest.raises(StoreLockedError, match="CHROMA_URL"):
            indexer.ingest([str(corpus)])
    assert indexer.ingest([str(corpus)]).exit_code == 0


def test_stats_report_what_is_indexed(indexer: Indexer, corpus: Path) -> None:
    indexer.ingest([str(corpus)], outlet="Example News")
    stats = indexer.stats()
    assert stats["articles"] == 3
    assert stats["chunks_in_store"] == stats["chunks"] > 0
    assert stats["outlets"] == {"Example News": 3}
    assert stats["embedding_model"] == "all-MiniLM-L6-v2"
    assert stats["last_refresh"]


def test_the_npr_page_is_indexed_without_its_chrome(indexer: Indexer, tmp_path: Path) -> None:
    from tests.conftest import TEST_DATA

    folder = tmp_path / "npr"
    folder.mkdir()
    shutil.copy(TEST_DATA / "npr-sessions-russian-envoy.txt", folder / "sessions.txt")
    assert indexer.ingest([str(folder)]).added == ["sessions"]
    indexed = "\n".join(text for text, _ in documents(indexer))
    title = indexer.article("sessions").article.title
    assert title == "AG Sessions' Talks With Russian Envoy May Conflict With Senate Testimony"
    assert "Sergey Kislyak" in indexed and "Al Franken" in indexed
    for chrome in (
        "Your NPR news source",
        "SHARE AG Sessions",
        "testifies on Jan. 10 at the confirmation hearing",
        "Alex Brandon/AP",
        "Copyright 2017 NPR",
        "To see more, visit",
        "The Latest",
        "Biden",
        "bus lanes",
        "Illinois Republicans",
        "youth jobs program",
    ):
        assert chrome not in indexed, chrome


def test_writes_of_a_run_killed_before_announcing_them_are_announced_by_the_next(
    indexer: Indexer, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other processes' keyword indexes follow the version in the collection's metadata: a run
    that dies after writing but before bumping it must not leave them stale for good."""
    def version() -> str:
        return read_version(get_collection(indexer.client, indexer.settings))

    before = version()
    with monkeypatch.context() as patch:
        patch.setattr("ingest.indexer.bump_version", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            indexer.ingest([str(corpus)])
    assert chunk_count(indexer) > 0 and version() == before  # written, unannounced

    again = indexer.ingest([str(corpus)])  # nothing left to write...
    assert again.added == [] and again.updated == []
    assert version() != before  # ...but the earlier writes are announced now
