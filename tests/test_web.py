"""Feeds and web pages, fetched from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ingest.errors import SourceError
from ingest.loaders import iter_articles
from ingest.models import Article
from ingest.web import iter_feed
from retrieval.settings import Settings

WEB_DATA = Path(__file__).resolve().parent / "data" / "web"

# path -> (fixture file, content type)
ROUTES = {
    "/feeds/harbour.rss": ("rss-full.xml", "application/rss+xml"),
    "/feeds/valley.atom": ("atom-summaries.xml", "application/atom+xml"),
    "/feeds/broken.rss": ("broken-feed.xml", "application/rss+xml"),
    "/articles/bridge.html": ("bridge.html", "text/html; charset=utf-8"),
    "/articles/library.html": ("library.html", "text/html; charset=utf-8"),
    "/2023/orchard-cider-prize": ("story.html", "text/html; charset=utf-8"),
    "/subscribe": ("nav-only.html", "text/html; charset=utf-8"),
}
SLOW_PATH = "/slow"
REDIRECT_PATH = "/short/orchard"


@dataclass
class NewsSite:
    base: str
    user_agents: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    state = NewsSite(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.user_agents.append(self.headers.get("User-Agent", ""))
            if self.path == SLOW_PATH:
                state.release.wait(10)  # longer than any client waits
                return
            if self.path == REDIRECT_PATH:
                self.send_response(301)
                self.send_header("Location", "/2023/orchard-cider-prize")
                self.end_headers()
                return
            if self.path not in ROUTES:
                self.send_error(404)
                return
            name, content_type = ROUTES[self.path]
            body = (WEB_DATA / name).read_text(encoding="utf-8").replace("{base}", state.base).encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def web_settings() -> Settings:
    return Settings(http_timeout=0.5, _env_file=None)  # type: ignore[call-arg]


def read(target: str, settings: Settings, **kwargs: str) -> tuple[list[Article], list[SourceError]]:
    items = list(iter_articles(target, settings=settings, **kwargs))
    return (
        [item for item in items if isinstance(item, Article)],
        [item for item in items if isinstance(item, SourceError)],
    )


def test_rss_feed_with_full_content_gives_each_story_with_its_date(site: NewsSite, web_settings: Settings) -> None:
    feed_url = site.url("/feeds/harbour.rss")
    articles, errors = read(feed_url, web_settings)

    assert errors == []
    by_title = {article.title: article for article in articles}
    assert set(by_title) == {"Ferry service resumes after storm", "Lifeboat crew rescues two kayakers"}
    ferry = by_title["Ferry service resumes after storm"]
    assert ferry.source_id == site.url("/news/ferry-resumes.html")
    assert ferry.url == ferry.source_id
    assert ferry.outlet == "Harbour Gazette"
    assert ferry.author == "Mara Quinn"
    assert ferry.origin == feed_url
    assert ferry.published_at == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)
    # The full story, paragraph by paragraph, not the one-line description.
    assert "three days of cancellations" in ferry.text
    assert "run short of fresh milk" in ferry.text
    assert "\n\n" in ferry.text
    assert "The morning ferry leaves the harbour." not in ferry.text
    assert "<p>" not in ferry.text
    # No date in the feed: no date on the article, not the time it was fetched.
    assert by_title["Lifeboat crew rescues two kayakers"].published_at is None


def test_outlet_argument_overrides_the_feed_title(site: NewsSite, web_settings: Settings) -> None:
    articles, _ = read(site.url("/feeds/harbour.rss"), web_settings, outlet="Harbour Radio")
    assert {article.outlet for article in articles} == {"Harbour Radio"}


def test_atom_feed_with_summaries_fetches_each_linked_page(site: NewsSite, web_settings: Settings) -> None:
    articles, errors = read(site.url("/feeds/valley.atom"), web_settings)

    assert errors == []
    by_title = {article.title: article for article in articles}
    assert set(by_title) == {"Council approves new bridge", "Library opens on Sundays", "Bakery closes after 80 years"}

    bridge = by_title["Council approves new bridge"]
    assert "voted eleven to two" in bridge.text  # only the page has this, not the summary
    assert "Sport" not in bridge.text  # the page's menu is not part of the story
    assert bridge.author == "Tom Reyes"
    assert bridge.outlet == "Valley Courier"
    assert bridge.published_at == datetime(2024, 4, 2, 8, 15, tzinfo=UTC)

    library = by_title["Library opens on Sundays"]
    assert "story hour every Sunday" in library.text
    assert library.published_at is None  # neither the entry nor its page gives a date

    # The bakery's page is gone (404): the summary stands in and the article is still there.
    bakery = by_title["Bakery closes after 80 years"]
    assert "run by the same family since 1944" in bakery.text
    assert bakery.source_id == site.url("/articles/gone.html")


def test_web_page_gives_title_author_date_and_outlet(site: NewsSite, web_settings: Settings) -> None:
    url = site.url("/2023/orchard-cider-prize")
    articles, errors = read(url, web_settings)

    assert errors == []
    [article] = articles
    assert article.source_id == url
    assert article.origin == url
    assert article.title == "Orchard wins national cider prize"
    assert article.author == "Priya Nair"
    assert article.outlet == "Daily Ledger"
    assert article.published_at == datetime(2023, 10, 12, 22, 45, tzinfo=UTC)
    assert "second year running" in article.text
    assert "forty thousand bottles" in article.text
    for chrome in ("Subscribe", "Mayor quits", "Your Daily Ledger news source", "Getty Images"):
        assert chrome not in article.text


def test_page_without_a_date_has_none_and_the_host_as_outlet(site: NewsSite, web_settings: Settings) -> None:
    [article], errors = read(site.url("/articles/library.html"), web_settings)
    assert errors == []
    assert article.published_at is None
    assert article.outlet.startswith("127.0.0.1")


def test_redirect_is_followed_and_newsbot_names_itself(site: NewsSite, web_settings: Settings) -> None:
    short_url = site.url(REDIRECT_PATH)
    [article], errors = read(short_url, web_settings)
    assert errors == []
    assert article.source_id == short_url
    assert article.url == site.url("/2023/orchard-cider-prize")
    assert site.user_agents and all("newsbot" in agent for agent in site.user_agents)


@pytest.mark.parametrize(
    ("path", "reason_words"),
    [
        ("/no/such/page.html", "404"),
        ("/feeds/broken.rss", "broken feed"),
        (SLOW_PATH, "0.5 s"),
    ],
)
def test_failing_url_is_one_error_naming_it(
    site: NewsSite, web_settings: Settings, path: str, reason_words: str
) -> None:
    url = site.url(path)
    articles, errors = read(url, web_settings)
    assert articles == []
    [error] = errors
    assert error.source == url
    assert reason_words in error.reason


def test_a_page_of_only_navigation_is_refused_naming_it(site: NewsSite, web_settings: Settings) -> None:
    # Header, "Home / News / Sport" and "Subscribe now!": nothing a search should ever return.
    url = site.url("/subscribe")
    articles, errors = read(url, web_settings)
    assert articles == []
    [error] = errors
    assert (error.source, error.reason) == (url, "no article text found in the page")


def test_linkless_feed_entries_are_named_by_their_feed_and_guid_or_text(web_settings: Settings) -> None:
    def feed(*items: str) -> bytes:
        return f'<rss version="2.0"><channel><title>F</title>{"".join(items)}</channel></rss>'.encode()

    guid = "<item><guid isPermaLink='false'>7</guid><description>The pier opened.</description></item>"
    plain = "<item><title>Storm</title><description>The storm closed the pier.</description></item>"
    newer = "<item><title>Sun</title><description>The sun came out at last.</description></item>"

    def ids(data: bytes, feed_id: str) -> list[str]:
        with httpx.Client() as client:
            return [
                item.source_id
                for item in iter_feed(data, name=feed_id, feed_id=feed_id, origin="feeds",
                                      settings=web_settings, client=client)
                if isinstance(item, Article)
            ]

    guid_id, plain_id = ids(feed(guid, plain), "a.rss")
    assert guid_id == "a.rss#7"
    assert plain_id.startswith("a.rss#") and len(plain_id) == len("a.rss#") + 12
    assert ids(feed(guid, plain), "b.rss") == ["b.rss#7", plain_id.replace("a.rss", "b.rss")]
    # A new entry above it does not rename it: ids are not positions.
    assert ids(feed(newer, guid, plain), "a.rss")[1:] == [guid_id, plain_id]


def test_connection_refused_is_one_error_naming_the_url(web_settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed.xml"
    articles, errors = read(url, web_settings)
    assert articles == []
    [error] = errors
    assert error.source == url
    assert "refused" in error.reason


def test_page_larger_than_the_limit_is_refused(site: NewsSite) -> None:
    tiny = Settings(http_timeout=0.5, max_file_mb=0.001, _env_file=None)  # type: ignore[call-arg]
    url = site.url("/2023/orchard-cider-prize")
    articles, errors = read(url, tiny)
    assert articles == []
    [error] = errors
    assert error.source == url
    assert "limit" in error.reason
