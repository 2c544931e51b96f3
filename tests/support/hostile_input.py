"""Hostile input for the property tests (tests/test_properties_*.py): hypothesis strategies for
messy text, junk files and bad dates, and the good corpus they are mixed with.

Hypothesis runs each example inside one test call, so function-scoped fixtures are not reset
between examples: every example makes its own folder (`example_folder`) under the module-scoped
`scratch` folder.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st

from ingest.errors import SourceError
from ingest.loaders import iter_articles
from ingest.models import Article
from retrieval.settings import Settings

# Cheap properties get many examples; ones that write folders or open Chroma get few.
FAST = settings(max_examples=100, deadline=None)
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
FOLDERS = settings(max_examples=30, deadline=None, suppress_health_check=_SLOW_IS_FINE)
STORE = settings(max_examples=15, deadline=None, suppress_health_check=_SLOW_IS_FINE)

MB = 1024 * 1024


# --- strategies ---------------------------------------------------------------------------------

WORDS = (
    "officials said the council would raise fares after talks on tuesday critics warned that "
    "river levels could rise again minister budget plan schools harbour bridge reopen engineers "
    "inspected voters queued morning storm damaged pier museum roof repairs"
).split()

# Lines any news page carries that are not the story (each is dropped by `clean_text` alone).
CHROME_LINES = (
    "Advertisement",
    "Story continues below advertisement",
    "Share this article",
    "SHARE Council raises fares",
    "Facebook Twitter Email",
    "Alex Brandon/AP",
    "Kirill Kudryavtsev/AFP/Getty Images",
    "Copyright 2017 NPR. To see more, visit https://www.npr.org.",
    "© 2024 Example News",
    "Image caption, Crowds gathered in the square",
    "Read more: Why the vote matters",
    "Your NPR news source",
)

# Whitespace a scraper leaves between lines: blank runs, CRLF, paragraph and line separators.
LINE_BREAKS = (
    "\n", "\n\n", "\r\n", "\r\n\r\n", "\n \t\n", "\n" * 40, "\u2029", "\u2028", "\n\u3000\n",
)

# Whitespace of every kind the chunker has to treat as a gap between words.
GAPS = (
    " ", "  ", "\t", "\n", "\n\n", "\n \n", "\r\n", "\x0b", "\x0c", "\u00a0", "\u3000",
    "\n" * 30, " " * 50,
)

sentence = st.lists(st.sampled_from(WORDS), min_size=3, max_size=14).flatmap(
    lambda words: st.sampled_from(".!?").map(lambda end: " ".join(words).capitalize() + end)
)

# A word: up to 10 characters of anything but whitespace (unicode, controls, punctuation). That
# is at most 40 UTF-8 bytes, so at most 40 tokens: every word fits the chunking budget below.
word = (
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10)
    .map(lambda w: "".join(c for c in w if not c.isspace()))
    .filter(bool)
)

# A single line of thousands of words (a few sentences repeated: cheap to generate).
huge_line = st.tuples(st.lists(sentence, min_size=1, max_size=4), st.integers(20, 400)).map(
    lambda t: " ".join(t[0] * t[1])
)

# Text a scraper might hand over: real sentences, garbage, huge single lines, blank-line runs,
# control characters and unicode, in any mix.
messy_text = st.one_of(
    st.text(),
    st.lists(
        st.one_of(
            sentence,
            st.text(max_size=60),
            st.sampled_from(CHROME_LINES),
            st.sampled_from(LINE_BREAKS),
            huge_line,
            st.text(st.characters(categories=("Cc", "Cf", "Mn", "Zs")), max_size=20),
        ),
        max_size=30,
    ).map("\n".join),
)


@st.composite
def wordy_text(draw: st.DrawFn) -> str:
    """Words separated by whitespace of every kind; some runs are thousands of words long."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        words = draw(st.lists(st.one_of(word, st.sampled_from(WORDS)), min_size=1, max_size=30))
        words *= draw(st.sampled_from((1, 1, 1, 40, 300)))
        gaps = draw(st.lists(st.sampled_from(GAPS), min_size=1, max_size=8))
        parts.append("".join(w + gaps[i % len(gaps)] for i, w in enumerate(words)))
        if draw(st.booleans()):
            parts[-1] += draw(st.sampled_from(".!?")) + " "
    return draw(st.sampled_from(("", " ", "\n\n"))) + "".join(parts)


# --- the good corpus and junk files ------------------------------------------------------------

STORY_PARAGRAPHS = [
    "The harbour authority said on Monday that the new pier would open in June after repairs.",
    "Fishing boats have used a temporary mooring since the old pier was damaged in a storm.",
    "Engineers inspected the piles last week and found the timber sound below the waterline.",
    "The council will hold a public meeting about parking near the pier next month.",
]
STORY = "\n\n".join(STORY_PARAGRAPHS)

# source_id -> (file, bytes, a sentence the article must contain)
GOOD_FILES: dict[str, tuple[str, bytes, str]] = {
    "good/plain": ("good/plain.txt", f"Pier to reopen\n\n{STORY}".encode(), STORY_PARAGRAPHS[0]),
    "good/notes": ("good/notes.md", f"# Moorings moved\n\n{STORY}\n".encode(), STORY_PARAGRAPHS[1]),
    "https://news.example/record": (
        "good/record.json",
        json.dumps({"title": "Piles inspected", "body": STORY, "url": "https://news.example/record",
                    "published": "2024-03-01T09:00:00+01:00"}).encode(),
        STORY_PARAGRAPHS[2],
    ),
    "https://news.example/line-1": (
        "good/wire.jsonl",
        (json.dumps({"title": "Meeting called", "text": STORY,
                     "link": "https://news.example/line-1"})
         + "\n\n"
         + json.dumps({"title": "Storm damage", "content": STORY_PARAGRAPHS[1],
                       "link": "https://news.example/line-2", "date": "not a date"})
         + "\n").encode(),
        STORY_PARAGRAPHS[3],
    ),
    "https://news.example/line-2": ("good/wire.jsonl", b"", STORY_PARAGRAPHS[1]),
    "good/page": (
        "good/page.html",
        ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Pier to reopen in June</title>"
         "</head><body><nav><a href='/'>Home</a></nav><article><h1>Pier to reopen in June</h1>"
         + "".join(f"<p>{p}</p>" for p in STORY_PARAGRAPHS)
         + "</article></body></html>").encode(),
        STORY_PARAGRAPHS[0],
    ),
}


def folder_settings(base: Path) -> Settings:
    """Settings on a store under `base`, ignoring any `.env`; files up to 20 MB are read."""
    return Settings(  # type: ignore[call-arg]
        store_dir=base / "store", max_file_mb=20, _env_file=None
    )


def write_good(root: Path) -> None:
    """Write the good corpus (`GOOD_FILES`) under `root`."""
    for name, data, _ in GOOD_FILES.values():
        if data:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the examples of one test module make their folders in."""
    return tmp_path_factory.mktemp("properties")


@contextmanager
def example_folder(scratch: Path) -> Iterator[Path]:
    """A fresh folder per hypothesis example, removed afterwards."""
    with tempfile.TemporaryDirectory(dir=scratch) as name:
        yield Path(name)


FIELD_KEYS = ("title", "headline", "body", "text", "content", "url", "link", "published", "date",
              "pubDate", "author", "authors", "source", "articles", "items")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FIELD_KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=15,
)
html_fragments = st.recursive(
    st.text(max_size=40).map(html.escape),
    lambda inner: st.tuples(
        st.sampled_from(("div", "p", "span", "article", "b", "script", "br", "li", "table")),
        st.lists(inner, max_size=3),
    ).map(lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    max_leaves=20,
)
junk_bytes = st.one_of(
    st.binary(max_size=2000),
    st.just(b""),
    st.text(max_size=1000).map(lambda t: t.encode("utf-8")),
    st.text(max_size=300).map(lambda t: t.encode("utf-16")),
    st.text(st.characters(max_codepoint=0xFF), max_size=500).map(lambda t: t.encode("latin-1")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(json_values, max_size=6).map(lambda vs: "\n".join(map(json.dumps, vs)).encode()),
    html_fragments.map(lambda h: f"<html><body>{h}</body></html>".encode()),
    messy_text.map(lambda t: t.encode("utf-8", errors="replace")),
)


junk_suffixes = st.sampled_from((".txt", ".md", ".json", ".jsonl", ".html", ".htm", ".markdown"))
junk_files = st.lists(st.tuples(junk_suffixes, junk_bytes), min_size=1, max_size=8)


def write_junk(root: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write each (suffix, bytes) of `files` under `root` and return the paths written."""
    paths = []
    for number, (suffix, data) in enumerate(files):
        # Half at the top, half in a subfolder beside the good files.
        path = root / ("junk" if number % 2 else "") / f"j{number}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def named_file(error: SourceError, paths: list[Path]) -> Path | None:
    """The file a SourceError is about (record errors add `#n` or `:n` to the file's path)."""
    for path in paths:
        if re.fullmatch(re.escape(str(path)) + r"(?:[#:]\d+)?", error.source):
            return path
    return None


# Years the date parser accepts (it wants a year 18xx-21xx), zones of any valid offset.
plain_datetimes = st.datetimes(min_value=datetime(1800, 1, 2), max_value=datetime(2199, 12, 30))
zones = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def assert_valid_date(published: datetime | None) -> None:
    if published is not None:
        assert isinstance(published, datetime)
        assert published.utcoffset() == timedelta(0)


def read_folder_with(scratch: Path, name: str, data: bytes) -> list[Article | SourceError]:
    """Return what the loaders read from the good corpus plus one file `name` holding `data`."""
    with example_folder(scratch) as root:
        write_good(root)
        (root / name).write_bytes(data)
        return list(iter_articles(str(root), settings=folder_settings(root)))
