"""Read articles from the web: RSS/Atom feeds (feedparser) and single pages (trafilatura).

Every fetch goes through `fetch`, which turns each way a request can fail (an HTTP error status,
no answer within `Settings.http_timeout`, a refused connection, a body over
`Settings.max_file_mb`) into a `SourceError` naming the URL, so a batch carries on past it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
import trafilatura

from ingest.cleaning import clean_extracted, clean_inline, clean_text, html_to_text, parse_date
from ingest.errors import SourceError
from ingest.models import Article, content_hash
from retrieval.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "newsbot/0.1 (news question-answering bot; +https://github.com/newsbot)"

# Feed content at least this long (as text) is taken to be the whole article.
FULL_CONTENT_MIN_CHARS = 400

_FEED_CONTENT_TYPES = ("rss", "atom", "rdf", "/xml", "+xml")
_FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf")
_MB = 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    """A fetched HTTP body and what the server said about it."""

    url: str
    content: bytes
    content_type: str
    charset: str | None


@dataclass(frozen=True)
class Page:
    """What trafilatura found in an HTML page; empty strings where it found nothing."""

    title: str
    author: str
    sitename: str
    url: str
    published_at: datetime | None
    text: str


def is_url(target: str) -> bool:
    """Return True when `target` is an http(s) URL."""
    parts = urlsplit(target)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def make_client(settings: Settings) -> httpx.Client:
    """Return an HTTP client with newsbot's User-Agent, the settings' timeout and redirects on.

    The caller closes it (use it as a context manager).
    """
    return httpx.Client(
        timeout=settings.http_timeout,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


def fetch(client: httpx.Client, url: str, *, settings: Settings) -> Fetched:
    """Return the body of `url`, read up to `settings.max_file_mb`.

    Raises `SourceError` naming the URL for an HTTP error status, a timeout, a refused or
    failed connection, and a body larger than the limit.
    """
    limit = int(settings.max_file_mb * _MB)
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                status = f"HTTP {response.status_code} {response.reason_phrase}"
                raise SourceError(url, status.strip())
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise SourceError(url, _too_large(int(declared), settings))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise SourceError(url, _too_large(size, settings))
                chunks.append(chunk)
            return Fetched(
                url=str(response.url),
                content=b"".join(chunks),
                content_type=response.headers.get("content-type", "").lower(),
                charset=response.charset_encoding,
            )
    except httpx.TimeoutException as e:
        raise SourceError(url, f"no answer within {settings.http_timeout:g} s") from e
    except httpx.ConnectError as e:
        reason = "connection refused" if "refused" in str(e).lower() else f"cannot connect ({e})"
        raise SourceError(url, reason) from e
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        raise SourceError(url, f"fetch failed ({type(e).__name__}: {e})") from e


def iter_url(
    url: str, *, settings: Settings, client: httpx.Client, outlet: str = ""
) -> Iterator[Article | SourceError]:
    """Yield the articles at `url`: every entry when it serves a feed, else the one page.

    Failures are yielded as `SourceError`s naming the URL (or the feed entry's link).
    """
    try:
        fetched = fetch(client, url, settings=settings)
    except SourceError as e:
        yield e
        return
    if _is_feed(fetched):
        yield from iter_feed(
            fetched.content,
            name=url,
            feed_id=url,
            origin=url,
            settings=settings,
            client=client,
            outlet=outlet,
        )
        return
    page = extract_page(_html_of(fetched), url=fetched.url)
    if page is None or not page.text:
        yield SourceError(url, "no article text found in the page")
        return
    yield Article(
        source_id=url,
        title=page.title,
        text=page.text,
        url=page.url or fetched.url,
        outlet=outlet or page.sitename or _host(fetched.url),
        author=page.author,
        published_at=page.published_at,
        origin=url,
    )


def iter_feed(
    data: bytes,
    *,
    name: str,
    feed_id: str,
    origin: str,
    settings: Settings,
    client: httpx.Client,
    outlet: str = "",
) -> Iterator[Article | SourceError]:
    """Yield one `Article` per entry of the RSS/Atom feed in `data`.

    `name` is how errors refer to the feed (its URL or path) and `origin` is set on every
    article. An entry's source_id is its link; an entry without one is `<feed_id>#<guid>`, or
    `<feed_id>#<hash>` (the first 12 hex digits of the SHA-256 of its title and text) when it has
    no guid either, so that entries of two feeds in one folder never share an id, and an entry
    keeps its id when newer entries are added above it. An entry whose content is the whole
    article is used as is; an entry with only a summary has its link fetched and extracted,
    falling back to the summary when that fails. Yields a `SourceError` for a broken feed, or
    for an entry with no text at all.
    """
    parsed = feedparser.parse(data)
    if not parsed.entries:
        if parsed.bozo:
            yield SourceError(name, f"broken feed ({_short(parsed.get('bozo_exception'))})")
        elif not parsed.version:
            yield SourceError(name, "not an RSS or Atom feed")
        else:
            log.info("feed %s has no entries", name)
        return
    if parsed.bozo:
        reason = _short(parsed.get("bozo_exception"))
        log.warning("feed %s is malformed (%s); reading what parsed", name, reason)
    feed_outlet = outlet or clean_inline(parsed.feed.get("title", "")) or _host(origin)
    content_is_full_article = parsed.version.startswith("rss")  # content:encoded
    for number, entry in enumerate(parsed.entries, start=1):
        yield _entry_article(
            entry,
            number=number,
            name=name,
            feed_id=feed_id,
            origin=origin,
            outlet=feed_outlet,
            content_is_full_article=content_is_full_article,
            settings=settings,
            client=client,
        )


def extract_page(html: bytes | str, *, url: str | None = None) -> Page | None:
    """Return the main text and metadata of an HTML page, or None when it has no main text.

    `published_at` is the publication date the page states (meta tags, JSON-LD, time elements,
    a dated URL, an ISO date in the page). htmldate's extensive search, which guesses from any
    date-like text, is off, so a page that states no date gets None, never the crawl date.
    """
    date_params = {
        "extensive_search": False,
        "original_date": True,  # the publication date, not the last edit
        "max_date": date.today().isoformat(),
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    }
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        date_extraction_params=date_params,
    )
    if document is None:
        return None
    title = clean_inline(_attr(document, "title"))
    text = clean_extracted(_attr(document, "text"))
    # trafilatura keeps the page's <h1> as the first paragraph: it is the title, not the story.
    first, _, rest = text.partition("\n\n")
    if title and first.casefold() == title.casefold():
        text = rest
    if not text:
        return None
    return Page(
        title=title,
        author=clean_inline(_attr(document, "author")),
        sitename=clean_inline(_attr(document, "sitename")),
        url=_attr(document, "url"),
        published_at=parse_date(_attr(document, "date") or None),
        text=text,
    )


def _entry_article(
    entry: Any,
    *,
    number: int,
    name: str,
    feed_id: str,
    origin: str,
    outlet: str,
    content_is_full_article: bool,
    settings: Settings,
    client: httpx.Client,
) -> Article | SourceError:
    link = str(entry.get("link") or "")
    entry_name = link or f"{name}#{number}"
    published = parse_date(entry.get("published_parsed") or entry.get("updated_parsed"))
    author = clean_inline(entry.get("author_detail", {}).get("name") or entry.get("author") or "")
    text = _full_content(entry, content_is_full_article)
    if not text and link:
        try:
            page = extract_page(_html_of(fetch(client, link, settings=settings)), url=link)
        except SourceError as e:
            log.warning("%s: %s; using the feed summary", e.source, e.reason)
            page = None
        if page is not None:
            text = page.text
            author = author or page.author
            published = published or page.published_at
    if not text:
        text = clean_text(html_to_text(entry.get("summary", "")))
    if not text:
        return SourceError(entry_name, "feed entry has no text")
    title = clean_inline(html_to_text(entry.get("title", "")))
    return Article(
        source_id=link or _linkless_entry_id(entry, feed_id=feed_id, title=title, text=text),
        title=title,
        text=text,
        url=link,
        outlet=outlet,
        author=author,
        published_at=published,
        origin=origin,
    )


def _linkless_entry_id(entry: Any, *, feed_id: str, title: str, text: str) -> str:
    # Not the entry's position: feeds put new entries first, so "#1" names another story
    # every time the feed grows. A guid may be as plain as "1": the feed keeps it apart.
    key = clean_inline(str(entry.get("id") or "")) or content_hash(f"{title}\n\n{text}")[:12]
    return f"{feed_id}#{key}"


def _full_content(entry: Any, content_is_full_article: bool) -> str:
    """Return the entry's content as clean text when it carries the whole article, else ""."""
    contents = entry.get("content") or []
    text = clean_text("\n\n".join(html_to_text(c.get("value", "")) for c in contents))
    if text and (content_is_full_article or len(text) >= FULL_CONTENT_MIN_CHARS):
        return text
    return ""


def _is_feed(fetched: Fetched) -> bool:
    content_type = fetched.content_type
    if "html" in content_type:
        return False
    if any(marker in content_type for marker in _FEED_CONTENT_TYPES):
        return True
    head = fetched.content[:1024].lstrip().lower()
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2 :].lstrip()
    return head.startswith(_FEED_ROOTS)


def _html_of(fetched: Fetched) -> bytes | str:
    # Trust the server's charset when it gives one; otherwise trafilatura sniffs the bytes.
    if fetched.charset:
        try:
            return fetched.content.decode(fetched.charset, errors="replace")
        except LookupError:
            pass
    return fetched.content


def _attr(document: Any, field: str) -> str:
    value = getattr(document, field, None)
    return value if isinstance(value, str) else ""


def _host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def _short(error: object) -> str:
    text = str(error or "unreadable").strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _too_large(size: int, settings: Settings) -> str:
    return f"{size / _MB:.1f} MB, over the {settings.max_file_mb:g} MB limit"
