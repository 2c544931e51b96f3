"""Property tests of the loaders: a folder of arbitrary-bytes files still yields every good article,
and each bad file is one error that names it. Bugs these found (and since fixed) are pinned by
regression tests below the properties, each with its failing input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given

from ingest.errors import SourceError
from ingest.loaders import iter_articles
from ingest.models import Article
from tests.support.hostile_input import (
    FOLDERS,
    GOOD_FILES,
    MB,
    STORY,
    STORY_PARAGRAPHS,
    assert_valid_date,
    example_folder,
    folder_settings,
    junk_files,
    named_file,
    read_folder_with,
    scratch,  # noqa: F401 - a fixture
    write_good,
    write_junk,
)

@FOLDERS
@given(junk_files)
def test_a_folder_with_junk_files_still_yields_every_good_article(
    scratch: Path, files: list[tuple[str, bytes]]
) -> None:
    with example_folder(scratch) as root:
        write_good(root)
        junk = write_junk(root, files)
        items = list(iter_articles(str(root), settings=folder_settings(root)))  # never raises

        articles = {i.source_id: i for i in items if isinstance(i, Article)}
        for source_id, (_, _, must_contain) in GOOD_FILES.items():
            assert source_id in articles, f"lost {source_id}"
            assert must_contain in articles[source_id].text
        for article in articles.values():
            assert_valid_date(article.published_at)
            assert article.text.strip()

        errors = [i for i in items if isinstance(i, SourceError)]
        by_file: dict[Path, list[SourceError]] = {}
        for error in errors:
            path = named_file(error, junk)
            assert path is not None, f"error names no junk file: {error}"
            assert error.reason
            by_file.setdefault(path, []).append(error)
        for path, errs in by_file.items():
            # A plain file is one article or one error. A file of records (.json list, .jsonl)
            # may name several of its records; a wholly unreadable .jsonl is one error.
            if path.suffix not in (".json", ".jsonl"):
                assert len(errs) == 1, errs
            if path.suffix == ".json" and len(errs) > 1:
                assert all(e.source != str(path) for e in errs), errs


def test_deeply_nested_html_is_an_error_or_an_article_never_a_crash(scratch: Path) -> None:
    paragraph = "<p>" + STORY_PARAGRAPHS[0] * 3 + "</p>"
    with example_folder(scratch) as root:
        write_good(root)
        for depth in (100, 300, 5000):
            nested = "<div>" * depth + paragraph + "</div>" * depth
            (root / f"deep{depth}.html").write_text(f"<html><body>{nested}</body></html>")
            record = json.dumps({"title": "Deep", "body": nested})
            (root / f"deepjson{depth}.json").write_text(record)
        (root / "unclosed.html").write_text("<html><body>" + "<div><span>" * 5000 + paragraph)
        items = list(iter_articles(str(root), settings=folder_settings(root)))
    articles = {i.source_id: i for i in items if isinstance(i, Article)}
    assert set(GOOD_FILES) <= set(articles)
    assert "deep100" in articles and STORY_PARAGRAPHS[0] in articles["deep100"].text
    # libxml2 stops at 256 levels of nesting: deeper pages lose their text, but say so.
    named = {Path(i.source).stem for i in items if isinstance(i, SourceError)}
    assert "deepjson100" in articles and STORY_PARAGRAPHS[0] in articles["deepjson100"].text
    for stem in ("deep300", "deep5000", "deepjson300", "deepjson5000", "unclosed"):
        assert stem in articles or stem in named, stem


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("line.txt", lambda line: f"One long line\n\n{line}"),
        ("word.md", lambda line: "# One long word\n\n" + "x" * len(line)),
        ("record.json", lambda line: json.dumps({"title": "Long", "body": line})),
        ("records.jsonl", lambda line: json.dumps({"title": "Long", "text": line}) + "\n"),
        ("page.html", lambda line: f"<html><body><article><p>{line}</p></article></body></html>"),
    ],
)
def test_a_ten_megabyte_line_is_read_or_refused_never_a_crash(
    scratch: Path, name: str, payload: Callable[[str], str]
) -> None:
    prose = "Officials said the council would raise fares after talks. "
    line = (prose * (10 * MB // len(prose) + 1))[: 10 * MB]
    with example_folder(scratch) as root:
        (root / name).write_text(payload(line), encoding="utf-8")
        assert (root / name).stat().st_size < folder_settings(root).max_file_mb * MB
        items = list(iter_articles(str(root / name), settings=folder_settings(root)))
    assert len(items) == 1
    if isinstance(items[0], Article):
        assert len(items[0].text) >= 10 * MB - 100
    else:  # trafilatura (libxml2) drops a text node over 10 MB; the error names the file
        assert name.endswith(".html") and items[0].source.endswith(name)


# --- loader bugs (each input crashes or floods the whole batch) ----------------------------------

def _assert_one_error_and_the_good_articles(items: list, name: str) -> None:
    assert set(GOOD_FILES) <= {i.source_id for i in items if isinstance(i, Article)}
    errors = [i for i in items if isinstance(i, SourceError)]
    assert len(errors) == 1, errors
    assert re.fullmatch(rf".*/{re.escape(name)}(?:[#:]\d+)?", errors[0].source), errors


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("nested.json", b"[" * 100_000),
        ("nested.jsonl", b'{"body": "Officials said so."}\n' + b"[" * 100_000 + b"\n"),
        ("bigint.json", b'{"body": "Officials said so.", "id": ' + b"7" * 5000 + b"}"),
        ("bigint.jsonl", b'{"body": "Officials said so.", "id": ' + b"7" * 5000 + b"}\n"),
    ],
)


def test_json_that_json_loads_rejects_without_a_decode_error_is_one_error(
    scratch: Path, name: str, data: bytes
) -> None:
    _assert_one_error_and_the_good_articles(read_folder_with(scratch, name, data), name)


def test_a_jsonl_file_with_no_json_line_is_one_error(scratch: Path) -> None:
    pretty = json.dumps([{"title": "Pier", "body": STORY}] * 20, indent=2).encode()
    assert len(pretty.splitlines()) > 80
    items = read_folder_with(scratch, "pretty.jsonl", pretty)
    _assert_one_error_and_the_good_articles(items, "pretty.jsonl")
