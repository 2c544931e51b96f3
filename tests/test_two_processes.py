"""Two processes on one Chroma server: the bot answers searches while `newsbot` ingests and removes.

The bot-like process is this test process (a `HybridRetriever` on the server, wired to no
indexer); the writer is the `newsbot` command in a subprocess. Both use the same STORE_DIR, as
two processes on one machine do: newsbot's catalog and record manager are SQLite files there.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ingest.indexer import Indexer
from retrieval.hybrid import HybridRetriever
from retrieval.settings import Settings
from retrieval.store import get_collection, open_client, read_version
from tests.support.chroma_server import ChromaServer, newsbot, server_settings
from tests.support.search import search

QUERIES = ("Brannigan steel", "officials critics plan", "Zanzibar ferry", "harbour dredging")


def write(folder: Path, source_id: str, title: str, topic: str, extra: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = " ".join(
        f"Officials said the {topic} plan would change after talks on day {i}, and critics disagreed."
        for i in range(3)
    )
    (folder / f"{source_id}.txt").write_text(f"{title}\n\n{text} {extra}\n", encoding="utf-8")




@dataclass
class SearchLoop:
    """Searches in a thread, as the bot does between commands, and records what each returned."""

    retriever: HybridRetriever
    results: list[tuple[float, str, list[str]]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bot-searches", daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            query = QUERIES[n % len(QUERIES)]
            n += 1
            started = time.monotonic()
            try:
                found = [p.source_id for p in search(self.retriever, query, k=10)]
            except BaseException as e:  # noqa: BLE001 - reported by the test
                self.errors.append(e)
                return
            self.results.append((started, query, found))
            time.sleep(0.1)  # a busy bot, not a benchmark: leave the writer some CPU

    def __enter__(self) -> SearchLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def started_after(self, moment: float) -> list[tuple[float, str, list[str]]]:
        return [r for r in self.results if r[0] > moment]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_bot_follows_another_process_and_never_returns_a_removed_article(
    chroma_server: ChromaServer, tmp_path: Path, local_embeddings: Embeddings
) -> None:
    settings = server_settings(chroma_server, tmp_path / "state")
    news = tmp_path / "news"
    write(news, "rail", "Rail fares rise", "rail fares", "The Quillfeather line closes.")
    write(news, "steel", "Steel plant closes", "steel jobs", "Brannigan Steel blamed costs.")
    write(news, "harbour", "Harbour dredging starts", "harbour dredging", "")
    seeder = Indexer(settings, embeddings=local_embeddings)
    try:
        assert len(seeder.ingest([str(news)]).added) == 3
    finally:
        seeder.close()

    client = open_client(settings)
    bot = HybridRetriever(settings=settings, embeddings=local_embeddings, client=client)
    bot.warm_up()
    assert search(bot, "Brannigan steel")[0].source_id == "steel"
    keyword = bot.keyword_index
    seeded_version, rebuilds = keyword.version, keyword.rebuilds

    def store_version() -> str:
        return read_version(get_collection(client, settings))

    extra = tmp_path / "extra"
    write(extra, "ferry", "Ferry strike ends", "ferry crossings", "The Zanzibar route reopens.")
    with SearchLoop(bot) as searches:
        ingest = newsbot("ingest", str(extra), "--json", settings=settings, cwd=tmp_path)
        assert ingest.returncode == 0, ingest.stderr
        assert json.loads(ingest.stdout)["added"] == 1
        # The keyword index catches up with a write it was never told about: the version in the
        # collection's metadata moved.
        assert wait_for(lambda: any(h.source_id == "ferry" for h in keyword.search("Zanzibar", k=5)))
        assert keyword.version != seeded_version and keyword.rebuilds > rebuilds

        removed = newsbot("remove", "steel", settings=settings, cwd=tmp_path)
        assert removed.returncode == 0, removed.stderr
        removed_at = time.monotonic()
        assert wait_for(lambda: keyword.version == store_version())
        assert wait_for(lambda: len(searches.started_after(removed_at)) >= 2 * len(QUERIES))

    assert searches.errors == []
    assert any(started < removed_at for started, _, _ in searches.results), "searched during the writes"
    after = searches.started_after(removed_at)
    assert all("steel" not in found for _, _, found in after), "a removed article came back"
    assert [found for _, query, found in after if query == "Zanzibar ferry"][-1][0] == "ferry"
    assert not [h for h in keyword.search("Brannigan steel", k=10) if h.source_id == "steel"]
