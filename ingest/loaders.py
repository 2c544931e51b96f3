"""Read articles from any target: a file, a folder, a web page or a feed.

`iter_articles` is the one entry point. Files and folders are read here (plain text, Markdown,
HTML, JSON, JSON Lines and feed files); URLs are handed to `ingest.web`. Each input that cannot
be read is yielded as a `SourceError` naming it, never raised, so one bad file does not stop
the batch.

Text encoding: a file is read as UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured). A file
that is not valid UTF-8 but is plainly Windows-1252 text (it decodes as cp1252 and fewer than
5% of its bytes are non-ASCII, as with a pound sign in an otherwise English article) is read as
cp1252 with a warning in the log. Anything else that is not UTF-8 is reported as a SourceError.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ingest import web
from ingest.cleaning import clean_inline, clean_text, html_to_text, parse_date, split_headline
from ingest.errors import SourceError
from ingest.models import Article
from retrieval.settings import Settings

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
JSON_SUFFIXES = frozenset({".json", ".jsonl"})
FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom"})
ARTICLE_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | FEED_SUFFIXES

# Per-folder metadata files mapping source_id -> {"url", "published", "outlet", "author", "title"}.
SIDECAR_NAMES = ("urls.json", "metadata.json")
_SKIPPED_NAME_PREFIXES = ("readme", "license", "licence")

# Field names seen in news dumps, in order of preference.
_TITLE_FIELDS = ("title", "headline")
_TEXT_FIELDS = ("body", "text", "content", "article", "full_text")
_URL_FIELDS = ("url", "link")
_DATE_FIELDS = ("published", "published_at", "publishedAt", "date", "pubDate", "datePublished")
_OUTLET_FIELDS = ("outlet", "source", "publisher", "site_name")
_AUTHOR_FIELDS = ("author", "authors", "byline")
# Dumps that wrap their records: {"status": "ok", "articles": [...]}.
_LIST_FIELDS = ("articles", "items", "entries", "data", "results")

_MB = 1024 * 1024
_HEADLINE_ONLY_MAX_CHARS = 200
_SENTENCE_ENDS = (".", "!", "?", '"', "”", "’", ")")
_CP1252_MAX_NON_ASCII = 0.05
_BINARY_MAX_CONTROL = 0.01
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_LOOKS_LIKE_HTML_RE = re.compile(r"<(?:p|div|br|span|a|em|strong|h[1-6]|ul|li)\b", re.IGNORECASE)

Metadata = dict[str, Any]
ClientFactory = Callable[[], httpx.Client]


def iter_articles(
    target: str,
    *,
    settings: Settings,
    outlet: str = "",
    client: httpx.Client | None = None,
) -> Iterator[Article | SourceError]:
    """Yield every article in `target`, and a `SourceError` for each input that fails.

    `target` is a file, a folder (read recursively in sorted order, following symbolic links
    to folders once each: see `_follows_link`), a web page URL, or the URL or path of an
    RSS/Atom feed. `outlet` is the outlet of articles that do not name one
    (for feeds and pages it overrides what the site calls itself). Each article's `origin` is
    the target: the absolute path for files and folders, the URL for URLs. Pass `client` to
    share one HTTP client across targets; otherwise one is opened when needed and closed at
    the end. Never raises for bad input: a missing target is a `SourceError` too.
    """
    with contextlib.ExitStack() as stack:
        opened: list[httpx.Client] = []

        def get_client() -> httpx.Client:
            if client is not None:
                return client
            if not opened:
                opened.append(stack.enter_context(web.make_client(settings)))
            return opened[0]

        if web.is_url(target):
            yield from web.iter_url(target, settings=settings, client=get_client(), outlet=outlet)
            return
        path = Path(target).expanduser()
        if not path.exists():
            yield SourceError(target, "no such file or folder")
            return
        # absolute(), not resolve(): the indexer keys origins the same way, symlinks and all.
        path = path.absolute()
        if path.is_dir():
            yield from _iter_folder(path, settings=settings, outlet=outlet, get_client=get_client)
        else:
            yield from _iter_file(
                path,
                source_id=path.stem,
                origin=str(path),
                metadata={},
                settings=settings,
                outlet=outlet,
                get_client=get_client,
            )


def _iter_folder(
    root: Path, *, settings: Settings, outlet: str, get_client: ClientFactory
) -> Iterator[Article | SourceError]:
    # Sidecars from the folder's parent and from each folder on the way down; a nearer one wins.
    sidecars: dict[Path, Metadata] = {}
    for error in _load_sidecars(root.parent, sidecars):
        # Not part of the target: a bad file there is someone else's business.
        log.warning("ignoring %s: %s", error.source, error.reason)
    yield from _load_sidecars(root, sidecars)
    unreadable: list[OSError] = []
    read_folders = [root.resolve()]
    walk = os.walk(root, onerror=unreadable.append, followlinks=True)
    for dirpath, dirnames, filenames in walk:
        yield from _folder_errors(unreadable)
        folder = Path(dirpath)
        # Sorted before the links are checked: of two links to one folder, the first is read.
        dirnames[:] = [
            name
            for name in sorted(dirnames)
            if not name.startswith(".") and _follows_link(folder / name, read_folders)
        ]
        if folder != root:
            yield from _load_sidecars(folder, sidecars)
        for name in sorted(filenames):
            path = folder / name
            if not _is_article_file(path):
                continue
            source_id = path.relative_to(root).with_suffix("").as_posix()
            yield from _iter_file(
                path,
                source_id=source_id,
                origin=str(root),
                metadata=_metadata_for(path, source_id, sidecars),
                settings=settings,
                outlet=outlet,
                get_client=get_client,
            )
    yield from _folder_errors(unreadable)


def _follows_link(path: Path, read_folders: list[Path]) -> bool:
    """Return True to read the folder at `path`: any plain folder, and a symbolic link to a
    folder that is not read already; a link that is not followed is named in the log.

    A link is read once: a link to a folder inside one already read (a loop back up the tree,
    or a second link to the same place) or to one that holds it would read it twice, or forever.
    `read_folders` holds the real paths of the root and of every link followed so far.
    """
    if not path.is_symlink():
        return True
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as e:  # RuntimeError: a loop of links
        log.warning("not following the link %s: %s", path, e)
        return False
    for folder in read_folders:
        if target.is_relative_to(folder):
            log.warning("not following the link %s: %s is read already", path, target)
            return False
        if folder.is_relative_to(target):
            log.warning("not following the link %s: %s holds %s (a loop)", path, target, folder)
            return False
    read_folders.append(target)
    return True


def _folder_errors(unreadable: list[OSError]) -> Iterator[SourceError]:
    while unreadable:
        error = unreadable.pop(0)
        yield SourceError(str(error.filename), f"cannot read folder ({error.strerror or error})")


def _is_article_file(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(".") or name.startswith(_SKIPPED_NAME_PREFIXES) or name in SIDECAR_NAMES:
        return False
    if path.suffix.lower() not in ARTICLE_SUFFIXES:
        log.debug("skipping %s: not an article file type", path)
        return False
    return True


def _load_sidecars(folder: Path, sidecars: dict[Path, Metadata]) -> list[SourceError]:
    """Add the sidecar entries found in `folder` to `sidecars`; return the unreadable ones."""
    errors: list[SourceError] = []
    merged: Metadata = {}
    for name in SIDECAR_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            errors.append(SourceError(str(path), f"unreadable metadata file ({_short(e)})"))
            continue
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            reason = "metadata file is not a source_id -> fields mapping"
            errors.append(SourceError(str(path), reason))
            continue
        merged.update({_normalise_key(key): value for key, value in data.items()})
    if merged:
        sidecars[folder] = merged
    return errors


def _metadata_for(path: Path, source_id: str, sidecars: dict[Path, Metadata]) -> Metadata:
    """Merge the sidecar entries for `path`, farthest folder first so the nearest wins. The key
    "*" holds defaults for every file under its folder (e.g. the outlet of a whole folder)."""
    merged: Metadata = {}
    for folder in sorted(sidecars, key=lambda f: len(f.parts)):
        if not path.is_relative_to(folder):
            continue
        merged.update(sidecars[folder].get("*", {}))
        relative = path.relative_to(folder)
        stem, full = relative.with_suffix("").as_posix(), relative.as_posix()
        for key in (source_id, stem, full, f"{folder.name}/{stem}", f"{folder.name}/{full}"):
            if key in sidecars[folder]:
                merged.update(sidecars[folder][key])
                break
    return merged


def _normalise_key(key: str) -> str:
    return key.strip().replace("\\", "/").removeprefix("./")


def _iter_file(
    path: Path,
    *,
    source_id: str,
    origin: str,
    metadata: Metadata,
    settings: Settings,
    outlet: str,
    get_client: ClientFactory,
) -> Iterator[Article | SourceError]:
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in ARTICLE_SUFFIXES:
        yield SourceError(name, f"not an article file type ({suffix or 'no extension'})")
        return
    try:
        data = _read_bytes(path, settings)
        if suffix in FEED_SUFFIXES:
            client = get_client()
            # The feed's own name keeps its linkless entries apart from another feed's.
            yield from web.iter_feed(
                data,
                name=name,
                feed_id=f"{source_id}{path.suffix}",
                origin=origin,
                settings=settings,
                client=client,
                outlet=outlet,
            )
        elif suffix in HTML_SUFFIXES:
            yield _html_article(data, name=name, source_id=source_id, origin=origin,
                                metadata=metadata, outlet=outlet)
        elif suffix == ".jsonl":
            yield from _jsonl_articles(_decode(data, name), name=name, source_id=source_id,
                                       origin=origin, outlet=outlet)
        elif suffix == ".json":
            yield from _json_articles(_decode(data, name), name=name, source_id=source_id,
                                      origin=origin, outlet=outlet)
        else:
            yield _text_article(_decode(data, name), name=name, source_id=source_id,
                                origin=origin, metadata=metadata, outlet=outlet)
    except SourceError as e:
        yield e


def _read_bytes(path: Path, settings: Settings) -> bytes:
    """Return the file's bytes; refuse it before reading when it is empty or over the limit."""
    try:
        size = path.stat().st_size
        if size > settings.max_file_mb * _MB:
            limit = f"{settings.max_file_mb:g} MB"
            raise SourceError(str(path), f"{size / _MB:.1f} MB, over the {limit} limit")
        if size == 0:
            raise SourceError(str(path), "empty file")
        return path.read_bytes()
    except OSError as e:
        raise SourceError(str(path), f"cannot read ({e.strerror or e})") from e


def _decode(data: bytes, name: str) -> str:
    """Return `data` as text (see the module docstring for the encodings tried).

    Raises SourceError for binary data and for text that is neither UTF-8 nor plainly cp1252.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise SourceError(name, "broken UTF-16 text") from e
    if b"\x00" in data:
        raise SourceError(name, "binary data, not text (NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        text = _decode_cp1252(data, name, e)
    controls = len(_CONTROL_CHARS_RE.findall(text))
    if controls > max(2, len(text) * _BINARY_MAX_CONTROL):
        raise SourceError(name, "binary data, not text (control characters)")
    return text


def _decode_cp1252(data: bytes, name: str, error: UnicodeDecodeError) -> str:
    reason = f"not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})"
    non_ascii = len(data.translate(None, bytes(range(0x80))))
    if non_ascii > len(data) * _CP1252_MAX_NON_ASCII:
        raise SourceError(name, reason) from error
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise SourceError(name, reason) from error
    log.warning("%s: %s; read it as Windows-1252", name, reason)
    return text


def _text_article(
    raw: str, *, name: str, source_id: str, origin: str, metadata: Metadata, outlet: str
) -> Article:
    headline, body = split_headline(clean_text(raw))
    if not body:
        raise SourceError(name, "no article text after cleaning")
    if not headline and _is_headline_only(body):
        # e.g. a video page captured as its headline plus player chrome: the headline is all the
        # story there is, and still worth finding (it is the page's own summary of the news).
        log.info("%s: only a headline, indexed as such", name)
        headline = body
    return _fields(metadata).article(source_id=source_id, text=body, origin=origin, outlet=outlet, title=headline)


def _is_headline_only(text: str) -> bool:
    one_short_line = "\n" not in text and len(text) <= _HEADLINE_ONLY_MAX_CHARS
    return one_short_line and not text.endswith(_SENTENCE_ENDS)


def _html_article(
    data: bytes, *, name: str, source_id: str, origin: str, metadata: Metadata, outlet: str
) -> Article:
    if b"\x00" in data:
        raise SourceError(name, "binary data, not HTML (NUL bytes)")
    fields = _fields(metadata)
    page = web.extract_page(data, url=fields.url or None)
    if page is None:
        raise SourceError(name, "no article text found in the HTML")
    return Article(
        source_id=source_id,
        title=fields.title or page.title,
        text=page.text,
        url=fields.url or page.url,
        outlet=fields.outlet or page.sitename or outlet,
        author=fields.author or page.author,
        published_at=fields.published_at or page.published_at,
        origin=origin,
    )


def _json_articles(
    text: str, *, name: str, source_id: str, origin: str, outlet: str
) -> Iterator[Article | SourceError]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(name, f"invalid JSON ({e.msg} at line {e.lineno})") from e
    except (RecursionError, ValueError) as e:  # nested too deep; an integer over 4,300 digits
        raise SourceError(name, f"unreadable JSON ({_json_limit(e)})") from e
    if isinstance(data, dict) and not _first(data, _TEXT_FIELDS):
        data = next((data[key] for key in _LIST_FIELDS if isinstance(data.get(key), list)), data)
    if isinstance(data, dict):
        # One object is one article: it keeps the file's own source_id.
        yield _record_article_or_error(
            data, name=name, fallback_id=source_id, origin=origin, outlet=outlet
        )
        return
    if not isinstance(data, list):
        raise SourceError(name, "JSON is neither an article object nor a list of them")
    _check_has_articles(data, name)
    for number, record in enumerate(data, start=1):
        yield _record_article_or_error(
            record, name=f"{name}#{number}", fallback_id=f"{source_id}#{number}",
            origin=origin, outlet=outlet,
        )


def _jsonl_articles(
    text: str, *, name: str, source_id: str, origin: str, outlet: str
) -> Iterator[Article | SourceError]:
    parsed: list[tuple[int, object]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((number, json.loads(line)))
        except json.JSONDecodeError as e:
            parsed.append((number, SourceError(f"{name}:{number}", f"invalid JSON ({e.msg})")))
        except (RecursionError, ValueError) as e:
            parsed.append((number, SourceError(f"{name}:{number}", f"unreadable JSON ({_json_limit(e)})")))
    records = [record for _, record in parsed if not isinstance(record, SourceError)]
    if parsed and not records:
        # Not JSON lines at all (a pretty-printed JSON file, a CSV): one error, not one a line.
        raise SourceError(name, "no line is a JSON object: a .jsonl file holds one article object a line")
    if records:
        _check_has_articles(records, name)
    for number, record in parsed:
        if isinstance(record, SourceError):
            yield record
        else:
            yield _record_article_or_error(
                record, name=f"{name}:{number}", fallback_id=f"{source_id}#{number}",
                origin=origin, outlet=outlet,
            )


def _json_limit(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).split(";")[0]


def _check_has_articles(records: list[object], name: str) -> None:
    """Raise one SourceError for a file of records none of which is an article (a question set,
    a config), rather than one error per record."""
    if not any(isinstance(record, dict) and _first(record, _TEXT_FIELDS) for record in records):
        raise SourceError(name, f"no article records (none has a {'/'.join(_TEXT_FIELDS)} field)")


def _record_article_or_error(
    record: object, *, name: str, fallback_id: str, origin: str, outlet: str
) -> Article | SourceError:
    if not isinstance(record, dict):
        return SourceError(name, "not a JSON object")
    raw_text = _first(record, _TEXT_FIELDS)
    if _LOOKS_LIKE_HTML_RE.search(raw_text):
        raw_text = html_to_text(raw_text)
    text = clean_text(raw_text)
    if not text:
        return SourceError(name, "no article text")
    fields = _fields(record)
    return fields.article(source_id=fields.url or fallback_id, text=text, origin=origin, outlet=outlet)


@dataclass(frozen=True)
class _Fields:
    """The metadata of a JSON record or sidecar entry under newsbot's names; "" when absent."""

    title: str
    url: str
    outlet: str
    author: str
    published_at: datetime | None

    def article(self, *, source_id: str, text: str, origin: str, outlet: str, title: str = "") -> Article:
        """The article of `text` with these fields; `outlet` and `title` stand in for missing ones."""
        return Article(
            source_id=source_id,
            title=self.title or title,
            text=text,
            url=self.url,
            outlet=self.outlet or outlet,
            author=self.author,
            published_at=self.published_at,
            origin=origin,
        )


def _fields(record: Metadata) -> _Fields:
    return _Fields(
        title=clean_inline(_first(record, _TITLE_FIELDS)),
        url=_first(record, _URL_FIELDS).strip(),
        outlet=clean_inline(_first(record, _OUTLET_FIELDS)),
        author=clean_inline(_first(record, _AUTHOR_FIELDS)),
        published_at=parse_date(next((record[k] for k in _DATE_FIELDS if record.get(k)), None)),
    )


def _first(record: Metadata, keys: tuple[str, ...]) -> str:
    """Return the first non-empty value under `keys` as a string ("" when none)."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, list):  # {"authors": ["A", {"name": "B"}]}
            value = ", ".join(filter(None, (_scalar(item) for item in value)))
        value = _scalar(value)
        if value.strip():
            return value
    return ""


def _scalar(value: object) -> str:
    if isinstance(value, dict):  # {"source": {"id": "reuters", "name": "Reuters"}}
        value = value.get("name") or value.get("value") or value.get("text")
    return value if isinstance(value, str) else ""


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 80 else text[:77] + "..."
