"""Property tests: bad input never crashes a batch, and never costs articles already indexed.

Hypothesis throws arbitrary text at cleaning and chunking, folders of arbitrary-bytes files and
hostile dates at the loaders, and junk batches at an indexer holding a good corpus. Bugs these
found (and since fixed) are pinned by regression tests below the properties, each with its
failing input.

Hypothesis runs each example inside one test call, so function-scoped fixtures are not reset
between examples: every example makes its own folder under `tmp_path_factory`'s base.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from langchain_core.embeddings import DeterministicFakeEmbedding

from ingest.chunking import Chunker
from ingest.cleaning import clean_text, normalise, parse_date
from ingest.errors import SourceError
from ingest.indexer import Indexer
from ingest.loaders import iter_articles
from ingest.models import Article, Chunk
from retrieval.settings import Settings
from retrieval.store import get_collection

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


# --- cleaning -----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
# What `clean_text` takes for the heading of a trailing block of teasers ("The Latest").
_TEASER_HEADING = re.compile(
    r"^(?:the latest|latest \w+|related.*|more \w+|read more|most \w+|you (?:may|might) also like"
    r"|recommended.*|top stories|trending.*|further reading|see also|what to read next"
    r"|more on this \w+|around the web|(?:sponsored|promoted) \w+)\s*:?$",
    re.IGNORECASE,
)


def _is_subsequence(small: list[str], big: list[str]) -> bool:
    rest = iter(big)
    return all(any(item == candidate for candidate in rest) for item in small)


@FAST
@given(messy_text)
def test_clean_text_only_drops_whole_lines_of_the_normalised_text(text: str) -> None:
    cleaned = clean_text(text)
    normalised = normalise(text)
    assert len(cleaned) <= len(normalised), "cleaning never adds text"
    lines = cleaned.split("\n")
    kept = [line for line in lines if line]
    assert _is_subsequence(kept, normalised.split("\n")), "every line is a line of the input"
    assert "\n\n\n" not in cleaned and cleaned == cleaned.strip()
    assert all(line == line.strip() for line in lines)
    assert not _CONTROL.search(cleaned)


@FAST
@given(messy_text)
def test_clean_text_is_idempotent_up_to_the_teaser_cut(text: str) -> None:
    """A second pass changes nothing, except that it may cut a teaser block the first pass kept.

    `clean_text` is not idempotent in general, by design: a teaser heading ("Related") ends the
    story only after the first third of the text, and the first pass makes the text shorter, so a
    heading that sat in the first third can sit past it the second time. What holds is that the
    second pass only ever cuts the tail, and changes nothing when no teaser heading is left.
    """
    once = clean_text(text)
    twice = clean_text(once)
    once_lines, twice_lines = once.split("\n"), twice.split("\n")
    if not any(_TEASER_HEADING.match(line) for line in once_lines):
        assert twice == once
    else:
        assert once.startswith(twice), "the second pass only cuts a trailing block"
        assert twice_lines == once_lines[: len(twice_lines)] or twice == ""


def test_clean_text_is_not_idempotent_across_a_teaser_cut() -> None:
    """Why the property above is weaker than plain idempotence (a design consequence, not a bug)."""
    text = "\n".join(["A" * 20, "Related", "B" * 23, "The Latest", "Teaser text " * 7])
    once = clean_text(text)
    assert once == "\n".join(["A" * 20, "Related", "B" * 23])
    assert clean_text(once) == "A" * 20


@FAST
@given(
    st.lists(sentence, min_size=1, max_size=25, unique=True),
    st.lists(
        st.one_of(
            st.sampled_from(CHROME_LINES),
            # Noise with no letters: it cannot read as a teaser heading or repeat a sentence.
            st.text(st.characters(categories=("N", "P", "S")), max_size=40),
        ),
        max_size=25,
    ),
    st.lists(st.sampled_from(LINE_BREAKS), min_size=50, max_size=50),
    st.randoms(use_true_random=False),
)
def test_clean_text_keeps_every_story_sentence_and_drops_the_chrome(
    sentences: list[str], noise: list[str], breaks: list[str], rng
) -> None:
    lines = [*sentences, *noise]
    rng.shuffle(lines)
    # Keep the sentences in story order among the noise.
    order = iter(sentences)
    lines = [next(order) if line in sentences else line for line in lines]
    text = "".join(f" {line}\t{brk}" for line, brk in zip(lines, breaks, strict=False))
    out_lines = clean_text(text).split("\n")
    found = [line for line in out_lines if line in sentences]
    assert found == sentences, "every sentence survives, in order"
    for chrome in CHROME_LINES:
        assert chrome not in out_lines


def test_each_chrome_line_is_chrome_on_its_own() -> None:
    """The chrome fixtures above are chrome by themselves (else the test above proves nothing)."""
    story = "Officials said the council would raise fares after talks on Tuesday."
    for chrome in CHROME_LINES:
        assert clean_text(f"{story}\n\n{chrome}") == story, chrome


@pytest.mark.parametrize(
    "text", ["Cafe\u200b\u0301 opens", "Cafe\x01\u0301 opens", "Se\ufeff\u0301ance"]
)
def test_normalise_returns_nfc_text(text: str) -> None:
    once = normalise(text)
    assert unicodedata.is_normalized("NFC", once)
    assert clean_text(clean_text(text)) == clean_text(text)


# --- chunking -----------------------------------------------------------------------------------

BUDGET, OVERLAP = 48, 12
CHUNKER = Chunker(chunk_tokens=BUDGET, overlap=OVERLAP)


def _count(text: str) -> int:
    return len(CHUNKER.encoding.encode_ordinary(text))


def _check_chunks(text: str, chunker: Chunker) -> list[Chunk]:
    chunks = chunker.chunk("x", text)
    covered = bytearray(len(text))
    for i, chunk in enumerate(chunks):
        assert chunk.index == i and chunk.source_id == "x"
        assert text[chunk.char_start : chunk.char_end] == chunk.text, "spans are exact slices"
        assert chunk.text and chunk.text == chunk.text.strip(), "chunks start and end on text"
        assert chunk.tokens == _count(chunk.text)
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start > a.char_start, "chunks are in order and always move forward"
        assert b.char_end > a.char_end, "no chunk is a slice of the one before"
    missing = [c for c, hit in zip(text, covered) if not hit and not c.isspace()]
    assert missing == [], "every non-space character is in some chunk"
    return chunks


@FAST
@given(st.one_of(messy_text, wordy_text()))
def test_chunk_spans_are_exact_ordered_and_cover_every_character(text: str) -> None:
    chunks = _check_chunks(text, CHUNKER)
    assert bool(chunks) == bool(text.strip())


@FAST
@given(st.one_of(messy_text, wordy_text()))
def test_chunks_stay_within_the_token_budget(text: str) -> None:
    """Any text is chunked within the budget, even a "word" longer than the budget."""
    for chunk in _check_chunks(text, CHUNKER):
        assert chunk.tokens <= BUDGET


@FAST
@given(
    st.lists(sentence, min_size=1, max_size=60), st.sampled_from(("\n\n", " ", "\n", "\n" * 25))
)
def test_chunks_of_prose_stay_within_the_budget_at_any_size(
    sentences: list[str], join: str
) -> None:
    chunker = Chunker(chunk_tokens=16, overlap=4)
    for chunk in _check_chunks(join.join(sentences), chunker):
        assert chunk.tokens <= 16


@pytest.mark.parametrize(
    "text",
    [
        "东京电力公司周二表示，核电站的冷却系统已恢复正常运行，但专家警告说仍需密切监测。" * 20,
        "Full report: https://news.example/reports/" + "a1b2c3d4e5" * 120 + " was released today.",
    ],
    ids=["cjk-prose", "long-url"],
)
def test_a_word_longer_than_the_budget_is_split(text: str) -> None:
    chunker = Chunker(chunk_tokens=180, overlap=30)
    assert max(chunk.tokens for chunk in chunker.chunk("x", text)) <= 180


# --- loaders ------------------------------------------------------------------------------------

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


def _settings(base: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        store_dir=base / "store", max_file_mb=20, _env_file=None
    )


def _write_good(root: Path) -> None:
    for name, data, _ in GOOD_FILES.values():
        if data:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
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


def _write_junk(root: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    paths = []
    for number, (suffix, data) in enumerate(files):
        # Half at the top, half in a subfolder beside the good files.
        path = root / ("junk" if number % 2 else "") / f"j{number}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def _named_file(error: SourceError, paths: list[Path]) -> Path | None:
    """The file a SourceError is about (record errors add `#n` or `:n` to the file's path)."""
    for path in paths:
        if re.fullmatch(re.escape(str(path)) + r"(?:[#:]\d+)?", error.source):
            return path
    return None


# Years the date parser accepts (it wants a year 18xx-21xx), zones of any valid offset.
plain_datetimes = st.datetimes(min_value=datetime(1800, 1, 2), max_value=datetime(2199, 12, 30))
zones = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def _assert_valid_date(published: datetime | None) -> None:
    if published is not None:
        assert isinstance(published, datetime)
        assert published.utcoffset() == timedelta(0)


@FOLDERS
@given(junk_files)
def test_a_folder_with_junk_files_still_yields_every_good_article(
    scratch: Path, files: list[tuple[str, bytes]]
) -> None:
    with example_folder(scratch) as root:
        _write_good(root)
        junk = _write_junk(root, files)
        items = list(iter_articles(str(root), settings=_settings(root)))  # never raises

        articles = {i.source_id: i for i in items if isinstance(i, Article)}
        for source_id, (_, _, must_contain) in GOOD_FILES.items():
            assert source_id in articles, f"lost {source_id}"
            assert must_contain in articles[source_id].text
        for article in articles.values():
            _assert_valid_date(article.published_at)
            assert article.text.strip()

        errors = [i for i in items if isinstance(i, SourceError)]
        by_file: dict[Path, list[SourceError]] = {}
        for error in errors:
            path = _named_file(error, junk)
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


@FOLDERS
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.lists(st.text(max_size=10), max_size=3),
            st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=2),
            # Well-formed timestamps, in any zone.
            st.builds(
                lambda dt, zone: dt.replace(tzinfo=zone).isoformat(), plain_datetimes, zones
            ),
            # Dates out of range, half-formed or not dates at all.
            st.sampled_from((
                "2024-13-01", "2024-02-30", "2024-01-01T25:61:00", "2024-01-01T00:00:00+23:59",
                "0000-00-00 2024", "99999-01-01 2024", "31/31/2024", "2024", "1e400", "NaN",
                "Mon, 32 Jan 2024 99:99:99 GMT", "2024-01-01T00:00:00 -2359", "yesterday 2024",
                "2024-01-01" + "0" * 4000, "December 2024 " * 200,
            )),
            st.builds(
                lambda a, y, b: f"{a}{y}{b}",
                st.text("0123456789-:+T ./,WZ", max_size=15),
                st.integers(1800, 2199),
                st.text("0123456789-:+T ./,GMTUC", max_size=15),
            ),
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(
        ("published", "published_at", "publishedAt", "date", "pubDate", "datePublished")
    ),
)
def test_bad_dates_give_no_date_never_an_error(scratch: Path, values: list, key: str) -> None:
    with example_folder(scratch) as root:
        records = [{"title": f"Story {n}", "body": STORY, key: v} for n, v in enumerate(values)]
        (root / "dates.jsonl").write_text(
            "\n".join(json.dumps(r, allow_nan=True) for r in records), encoding="utf-8"
        )
        (root / "dates.json").write_text(json.dumps(records, allow_nan=True), encoding="utf-8")
        items = list(iter_articles(str(root), settings=_settings(root)))
        assert all(isinstance(item, Article) for item in items), items
        assert len(items) == 2 * len(values)
        for item in items:
            _assert_valid_date(item.published_at)


@FAST
@given(
    st.one_of(
        st.text(),
        st.integers(),
        st.floats(),
        st.none(),
        plain_datetimes,
        st.dates(),
        st.builds(lambda dt, zone: dt.replace(tzinfo=zone), plain_datetimes, zones),
    )
)
def test_parse_date_returns_utc_or_none(value: object) -> None:
    parsed = parse_date(value)
    _assert_valid_date(parsed)
    if isinstance(value, datetime) and value.tzinfo is not None:
        assert parsed == value, "an aware datetime keeps its instant"


@FAST
@given(plain_datetimes, zones)
def test_an_iso_timestamp_is_read_as_the_instant_it_names(moment: datetime, zone: timezone) -> None:
    aware = moment.replace(tzinfo=zone)
    assert parse_date(aware.isoformat()) == aware.astimezone(UTC)


def test_deeply_nested_html_is_an_error_or_an_article_never_a_crash(scratch: Path) -> None:
    paragraph = "<p>" + STORY_PARAGRAPHS[0] * 3 + "</p>"
    with example_folder(scratch) as root:
        _write_good(root)
        for depth in (100, 300, 5000):
            nested = "<div>" * depth + paragraph + "</div>" * depth
            (root / f"deep{depth}.html").write_text(f"<html><body>{nested}</body></html>")
            record = json.dumps({"title": "Deep", "body": nested})
            (root / f"deepjson{depth}.json").write_text(record)
        (root / "unclosed.html").write_text("<html><body>" + "<div><span>" * 5000 + paragraph)
        items = list(iter_articles(str(root), settings=_settings(root)))
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
        assert (root / name).stat().st_size < _settings(root).max_file_mb * MB
        items = list(iter_articles(str(root / name), settings=_settings(root)))
    assert len(items) == 1
    if isinstance(items[0], Article):
        assert len(items[0].text) >= 10 * MB - 100
    else:  # trafilatura (libxml2) drops a text node over 10 MB; the error names the file
        assert name.endswith(".html") and items[0].source.endswith(name)


# --- loader bugs (each input crashes or floods the whole batch) ----------------------------------

def _read_folder_with(scratch: Path, name: str, data: bytes) -> list[Article | SourceError]:
    with example_folder(scratch) as root:
        _write_good(root)
        (root / name).write_bytes(data)
        return list(iter_articles(str(root), settings=_settings(root)))


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
    _assert_one_error_and_the_good_articles(_read_folder_with(scratch, name, data), name)


@pytest.mark.parametrize(
    "date",
    [
        "2024-01-01T00:00:00+99:00",
        "Mon, 01 Jan 2024 10:00:00 +2400",
        "2000:0B0:0-3000",  # found by hypothesis
        "9999-12-31T23:00:00-2000",
        "0001-01-01T00:00:00+1900",
    ],
)
def test_a_date_with_an_impossible_zone_is_no_date(scratch: Path, date: str) -> None:
    record = json.dumps({"title": "Edge", "body": STORY, "published": date}).encode()
    items = _read_folder_with(scratch, "edge.json", record)
    edge = [i for i in items if isinstance(i, Article) and i.source_id == "edge"]
    assert edge, items
    _assert_valid_date(edge[0].published_at)


def test_a_jsonl_file_with_no_json_line_is_one_error(scratch: Path) -> None:
    pretty = json.dumps([{"title": "Pier", "body": STORY}] * 20, indent=2).encode()
    assert len(pretty.splitlines()) > 80
    items = _read_folder_with(scratch, "pretty.jsonl", pretty)
    _assert_one_error_and_the_good_articles(items, "pretty.jsonl")


# --- indexer ------------------------------------------------------------------------------------

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
        _write_good(corpus)
        indexer = Indexer(_settings(root), embeddings=DeterministicFakeEmbedding(size=32))
        try:
            first = indexer.ingest([str(corpus)])
            assert sorted(first.added) == sorted(GOOD_FILES) and first.exit_code == 0
            before = _chunks_by_source(indexer)
            catalog_before = {sid: indexer.article(sid).n_chunks for sid in GOOD_FILES}
            assert set(before) == set(GOOD_FILES) and all(before.values())

            junk = _write_junk(corpus, files)
            report = indexer.ingest([str(corpus)], prune=prune)  # never raises

            after = _chunks_by_source(indexer)
            assert {sid: after.get(sid) for sid in GOOD_FILES} == before, "nothing lost or changed"
            assert {sid: indexer.article(sid).n_chunks for sid in GOOD_FILES} == catalog_before
            assert set(GOOD_FILES) <= set(report.unchanged)
            assert report.deleted == []
            assert all(_named_file(e, junk) is not None for e in report.failed), report.failed
        finally:
            indexer.close()


def test_a_lone_surrogate_in_json_does_not_stop_the_batch(scratch: Path) -> None:
    with example_folder(scratch) as root:
        corpus = root / "corpus"
        _write_good(corpus)
        indexer = Indexer(_settings(root), embeddings=DeterministicFakeEmbedding(size=32))
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
