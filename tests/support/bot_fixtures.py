"""Shared pieces of the bot's end-to-end tests: a small real news store, the app (`build_app`)
over it, and `NewsBot` wired to the fake Discord.

The store (a dozen BBC articles, one article quoting "@everyone" and a role mention, and one long
article) is built once per session with the real all-MiniLM-L6-v2 model; tests only read it.
Each test builds its own fake Discord, bot state and bot.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.app import App, build_app
from bot.client import NewsBot
from bot.state import BotState
from ingest.indexer import Indexer, IngestReport
from retrieval.conversation import ConversationEngine
from retrieval.models import Answer, SearchFilters
from retrieval.settings import Settings
from tests.support.fake_discord import FakeDiscord

SHARED_BBC = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbc"

# politics/365: Gordon Brown's civil service cuts; business/173: Carlsberg; business/063: US
# retail sales; the rest are distractors.
BBC_IDS = (
    "politics/365",
    "business/173",
    "business/063",
    "tech/145",
    "sport/167",
    "business/001",
    "business/002",
    "tech/001",
    "tech/002",
    "entertainment/001",
    "politics/001",
    "sport/001",
)

PING_ID = "local/quillbury-festival"
PING_TITLE = "Quillbury folk festival called off after floods"
PING_PARAGRAPHS = (
    (
        "The Quillbury folk festival has been called off after floods left its showground under water, "
        "its organisers said on Monday."
    ),
    (
        "The organisers posted \"@everyone the Quillbury festival is off, refunds follow\" on the festival's "
        "chat server and asked the <@&123> moderators to pin the message."
    ),
    "Ticket holders will get a full refund within 14 days, festival director Marta Ellwood said.",
    "About 12,000 people had been expected at the three-day event in the Welsh borders.",
)
PING_TEXT = "\n\n".join(PING_PARAGRAPHS)

LONG_ID = "local/harbour-bridge-inquiry"
LONG_TITLE = "Harbour bridge inquiry publishes its final report"


def long_article_text() -> str:
    """Twenty-four paragraphs of distinct sentences (about 9,000 characters)."""
    topics = [
        "the steel cables", "the toll booths", "the night ferries", "the harbour pilots",
        "the tender process", "the concrete piers", "the traffic models", "the wind sensors",
        "the maintenance crews", "the budget overruns", "the safety audits", "the lighting contract",
    ]
    paragraphs = []
    for i in range(24):
        topic = topics[i % len(topics)]
        paragraphs.append(
            f"The inquiry examined {topic} in chapter {i + 1} of its report. "
            f"Witnesses told the panel that decisions about {topic} were taken in {1990 + i} without "
            f"a full review by the harbour board. "
            f"The panel found that records on {topic} were incomplete for {i + 3} months. "
            f"Its chair, Judge Imelda Varga, said lessons about {topic} must be learned by every "
            f"council that builds a crossing."
        )
    return "\n\n".join(paragraphs)


def copy_bbc(
    folder: Path, source_ids: Sequence[str], *, corpus: Path = SHARED_BBC, first_day: date = date(2005, 3, 1)
) -> dict[str, dict[str, str]]:
    """Copy BBC articles into `folder`; return their metadata.json entries: a URL, the outlet,
    and a publish date (the corpus has none), one day apart from `first_day` on, in order."""
    sidecar: dict[str, dict[str, str]] = {}
    for i, source_id in enumerate(source_ids):
        target = folder / f"{source_id}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / f"{source_id}.txt", target)
        sidecar[source_id] = {
            "url": url_of(source_id),
            "outlet": "BBC News",
            "published": f"{first_day + timedelta(days=i)}T09:00:00Z",
        }
    return sidecar


def write_corpus(folder: Path) -> Path:
    """Copy the BBC articles and write the two local ones, with a metadata.json sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = copy_bbc(folder, BBC_IDS)
    for source_id, title, text, outlet, url, published in (
        (PING_ID, PING_TITLE, PING_TEXT, "Border Gazette", "https://gazette.example/quillbury", "2005-03-14T08:00:00Z"),
        (LONG_ID, LONG_TITLE, long_article_text(), "Harbour Times", "https://harbour.example/inquiry", "2005-03-15T08:00:00Z"),
    ):
        target = folder / f"{source_id}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        sidecar[source_id] = {"url": url, "outlet": outlet, "published": published}
    (folder / "metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return folder


@dataclass
class NewsStack:
    """A store with articles in it, and the app (`bot.app.build_app`) that wrote it and reads it."""

    app: App
    corpus: Path
    report: IngestReport

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def indexer(self) -> Indexer:
        return self.app.indexer

    @property
    def engine(self) -> ConversationEngine:
        return self.app.engine

    def close(self) -> None:
        self.app.close()


def build_stack(base: Path, embeddings: Embeddings, corpus: Path | None = None, **settings: Any) -> NewsStack:
    """Ingest `corpus` (default: `write_corpus`) into a store under `base` through an app built
    as `newsbot serve` builds it (SQLite history beside the store). Opened here, outside an event
    loop, because the session shares it; its tests only read it."""
    corpus = corpus or write_corpus(base / "corpus")
    config = Settings(store_dir=base / "store", _env_file=None, **settings)  # type: ignore[call-arg]
    app = build_app(config, embeddings=embeddings).open()
    report = app.indexer.ingest([str(corpus)])
    assert not report.failed, report.failed
    return NewsStack(app, corpus, report)


@pytest.fixture(scope="session")
def news_stack(tmp_path_factory: pytest.TempPathFactory, local_embeddings: Embeddings) -> Iterator[NewsStack]:
    """The shared store of real articles with the real embedding model (read-only for tests)."""
    stack = build_stack(tmp_path_factory.mktemp("bot-news"), local_embeddings)
    assert len(stack.report.added) == len(BBC_IDS) + 2
    yield stack
    stack.close()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[BotState]:
    """The bot's state in the test's own folder, closed after the test."""
    state = BotState(tmp_path / "newsbot-bot.sqlite")
    yield state
    state.close()


# --- the bot -----------------------------------------------------------------------------------


class QuickNewsBot(NewsBot):
    """NewsBot without discord.py's 5 s pause between the IDENTIFYs of several shards."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass


class WatchedIndexer:
    """Passes everything to the real indexer and records the write calls (ingest, remove).

    `gate`, when set, makes `ingest` wait for it first (a re-index that takes as long as the test
    wants)."""

    def __init__(self, inner: Indexer, gate: threading.Event | None = None) -> None:
        self.inner = inner
        self.gate = gate
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.started = threading.Event()

    def ingest(self, targets: Sequence[str], **options: Any) -> IngestReport:
        self.calls.append(("ingest", (list(targets),)))
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.ingest(targets, **options)

    def remove(self, key: str) -> list[str]:
        self.calls.append(("remove", (key,)))
        return self.inner.remove(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def bot_settings(stack: NewsStack, fake: FakeDiscord, **overrides: Any) -> Settings:
    """The stack's settings plus what the bot needs to talk to `fake` (commands synced to its guild)."""
    values: dict[str, Any] = {
        "dev_guild_id": fake.guild_id,
        "shard_count": 1,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
    }
    values.update(overrides)
    return stack.settings.model_copy(update=values)


def make_bot(
    stack: NewsStack,
    fake: FakeDiscord,
    state: BotState,
    *,
    engine: Any = None,
    indexer: Any = None,
    clock: Any = None,
    summariser: Any = None,
    **overrides: Any,
) -> NewsBot:
    """A NewsBot over the stack (or the `engine`/`indexer`/`clock`/`summariser` given), connected
    to nothing yet."""
    return QuickNewsBot(
        settings=bot_settings(stack, fake, **overrides),
        engine=engine if engine is not None else stack.engine,
        indexer=indexer if indexer is not None else WatchedIndexer(stack.indexer),
        state=state,
        guild_ready_timeout=0.1,
        summariser=summariser,
        **({"clock": clock} if clock is not None else {}),
    )


class ScriptedEngine:
    """Stands in for the ConversationEngine: `ask` returns `answer` (or raises `error`) and records
    what it was asked. The rest (today, forget, retriever) comes from `real` when given."""

    def __init__(self, answer: Answer | None = None, *, error: Exception | None = None, real: Any = None) -> None:
        self.answer = answer
        self.error = error
        self.real = real
        self.asked: list[tuple[str, str, SearchFilters | None]] = []
        self.dates: list[Any] = []  # the `today` each question was asked with
        self.retriever = getattr(real, "retriever", None)

    async def ask(
        self, conversation_id: str, question: str, *, filters: SearchFilters | None = None, today: Any = None
    ) -> Answer:
        self.asked.append((conversation_id, question, filters))
        self.dates.append(today)
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer.model_copy(update={"question": question})

    async def stream_ask(
        self, conversation_id: str, question: str, *, filters: SearchFilters | None = None, today: Any = None
    ) -> AsyncIterator[Answer]:
        """`ask`'s answer, without drafts (as the extractive answerer streams)."""
        yield await self.ask(conversation_id, question, filters=filters, today=today)

    def today(self) -> Any:
        from datetime import date

        return date(2005, 3, 16)

    async def forget(self, conversation_id: str) -> None:
        pass


def url_of(source_id: str) -> str:
    """The URL the corpus gives a BBC article."""
    return f"https://www.bbc.co.uk/news/{source_id.replace('/', '-')}"
