"""Admin commands end to end: `/reindex` and `/remove` run for admins only (whatever path a member
tries), report progress and a summary table, never overlap, and are logged with who ran them.

Each test has its own small store (fake embeddings: nothing here depends on meaning), because
these commands change it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from bot.state import BotState
from tests.support.bot_fixtures import (
    SHARED_BBC,
    NewsStack,
    WatchedIndexer,
    build_stack,
    make_bot,
)
from tests.support.fake_discord import (
    CommandUnavailable,
    FakeDiscord,
    running_bot,
    running_fake_discord,
)
from tests.support.waiting import until

T = 30.0
EPHEMERAL = 64
REFUSED = "You don't have permission to use this command."
FIRST = ("business/001", "business/002", "tech/001")
MORE = ("politics/001", "politics/002", "sport/001", "sport/002", "entertainment/001")


def copy_bbc(folder: Path, source_ids: tuple[str, ...]) -> Path:
    for source_id in source_ids:
        target = folder / f"{source_id}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED_BBC / f"{source_id}.txt", target)
    return folder


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[NewsStack]:
    corpus = copy_bbc(tmp_path / "first", FIRST)
    stack = build_stack(tmp_path, DeterministicFakeEmbedding(size=32), corpus=corpus)
    yield stack
    stack.close()


@pytest.fixture
def state(stack: NewsStack) -> BotState:
    return stack.app.state


def table_of(content: str) -> dict[str, int]:
    """The counts in the report table: a header line of names over a line of numbers."""
    block = re.search(r"```\n(.*?)\n```", content, re.DOTALL)
    assert block, content
    header, values = block.group(1).splitlines()
    return dict(zip(header.split(), map(int, values.split()), strict=True))


def original_edits(fake: FakeDiscord, token: str) -> list[str]:
    """The contents the bot PATCHed into an interaction's original response, in order."""
    edits = fake.requests_to("PATCH", rf"/webhooks/{fake.application_id}/{token}/messages/@original")
    return [r.json["content"] for r in edits]


def assert_clean(fake: FakeDiscord) -> None:
    assert fake.unhandled == []
    assert fake.rejected == [], [(r.method, r.path, r.response) for r in fake.rejected]


async def test_reindex_runs_for_an_admin_with_progress_and_a_summary_table(
    stack: NewsStack, fake_discord: FakeDiscord, state: BotState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_discord
    more = copy_bbc(tmp_path / "more", MORE)
    indexer = WatchedIndexer(stack.indexer)
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(make_bot(stack, fake, state, indexer=indexer)):
        with pytest.raises(CommandUnavailable):  # members are not even shown the command
            await fake.interaction("reindex", {"target": str(more)}, user=fake.user)

        ix = await fake.interaction("reindex", {"target": str(more)}, user=fake.admin)
        response = await ix.wait_for_response()
        await fake.wait_for_request(
            "PATCH", rf"/webhooks/{fake.application_id}/{ix.token}/messages/@original",
            predicate=lambda r: "finished" in r.json["content"], timeout=T,
        )
        first_run = original_edits(fake, ix.token)

        ix = await fake.interaction("reindex", {"target": str(more)}, user=fake.admin)
        await fake.wait_for_request(
            "PATCH", rf"/webhooks/{fake.application_id}/{ix.token}/messages/@original",
            predicate=lambda r: "finished" in r.json["content"], timeout=T,
        )
        second_run = original_edits(fake, ix.token)

        ix = await fake.interaction("article", {"id-or-url": "politics/001"})  # the new article is there
        article = (await ix.wait_for_response())["data"]["content"]

    assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
    assert response["data"]["content"].startswith("Re-indexing")
    *progress, final = first_run
    assert progress and all(re.search(r"\d+/5 articles embedded", p) for p in progress)
    assert final.startswith("Re-index finished.")
    assert table_of(final) == {"added": 5, "updated": 0, "unchanged": 0, "duplicates": 0, "deleted": 0, "failed": 0}
    assert table_of(second_run[-1])["unchanged"] == 5 and table_of(second_run[-1])["added"] == 0
    assert article.startswith("**")
    assert indexer.calls == [("ingest", ([str(more)],)), ("ingest", ([str(more)],))]
    who = [r.getMessage() for r in caplog.records if r.name == "bot.cogs.admin" and "reindex" in r.getMessage()]
    assert who and all(str(fake.admin.id) in line and "editor" in line for line in who)
    assert_clean(fake)


async def test_a_second_reindex_while_one_runs_is_told_so(
    stack: NewsStack, fake_discord: FakeDiscord, state: BotState, tmp_path: Path
) -> None:
    fake = fake_discord
    more = copy_bbc(tmp_path / "more", MORE)
    gate = threading.Event()
    indexer = WatchedIndexer(stack.indexer, gate=gate)
    async with running_bot(make_bot(stack, fake, state, indexer=indexer)):
        first = await fake.interaction("reindex", {"target": str(more)}, user=fake.admin)
        await first.wait_for_response()
        assert await asyncio.to_thread(indexer.started.wait, T)

        second = await fake.interaction("reindex", {"target": str(more), "prune": True}, user=fake.owner)
        busy = await second.wait_for_response()
        gate.set()
        await fake.wait_for_request(
            "PATCH", rf"/webhooks/{fake.application_id}/{first.token}/messages/@original",
            predicate=lambda r: "finished" in r.json["content"], timeout=T,
        )

    assert busy["type"] == 4 and busy["data"]["flags"] & EPHEMERAL
    assert busy["data"]["content"] == "A re-index is already running; try again when it has finished."
    assert len(indexer.calls) == 1  # the second never started
    assert_clean(fake)


async def test_remove_is_for_admins_only_and_logged(
    stack: NewsStack, state: BotState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    # strict_commands=False: a server admin may have shown the command to everyone (Server
    # Settings > Integrations); the bot must still refuse.
    async with running_fake_discord(check_unhandled=True, strict_commands=False) as fake:
        indexer = WatchedIndexer(stack.indexer)
        async with running_bot(make_bot(stack, fake, state, indexer=indexer)):
            ix = await fake.interaction("remove", {"id-or-url": "business/002"}, user=fake.user)
            refused = await ix.wait_for_response()

            ix = await fake.interaction("remove", {"id-or-url": "business/002"}, user=fake.admin)
            deferred = await ix.wait_for_response()
            removed = await ix.wait_for_reply(timeout=T)

            ix = await fake.interaction("remove", {"id-or-url": "business/002"}, user=fake.admin)
            again = await ix.wait_for_reply(timeout=T)
            ix = await fake.interaction("article", {"id-or-url": "business/002"})
            gone = (await ix.wait_for_response())["data"]["content"]
        assert_clean(fake)

    assert refused["type"] == 4 and refused["data"]["flags"] & EPHEMERAL and refused["data"]["content"] == REFUSED
    assert deferred["type"] == 5 and deferred["data"]["flags"] & EPHEMERAL
    assert removed["content"] == "Removed `business/002`." and removed["flags"] & EPHEMERAL
    assert again["content"] == "No indexed article has the id or URL 'business/002'."
    assert gone.startswith("No indexed article")
    assert indexer.calls == [("remove", ("business/002",)), ("remove", ("business/002",))]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.cogs.admin"]
    assert any("refused remove" in line and str(fake.user.id) in line for line in lines)
    assert any(line.startswith("remove 'business/002' by editor") and str(fake.admin.id) in line for line in lines)


async def test_members_cannot_reach_admin_commands_by_any_path(
    stack: NewsStack, state: BotState, tmp_path: Path
) -> None:
    more = str(copy_bbc(tmp_path / "more", MORE))
    async with running_fake_discord(check_unhandled=True) as strict:
        async with running_bot(make_bot(stack, strict, state)):
            for name, options in (("reindex", {"target": more}), ("remove", {"id-or-url": "business/001"})):
                with pytest.raises(CommandUnavailable):
                    await strict.interaction(name, options, user=strict.user)
                with pytest.raises(CommandUnavailable):  # guild commands: not in DMs either
                    await strict.interaction(name, options, user=strict.admin, dm=True)
        assert_clean(strict)

    async with running_fake_discord(check_unhandled=True, strict_commands=False) as fake:
        indexer = WatchedIndexer(stack.indexer)
        async with running_bot(make_bot(stack, fake, state, indexer=indexer)):
            slash = [
                await fake.interaction("reindex", {"target": more}, user=fake.user),
                await fake.interaction("reindex", {"target": more, "prune": True}, user=fake.user),
                await fake.interaction("remove", {"id-or-url": "business/001"}, user=fake.user),
                await fake.interaction("reindex", {"target": more}, user=fake.admin, dm=True),  # no Manage Server in DMs
            ]
            refusals = [await ix.wait_for_response() for ix in slash]

            # Text that looks like a command is a question like any other.
            message = await fake.user_message(f"{fake.bot_user.mention} reindex {more} prune")
            created = await fake.wait_for_request(
                "POST", rf"/channels/{fake.channel_id}/messages/{message['id']}/threads", timeout=T
            )
            as_question = await fake.wait_for_bot_message(int(created.response["id"]), timeout=T)
            dm = await fake.dm_message("/reindex")
            dm_answer = await fake.wait_for_bot_message(int(dm["channel_id"]), timeout=T)
            dm = await fake.dm_message("/remove business/001")
            await fake.wait_for_bot_message(int(dm["channel_id"]), timeout=T)
        assert_clean(fake)

    for response in refusals:
        assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
        assert response["data"]["content"] == REFUSED
    assert indexer.calls == []  # nothing was re-indexed or removed
    assert stack.indexer.article("business/001") is not None and stack.indexer.article("politics/001") is None
    for answer in (as_question, dm_answer):
        assert "Re-index" not in answer["content"] and "Removed" not in answer["content"]
        assert any(c["custom_id"].startswith("newsbot:fb:") for row in answer["components"] for c in row["components"])


async def test_the_scheduled_refresh_reingests_the_configured_feeds(
    stack: NewsStack, fake_discord: FakeDiscord, state: BotState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_discord
    more = str(copy_bbc(tmp_path / "more", MORE))
    indexer = WatchedIndexer(stack.indexer)
    caplog.set_level(logging.INFO, logger="bot")
    bot = make_bot(stack, fake, state, indexer=indexer, feeds=[more], refresh_minutes=60)
    async with running_bot(bot):  # the first run starts once the bot is ready
        await until(
            lambda: any("scheduled refresh:" in r.getMessage() for r in caplog.records),
            timeout=T,
            what="the scheduled refresh",
        )
    assert indexer.calls == [("ingest", ([more],))]
    assert any("scheduled refresh: {'added': 5" in r.getMessage() for r in caplog.records)
    assert stack.indexer.article("politics/001") is not None
    assert_clean(fake)
