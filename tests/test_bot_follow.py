"""Following the news through the fake Discord: `/brief now`, and topic watches that post what
another process ingests, once per story, across restarts, until `/unwatch`.

The store is on a Chroma server, as two processes share one (the bot here, `newsbot ingest` in a
subprocess), with the real embedding model: whether a watch matches depends on meaning.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.state import BotState
from tests.support.bot_fixtures import SHARED_BBC, NewsStack, build_stack, make_bot, url_of
from tests.support.chroma_server import ChromaServer, newsbot
from tests.support.fake_discord import FakeDiscord, pings, running_bot

T = 60.0
EPHEMERAL = 64
TOPIC = "floods in Quillbury"
FESTIVAL_URL = "https://gazette.example/quillbury-festival"
COPY_URL = "https://wire.example/quillbury-festival-off"
ROADS_URL = "https://gazette.example/quillbury-roads"
FERRY_URL = "https://gazette.example/quillbury-ferry"

FESTIVAL = (
    "The Quillbury folk festival has been called off after floods left its showground under water, its "
    "organisers said on Monday. The river burst its banks on Saturday night and the fields where 12,000 "
    "people were expected to camp are still flooded. Ticket holders will get a full refund within 14 days, "
    "festival director Marta Ellwood said. She said the organisers had no choice after the council closed "
    "the showground and the roads around it. The festival, held in the Welsh borders since 1987, has been "
    "cancelled only once before, in 2001. Local traders said the loss of the festival would cost the town "
    "dearly, since hotels and pubs were fully booked for the three days."
)
ROADS = (
    "Floods have closed every road into Quillbury for a third day, and the council says the water may not "
    "go down before the weekend. Army lorries brought drinking water to the town on Tuesday after the "
    "pumping station failed. Forty homes near the river were evacuated, and the school is shut. The "
    "Environment Agency said the river reached its highest level since records began in 1948, after a "
    "month of rain fell in two days. Residents criticised the flood defences, which were finished only "
    "last year at a cost of 4 million pounds."
)
FERRY = (
    "Floodwater in Quillbury has started to fall, and the council has reopened the bridge road for the "
    "first time in a week. Engineers will inspect the flood defences, which failed on Saturday when the "
    "river rose above them. Evacuated families in Quillbury may return home from Thursday, the council said."
)


def jsonl(folder: Path, *articles: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.jsonl").write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    return folder


def item(title: str, text: str, url: str, published: str, outlet: str = "Border Gazette") -> dict[str, str]:
    return {"title": title, "text": text, "url": url, "published": published, "outlet": outlet}


@pytest.fixture
def stack(tmp_path: Path, chroma_server: ChromaServer, local_embeddings: Embeddings) -> Iterator[NewsStack]:
    corpus = tmp_path / "first"
    for source_id in ("business/001", "tech/001", "sport/001", "politics/001"):
        target = corpus / f"{source_id}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED_BBC / f"{source_id}.txt", target)
    import uuid

    stack = build_stack(
        tmp_path, local_embeddings, corpus=corpus, chroma_url=chroma_server.url,
        collection=f"test-{uuid.uuid4().hex[:16]}",
    )
    yield stack
    stack.close()


def watch_posts(fake: FakeDiscord, channel_id: int) -> list[dict[str, Any]]:
    """The bodies of the watch messages the bot posted in `channel_id`."""
    sent = fake.requests_to("POST", rf"/channels/{channel_id}/messages")
    return [r.json for r in sent if r.json and "(watch " in (r.json.get("content") or "")]


async def ingest_elsewhere(stack: NewsStack, folder: Path) -> dict[str, Any]:
    """`newsbot ingest folder` in another process; returns its JSON summary."""
    done = await asyncio.to_thread(newsbot, "ingest", str(folder), "--json", settings=stack.settings, cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def settled(stack: NewsStack, timeout: float = T) -> None:
    """Wait until the bot has matched every article in the catalog against its watches."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not await asyncio.to_thread(stack.app.state.unseen, stack.indexer.catalog.fingerprints()):
            await asyncio.sleep(0.5)  # posting follows the matching
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the bot never matched the new articles")


async def test_a_watch_posts_each_new_story_once_across_copies_updates_and_restarts(
    stack: NewsStack, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    state_path = stack.app.state.path
    async with running_bot(make_bot(stack, fake, stack.app.state, watch_check_seconds=0.2)):
        refused = await fake.interaction("watch", {"topic": TOPIC}, user=fake.user)
        refused_reply = (await refused.wait_for_response())["data"]
        created = await fake.interaction("watch", {"topic": TOPIC}, user=fake.admin)
        confirmed = (await created.wait_for_response())["data"]
        watch_id = int(re.search(r"Watch id `(\d+)`", confirmed["content"]).group(1))  # type: ignore[union-attr]

        report = await ingest_elsewhere(stack, jsonl(tmp_path / "new", *[
            item("Quillbury folk festival called off after floods", FESTIVAL, FESTIVAL_URL, "2005-03-14"),
            item("Floods wash out Quillbury festival", FESTIVAL + " Refund forms are online.", COPY_URL,
                 "2005-03-14", outlet="Wire Service"),
            item("Quillbury cut off as floods close every road", ROADS, ROADS_URL, "2005-03-15"),
        ]))
        assert report["added"] == 3
        await settled(stack)
        first = watch_posts(fake, fake.channel_id)

        listed = await fake.interaction("watches", user=fake.admin)
        listing = (await listed.wait_for_response())["data"]["content"]

    assert refused_reply["flags"] & EPHEMERAL and "Manage Channels" in refused_reply["content"]
    assert confirmed["flags"] & EPHEMERAL and TOPIC in confirmed["content"]
    assert len(first) == 2, [m["content"] for m in first]
    links = [set(re.findall(r"\]\(<(https?://[^>]+)>\)", m["content"])) for m in first]
    assert {FESTIVAL_URL} in links or {COPY_URL} in links, "the festival story, once"
    assert {ROADS_URL} in links
    roads = next(m["content"] for m in first if ROADS_URL in m["content"])
    assert "Border Gazette, 15 March 2005" in roads
    assert "> Floods have closed every road into Quillbury for a third day" in roads
    assert all(pings(m) == set() and m["allowed_mentions"]["parse"] == [] for m in first)
    assert f"`{watch_id}` **{TOPIC}**" in listing and "last posted:" in listing
    assert not any(url_of("business/001") in m["content"] for m in first)

    # A restart, a re-ingest of the same files and an update of one article: nothing new to post.
    state = BotState(state_path)
    async with running_bot(make_bot(stack, fake, state, watch_check_seconds=0.2)):
        again = await ingest_elsewhere(stack, tmp_path / "new")
        assert again["unchanged"] == 3
        updated = await ingest_elsewhere(stack, jsonl(tmp_path / "update", item(
            "Quillbury cut off as floods close every road", ROADS + " The school reopens on Monday.",
            ROADS_URL, "2005-03-15")))
        assert updated["updated"] == 1
        await settled(stack)
        after_restart = watch_posts(fake, fake.channel_id)

        stop = await fake.interaction("unwatch", {"id": watch_id}, user=fake.admin)
        stopped = (await stop.wait_for_response())["data"]["content"]
        await ingest_elsewhere(stack, jsonl(tmp_path / "later", item(
            "Quillbury floodwater falls and bridge road reopens", FERRY, FERRY_URL, "2005-03-18")))
        await settled(stack)
        after_unwatch = watch_posts(fake, fake.channel_id)
    state.close()

    assert len(after_restart) == 2, "no story posted twice"
    assert stopped == f"Stopped watch {watch_id} ({TOPIC})."
    assert len(after_unwatch) == 2 and not any(FERRY_URL in m["content"] for m in after_unwatch)
    assert fake.rejected == []


async def test_brief_lists_stories_with_links_in_valid_messages_that_ping_nobody(
    news_stack: NewsStack, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    state = BotState(tmp_path / "bot.sqlite")
    async with running_bot(make_bot(news_stack, fake, state)):
        ix = await fake.interaction("brief now", {"since": "2005-03-01"})
        assert (await ix.wait_for_response())["type"] == 5  # deferred: briefing reads the store
        await ix.wait_for_reply(timeout=T)
        await asyncio.sleep(0.5)
        pieces = ix.followups  # the first replaces the "thinking" message
        latest = await fake.interaction("brief now", {"topic": "festival called off after floods"})
        await latest.wait_for_reply(timeout=T)
        about = "\n".join(m.get("content") or "" for m in latest.followups)
        bad = await fake.interaction("brief now", {"since": "the other day"})
        refused = (await bad.wait_for_response())["data"]
    state.close()

    text = "\n\n".join(p.get("content") or "" for p in pieces)
    assert text.startswith("**Briefing: since 1 March 2005** (10 stories, 14 articles)")
    stories = re.findall(r"^\*\*(\d+)\.\*\* ", text, re.MULTILINE)
    assert stories == [str(n) for n in range(1, len(stories) + 1)] and 5 <= len(stories) <= 10
    for block in text.split("\n\n")[1:]:
        lead, *sources = block.splitlines()
        assert re.search(r"(\[\d+\])+$", lead), lead
        assert sources and all(re.match(r"\[\d+\] \[.+\]\(<https?://[^>]+>\) - ", s) for s in sources), block
    assert all(len(p.get("content") or "") <= 2000 for p in pieces)
    assert "https://gazette.example/quillbury" in about and "BBC News" not in about
    assert refused["flags"] & EPHEMERAL and "the other day" in refused["content"]
    assert fake.rejected == []


def test_more_than_a_handful_of_new_stories_become_one_digest_and_each_links_its_article() -> None:
    from datetime import UTC, datetime

    from bot.formatting import render_watch_posts
    from retrieval.models import Passage
    from retrieval.watches import DIGEST_OVER, WatchMatch

    matches = [
        WatchMatch(
            article=Passage(chunk_id=f"a{i}#0", text="", source_id=f"a{i}", story_id=f"a{i}", title=f"Story [{i}]",
                            url=f"https://news.example/{i}", outlet="Gazette",
                            published_at=datetime(2025, 3, i + 1, tzinfo=UTC)),
            lead=f"Lead sentence {i} quoting @everyone.", score=1.0,
        )
        for i in range(DIGEST_OVER + 2)
    ]
    few = render_watch_posts(7, "floods", matches[:DIGEST_OVER], DIGEST_OVER)
    digest = render_watch_posts(7, "floods", matches, DIGEST_OVER)

    assert len(few) == DIGEST_OVER
    assert few[0] == "**New on floods** (watch 7)\n[Story (0)](<https://news.example/0>) - Gazette, 1 March 2025\n" \
                     "> Lead sentence 0 quoting @everyone."
    assert len(digest) == 1 and digest[0].startswith(f"**{DIGEST_OVER + 2} new stories on floods** (watch 7)")
    assert all(f"(<https://news.example/{i}>)" in digest[0] for i in range(DIGEST_OVER + 2))
