"""Reading files and folders: source ids, headlines, metadata, and bad input reported per file."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.errors import SourceError
from ingest.loaders import iter_articles
from ingest.models import Article
from retrieval.settings import Settings

STORY = (
    "The harbour authority said on Monday that the new pier would open in June.\n\n"
    "Fishing boats have used a temporary mooring since the old pier was damaged in a storm."
)

HTML_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Museum reopens after repairs</title>
<meta name="author" content="Ana Ruiz">
<meta property="article:published_time" content="2024-02-01T10:00:00Z">
</head><body><nav><a href="/">Home</a> <a href="/arts">Arts</a></nav><article>
<h1>Museum reopens after repairs</h1>
<p>The city museum reopened on Thursday after two years of repairs to its leaking roof.</p>
<p>Visitors queued around the block to see the restored whale skeleton in the main hall.</p>
<p>Entry will be free for residents until the end of the month, the director said.</p>
</article></body></html>"""

RSS_FILE = """<?xml version="1.0"?><rss version="2.0"
xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>River Post</title>
<item><title>Canal reopens to boats</title><link>https://river.example/canal</link>
<pubDate>Wed, 06 Mar 2024 12:00:00 GMT</pubDate>
<content:encoded><![CDATA[<p>The canal reopened to boats on Wednesday.</p><p>Locks were repaired over winter.</p>]]>
</content:encoded></item></channel></rss>"""


def read(target: str | Path, settings: Settings, **kwargs: str) -> tuple[list[Article], list[SourceError]]:
    items = list(iter_articles(str(target), settings=settings, **kwargs))
    return (
        [item for item in items if isinstance(item, Article)],
        [item for item in items if isinstance(item, SourceError)],
    )


@pytest.fixture
def newsroom(tmp_path: Path) -> Path:
    """A nested folder of articles in every supported format, plus files that are not articles."""
    root = tmp_path / "newsroom"
    (root / "business").mkdir(parents=True)
    (root / "tech" / "deep").mkdir(parents=True)
    (root / "arts").mkdir()
    (root / ".cache").mkdir()
    (root / "business" / "001.txt").write_text("New pier for the harbour\n\n" + STORY, encoding="utf-8")
    (root / "tech" / "deep" / "002.md").write_text(
        "# Robots sort the recycling\n\nA new plant uses robots to sort plastic from paper.\n",
        encoding="utf-8",
    )
    (root / "arts" / "museum.html").write_text(HTML_PAGE, encoding="utf-8")
    (root / "records.json").write_text(
        json.dumps([
            {"headline": "Bus fares frozen", "body": "The council froze bus fares for another year.",
             "url": "https://city.example/bus-fares", "published_at": "2024-03-05T10:00:00+01:00",
             "source": {"id": "cp", "name": "City Paper"}, "authors": ["Li Wei", "Sam Cole"]},
            {"title": "Park bench appeal", "text": "Residents asked for more benches in the park.",
             "date": "not a date"},
        ]),
        encoding="utf-8",
    )
    (root / "wire.jsonl").write_text(
        json.dumps({"title": "Bridge inspected", "content": "Engineers inspected the old bridge.",
                    "link": "https://wire.example/bridge", "published": "2024-01-09"}) + "\n"
        + '{"title": "Broken line", "content": \n'
        + json.dumps({"title": "Snow expected", "text": "Forecasters expect snow on the hills."}) + "\n",
        encoding="utf-8",
    )
    (root / "river.rss").write_text(RSS_FILE, encoding="utf-8")
    (root / "urls.json").write_text(
        json.dumps({
            "business/001": {"url": "https://harbour.example/pier", "published": "2024-05-01",
                             "author": "Jo Marsh"},
            # Keyed with the folder's own name in front, as in a sidecar written for the parent.
            "newsroom/tech/deep/002": {"url": "https://tech.example/robots", "outlet": "Tech Weekly"},
        }),
        encoding="utf-8",
    )
    # Not articles: hidden, documentation, licence, other formats.
    (root / ".draft.txt").write_text("Secret draft\n\nNot for publication.", encoding="utf-8")
    (root / ".cache" / "old.txt").write_text("Cached\n\nStale copy.", encoding="utf-8")
    (root / "README.md").write_text("# About this folder\n\nNotes for editors.", encoding="utf-8")
    (root / "LICENSE").write_text("All rights reserved.", encoding="utf-8")
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    return root


def test_folder_yields_every_article_with_paths_as_source_ids(newsroom: Path, settings: Settings) -> None:
    articles, errors = read(newsroom, settings, outlet="Newsroom")
    by_id = {article.source_id: article for article in articles}

    assert set(by_id) == {
        "business/001",
        "tech/deep/002",
        "arts/museum",
        "https://city.example/bus-fares",
        "records#2",
        "https://wire.example/bridge",
        "wire#3",
        "https://river.example/canal",
    }
    assert {article.origin for article in articles} == {str(newsroom)}
    # The one broken JSON line is the one error, named by file and line.
    [error] = errors
    assert error.source == f"{newsroom / 'wire.jsonl'}:2"


def test_folder_order_is_the_same_every_time(newsroom: Path, settings: Settings) -> None:
    first = [item.source_id for item in read(newsroom, settings)[0]]
    second = [item.source_id for item in read(newsroom, settings)[0]]
    assert first == second


def test_plain_text_and_markdown_headlines(newsroom: Path, settings: Settings) -> None:
    by_id = {article.source_id: article for article in read(newsroom, settings)[0]}

    pier = by_id["business/001"]
    assert pier.title == "New pier for the harbour"
    assert pier.text == STORY
    robots = by_id["tech/deep/002"]
    assert robots.title == "Robots sort the recycling"
    assert robots.text == "A new plant uses robots to sort plastic from paper."


def test_sidecar_urls_and_dates_are_applied(newsroom: Path, settings: Settings) -> None:
    by_id = {article.source_id: article for article in read(newsroom, settings, outlet="Newsroom")[0]}

    pier = by_id["business/001"]
    assert pier.url == "https://harbour.example/pier"
    assert pier.published_at == datetime(2024, 5, 1, tzinfo=UTC)
    assert pier.author == "Jo Marsh"
    assert pier.outlet == "Newsroom"  # the default outlet, as the sidecar names none
    robots = by_id["tech/deep/002"]
    assert robots.url == "https://tech.example/robots"
    assert robots.outlet == "Tech Weekly"
    assert robots.published_at is None


def test_html_file_is_extracted_with_its_metadata(newsroom: Path, settings: Settings) -> None:
    by_id = {article.source_id: article for article in read(newsroom, settings)[0]}

    museum = by_id["arts/museum"]
    assert museum.title == "Museum reopens after repairs"
    assert museum.author == "Ana Ruiz"
    assert museum.published_at == datetime(2024, 2, 1, 10, 0, tzinfo=UTC)
    assert "restored whale skeleton" in museum.text
    assert "Arts" not in museum.text.split()


def test_json_and_jsonl_records(newsroom: Path, settings: Settings) -> None:
    by_id = {article.source_id: article for article in read(newsroom, settings, outlet="Newsroom")[0]}

    fares = by_id["https://city.example/bus-fares"]
    assert fares.title == "Bus fares frozen"
    assert fares.url == "https://city.example/bus-fares"
    assert fares.outlet == "City Paper"
    assert fares.author == "Li Wei, Sam Cole"
    assert fares.published_at == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    bench = by_id["records#2"]
    assert bench.title == "Park bench appeal"
    assert bench.published_at is None  # "not a date" is not a date
    assert bench.outlet == "Newsroom"
    bridge = by_id["https://wire.example/bridge"]
    assert bridge.published_at == datetime(2024, 1, 9, tzinfo=UTC)
    assert by_id["wire#3"].text == "Forecasters expect snow on the hills."


def test_feed_file_in_a_folder_is_read_as_a_feed(newsroom: Path, settings: Settings) -> None:
    by_id = {article.source_id: article for article in read(newsroom, settings)[0]}

    canal = by_id["https://river.example/canal"]
    assert canal.title == "Canal reopens to boats"
    assert canal.outlet == "River Post"
    assert canal.published_at == datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
    assert canal.text == "The canal reopened to boats on Wednesday.\n\nLocks were repaired over winter."


def test_single_file_is_named_by_its_stem_and_absolute_path(
    tmp_path: Path, settings: Settings
) -> None:
    # The settings fixture runs the test from tmp_path, so a relative target works.
    (tmp_path / "pier.txt").write_text("New pier for the harbour\n\n" + STORY, encoding="utf-8")
    [article], errors = read("pier.txt", settings)
    assert errors == []
    assert article.source_id == "pier"
    assert article.origin == str(tmp_path / "pier.txt")
    assert article.title == "New pier for the harbour"


def test_missing_target_is_one_error(tmp_path: Path, settings: Settings) -> None:
    missing = tmp_path / "nowhere"
    articles, errors = read(missing, settings)
    assert articles == []
    [error] = errors
    assert error.source == str(missing)


def test_each_bad_file_is_one_error_and_the_good_files_still_come_through(
    tmp_path: Path, settings: Settings
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "good.txt").write_text("Pier opens\n\n" + STORY, encoding="utf-8")
    # Windows-1252 text: read as such, the pound sign intact.
    (folder / "pounds.txt").write_bytes("Club fined\n\nThe club was fined £15.8m on Monday.".encode("cp1252"))
    bad = {
        # Not UTF-8 and not plain cp1252 either: mostly high bytes.
        "garbled.txt": "Ωμέγα\n\n".encode("utf-16-le") + bytes(range(0x80, 0xFF)) * 4,
        "koi8.txt": "Новости дня\n\nСегодня в городе открылся новый мост.".encode("koi8-r"),
        "empty.txt": b"",
        "blank.txt": b"   \n\n \t\n",
        "binary.txt": bytes(range(256)) * 8,
        "controls.txt": b"Title\n\n" + b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 20 + b" text",
        "chrome-only.txt": b"Your Gazette news source\n\nSHARE Nothing here\n\nCopyright 2024 Gazette",
        "broken.json": b'{"title": "Half an object", ',
        "broken.rss": b"<?xml version='1.0'?><rss><channel><title>Oops</title><<item",
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    with (folder / "huge.txt").open("wb") as huge:
        huge.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, instant to make

    articles, errors = read(folder, settings)

    assert {article.source_id for article in articles} == {"good", "pounds"}
    pounds = next(article for article in articles if article.source_id == "pounds")
    assert "£15.8m" in pounds.text
    named = sorted(Path(error.source).name for error in errors)
    assert named == sorted([*bad, "huge.txt"])
    reasons = {Path(error.source).name: error.reason for error in errors}
    assert "UTF-8" in reasons["koi8.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "binary" in reasons["controls.txt"]
    assert "MB" in reasons["huge.txt"]
    assert "feed" in reasons["broken.rss"]


def test_file_over_a_small_limit_is_refused(tmp_path: Path) -> None:
    settings = Settings(max_file_mb=0.001, _env_file=None)  # type: ignore[call-arg]
    path = tmp_path / "long.txt"
    path.write_text("Long read\n\n" + "A sentence about the harbour. " * 100, encoding="utf-8")
    articles, errors = read(path, settings)
    assert articles == []
    [error] = errors
    assert error.source == str(path)
    assert "0.001 MB limit" in error.reason


def test_question_file_is_one_error_not_one_per_line(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "q1", "question": "Who won?"}\n{"id": "q2", "question": "When?"}\n')
    articles, errors = read(path, settings)
    assert articles == []
    [error] = errors
    assert error.source == str(path)


@pytest.mark.parametrize("number", ["001", "002", "003", "004", "005"])
def test_bbc_headline_is_the_first_line(shared_data: Path, settings: Settings, number: str) -> None:
    path = shared_data / "bbc" / "business" / f"{number}.txt"
    first_line, _, rest = path.read_text(encoding="utf-8").partition("\n")
    [article], errors = read(path, settings)
    assert errors == []
    assert article.title == first_line.strip()
    assert not article.text.startswith(first_line.strip())
    assert article.text.split("\n\n")[0] == rest.strip().split("\n\n")[0]


def test_bbc_file_that_is_not_utf8_is_read_as_cp1252(shared_data: Path, settings: Settings) -> None:
    [article], errors = read(shared_data / "bbc" / "sport" / "199.txt", settings)
    assert errors == []
    assert article.title == "Chelsea sack Mutu"
    assert "a £15.8m signing from Parma" in article.text


def test_sidecar_in_the_parent_folder_is_matched_by_folder_name(
    shared_data: Path, tmp_path: Path, settings: Settings
) -> None:
    # cnn-rtqa/urls.json is keyed "cnn/<name>": ingesting cnn-rtqa/cnn must still find it.
    corpus = tmp_path / "cnn-rtqa"
    (corpus / "cnn").mkdir(parents=True)
    shutil.copy(shared_data / "cnn-rtqa" / "urls.json", corpus / "urls.json")
    name = "2022-08-24-mack-rutherford-youngest-fly-around-world-intl"
    shutil.copy(shared_data / "cnn-rtqa" / "cnn" / f"{name}.txt", corpus / "cnn" / f"{name}.txt")

    for target, source_id in ((corpus / "cnn", name), (corpus, f"cnn/{name}")):
        [article], errors = read(target, settings)
        assert errors == []
        assert article.source_id == source_id
        assert article.url == "https://www.cnn.com/2022/08/24/europe/mack-rutherford-youngest-fly-around-world-intl/index.html"
        assert article.published_at == datetime(2022, 8, 24, tzinfo=UTC)


def test_a_folder_sidecar_star_entry_gives_defaults(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "wire"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "one.txt").write_text("Storm hits coast\n\nA storm hit the coast on Monday.", encoding="utf-8")
    (folder / "metadata.json").write_text(
        json.dumps({"*": {"outlet": "Wire Service"}, "a/one": {"url": "https://wire.example/one"}}),
        encoding="utf-8",
    )
    (article,) = list(iter_articles(str(folder), settings=settings))
    assert article.outlet == "Wire Service"
    assert article.url == "https://wire.example/one"


def test_a_headline_only_page_is_indexed_as_its_headline(tmp_path: Path, settings: Settings) -> None:
    page = tmp_path / "ford-recall.txt"
    page.write_text(
        "Ford recall\n\n1. How relevant is this ad to you?\n\nVideo player was slow to load content "
        "Video content never loaded Ad froze or did not finish loading\n",
        encoding="utf-8",
    )
    (article,) = list(iter_articles(str(page), settings=settings))
    assert article.title == "Ford recall"
    assert "ad" not in article.text.lower().split()


def test_pages_of_only_navigation_are_refused_and_short_stories_are_not(
    tmp_path: Path, settings: Settings
) -> None:
    shutil.copy(Path(__file__).parent / "data" / "web" / "nav-only.html", tmp_path / "nav.html")
    (tmp_path / "nav.txt").write_text("Site\n\nHome / News / Sport / Subscribe now!\n", encoding="utf-8")
    (tmp_path / "menu.txt").write_text(
        "Home News Sport Weather iPlayer Sounds\n\nSign up for our newsletter\n", encoding="utf-8"
    )
    (tmp_path / "short.txt").write_text("Fares frozen\n\nBus fares stay the same.\n", encoding="utf-8")
    (tmp_path / "flash.txt").write_text("Storm closes the pier\n", encoding="utf-8")
    articles, errors = read(tmp_path, settings)
    assert sorted(article.source_id for article in articles) == ["flash", "short"]
    assert sorted((Path(e.source).name, e.reason) for e in errors) == [
        ("menu.txt", "no article text after cleaning"),
        ("nav.html", "no article text found in the HTML"),
        ("nav.txt", "no article text after cleaning"),
    ]


def test_a_symlinked_folder_is_read_once_and_a_loop_is_named(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "pier.txt").write_text("New pier for the harbour\n\n" + STORY, encoding="utf-8")
    root = tmp_path / "newsroom"
    (root / "today").mkdir(parents=True)
    (root / "today" / "bus.txt").write_text("Bus fares frozen\n\nThe council froze bus fares.", encoding="utf-8")
    (root / "archive").symlink_to(archive, target_is_directory=True)
    (root / "mirror").symlink_to(archive, target_is_directory=True)  # the same folder twice
    (root / "today" / "up").symlink_to(root, target_is_directory=True)  # a loop
    (archive / "back").symlink_to(tmp_path, target_is_directory=True)  # a loop through the link
    caplog.set_level(logging.WARNING, logger="ingest.loaders")

    articles, errors = read(root, settings)

    assert errors == []
    assert sorted(article.source_id for article in articles) == ["archive/pier", "today/bus"]
    skipped = {record.args[0] for record in caplog.records}  # the link each warning names
    assert skipped == {root / "mirror", root / "today" / "up", root / "archive" / "back"}


def test_a_symlink_to_a_folder_given_as_the_target_is_followed(tmp_path: Path, settings: Settings) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "pier.txt").write_text("New pier for the harbour\n\n" + STORY, encoding="utf-8")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    [article], errors = read(tmp_path / "link", settings)
    assert (article.source_id, errors) == ("pier", [])
