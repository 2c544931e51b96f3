"""Faults while the bot runs: the Chroma server stops under a running bot, then comes back.

The real `NewsBot`, on the fake Discord, over the real engine and indexer built by
`bot.app.build_app` (as `newsbot serve` builds them) on a Chroma server of this test's
own, with the real embedding model. (An ingest or `/reindex` killed midway is
`tests/test_crash.py`, over both backends.)
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from bot.app import build_app
from bot.errors import UNAVAILABLE
from tests.support.bot_checks import (
    BROWN,
    CARLSBERG,
    EPHEMERAL,
    T,
    answer_in,
    assert_clean,
    is_final,
    mention,
    sources_of,
)
from tests.support.bot_fixtures import NewsStack, copy_bbc, make_bot, url_of
from tests.support.chroma_server import ChromaServer, server_settings
from tests.support.fake_discord import FakeDiscord, RecordedRequest, running_bot

ARTICLES = ("business/173", "politics/365", "business/063", "tech/145")


def write_news(folder: Path) -> Path:
    """Four BBC articles with their URLs in a metadata.json sidecar."""
    sidecar = copy_bbc(folder, ARTICLES)
    (folder / "metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return folder


def cites(content: str, source_id: str) -> bool:
    """A real answer: a [n] marker in the text, and the article in the sources list."""
    text, _, _ = content.partition("**Sources**")
    return "[1]" in text and url_of(source_id) in {url for _, _, url in sources_of(content)}


async def sent_to(fake: FakeDiscord, channel_id: int, since: int) -> RecordedRequest:
    """The bot's first message in `channel_id` after request number `since`."""
    return await fake.wait_for_request("POST", rf"/channels/{channel_id}/messages", since=since, timeout=T)


async def test_a_chroma_server_outage_is_one_sentence_and_answers_resume_without_a_restart(
    own_chroma_server: ChromaServer,
    fake_discord: FakeDiscord,
    tmp_path: Path,
    local_embeddings: Embeddings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, fake = own_chroma_server, fake_discord
    settings = server_settings(server, tmp_path / "state")
    corpus = write_news(tmp_path / "news")
    async with build_app(settings, embeddings=local_embeddings) as app:
        report = await asyncio.to_thread(app.indexer.ingest, [str(corpus)])
        assert sorted(report.added) == sorted(ARTICLES)
        bot = make_bot(NewsStack(app, corpus, report), fake, app.state, questions_per_minute=0)
        async with running_bot(bot):
            thread_id = await mention(fake, CARLSBERG)
            before = await answer_in(fake, thread_id)
            assert cites(before.json["content"], "business/173")
            dm_id = int(fake.dm_channel(fake.user)["id"])

            # The server goes away while the bot runs.
            await asyncio.to_thread(server.stop)
            assert not server.heartbeat()
            with caplog.at_level(logging.WARNING):
                mark = len(fake.requests)
                await fake.user_message(BROWN, channel_id=thread_id)  # a follow-up in the thread
                follow_up = await sent_to(fake, thread_id, mark)

                new_thread = await mention(fake, BROWN)
                mentioned = await sent_to(fake, new_thread, mark)

                mark = len(fake.requests)
                await fake.dm_message(CARLSBERG)
                dm = await sent_to(fake, dm_id, mark)

                ix = await fake.interaction("ask", {"question": BROWN})
                assert (await ix.wait_for_response())["type"] == 5
                slash = await ix.wait_for_reply(timeout=T)
                ix = await fake.interaction("search", {"query": "Carlsberg profits"})
                searched = await ix.wait_for_reply(timeout=T)

            for reply in (follow_up.json, mentioned.json, dm.json):
                assert reply["content"] == UNAVAILABLE
                assert reply["allowed_mentions"] == {"parse": []}
                assert not reply.get("components")  # no feedback buttons under an error
            assert slash["content"] == UNAVAILABLE and searched["content"] == UNAVAILABLE
            # The operator learns why from the log; users never see the server's address.
            assert any(server.url in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
            assert not [r for r in caplog.records if r.exc_info]  # a known outage, not a crash
            assert bot.is_ready() and not bot.is_closed()
            assert len(fake.identifies) == 1  # still on its first gateway session

            # The server comes back; the same bot answers again, nobody restarts anything.
            # (Started from this thread, the one the fixture started it from: see chroma_server.)
            server.start()
            await fake.user_message(CARLSBERG, channel_id=thread_id)
            resumed = await answer_in(fake, thread_id)

            mark = len(fake.requests)
            await fake.dm_message(BROWN)
            dm_resumed = await fake.wait_for_request(
                "POST", rf"/channels/{dm_id}/messages", predicate=is_final, since=mark, timeout=T
            )

            ix = await fake.interaction("ask", {"question": BROWN})
            slash_resumed = await ix.wait_for_reply(timeout=T)
            ix = await fake.interaction("search", {"query": "Carlsberg profits"})
            searched_resumed = await ix.wait_for_reply(timeout=T)

        assert cites(resumed.json["content"], "business/173")
        assert cites(dm_resumed.json["content"], "politics/365")
        assert cites(slash_resumed["content"], "politics/365")
        assert not slash_resumed["flags"] & EPHEMERAL
        assert f"(<{url_of('business/173')}>)" in searched_resumed["content"]
        for message in fake.bot_messages():
            assert "Traceback" not in message["content"] and server.url not in message["content"]
        assert len(fake.identifies) == 1
        assert_clean(fake)
