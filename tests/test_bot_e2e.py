"""NewsBot end to end: the real discord.py client against the fake Discord, over a real store.

Every assertion is on what Discord would receive from the bot (the JSON of its requests) or on
what a user would see; `fake.unhandled` (routes the fake does not know) and `fake.rejected`
(requests Discord would refuse) stay empty.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.errors import UNAVAILABLE
from bot.formatting import render_answer
from bot.app import build_app
from bot.state import BotState
from retrieval.errors import StoreUnavailableError
from tests.support.bot_checks import (
    BROWN,
    CARLSBERG,
    EPHEMERAL,
    T,
    answer_in,
    assert_clean,
    assert_split_well,
    custom_ids,
    is_final,
    long_answer,
    mention,
    sources_of,
    urls_in,
)
from tests.support.bot_fixtures import (
    PING_TITLE,
    NewsStack,
    ScriptedEngine,
    WatchedIndexer,
    make_bot,
    url_of,
)
from tests.support.fake_discord import (
    FakeDiscord,
    pings,
    running_bot,
    running_fake_discord,
)

GAZETTE = "https://gazette.example/quillbury"

QUILLBURY = "What message did the Quillbury festival organisers post on their chat server?"


# --- mentions, threads, follow-ups ------------------------------------------------------------


async def test_a_mention_is_answered_in_a_new_thread_with_cited_sources_that_ping_nobody(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        thread_id = await mention(fake, QUILLBURY)
        typing = await fake.wait_for_request("POST", rf"/channels/{thread_id}/typing", timeout=T)
        sent = await answer_in(fake, thread_id)

    assert fake.channel(thread_id)["name"] == QUILLBURY
    assert typing.index < sent.index  # "NewsBot is typing..." while it works
    body = sent.json
    text, _, _ = body["content"].partition("**Sources**")
    assert "@everyone" in text and "<@&123>" in text  # quoted from the article...
    assert body["allowed_mentions"] == {"parse": []}
    assert pings(body) == set()  # ...and nobody is notified
    assert re.search(r"\[1\]", text)
    sources = sources_of(body["content"])
    assert 1 <= len(sources) <= 5
    assert [n for n, _, _ in sources] == list(range(1, len(sources) + 1))
    assert (1, PING_TITLE, GAZETTE) in sources
    assert "Border Gazette, 14 March 2005" in body["content"]
    assert len(body["content"]) <= 2000
    assert [c.split(":")[2] for c in custom_ids(body)] == ["up", "down"]
    assert fake.bot_messages(fake.channel_id) == []  # nothing in the channel itself
    assert_clean(fake)


async def test_a_follow_up_in_the_thread_needs_no_mention_and_uses_the_conversation(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        thread_id = await mention(fake, BROWN)
        first = await answer_in(fake, thread_id)
        assert url_of("politics/365") in urls_in(first.json["content"])

        await fake.user_message("what did he say about it?", channel_id=thread_id)  # no mention
        follow = await answer_in(fake, thread_id)

        # Without a mention, outside its threads, the bot stays quiet.
        await fake.user_message("what did he say about it?")
        await fake.dm_message("Is anyone there?")
        await answer_in(fake, int(fake.dm_channel(fake.user)["id"]))

    sources = sources_of(follow.json["content"])
    assert sources and {url for _, _, url in sources} == {url_of("politics/365")}
    turns = news_stack.engine.history.turns(str(thread_id))
    assert [t.question for t in turns] == [BROWN, "what did he say about it?"]
    assert "Gordon Brown" in turns[-1].standalone  # the follow-up was made standalone from the history
    assert fake.bot_messages(fake.channel_id) == []
    assert_clean(fake)


async def test_the_bot_keeps_answering_in_its_threads_after_a_restart(
    news_stack: NewsStack, fake_discord: FakeDiscord, tmp_path: Path, local_embeddings: Embeddings
) -> None:
    fake = fake_discord
    path = tmp_path / "state" / "newsbot-bot.sqlite"
    state = BotState(path)
    async with running_bot(make_bot(news_stack, fake, state)):
        thread_id = await mention(fake, BROWN)
        before = await answer_in(fake, thread_id)
    state.close()

    # A new process: a new app (engine, history object) and state object on the same files.
    state = BotState(path)
    try:
        async with build_app(news_stack.settings, embeddings=local_embeddings) as app, running_bot(
            make_bot(news_stack, fake, state, engine=app.engine)
        ):
            await fake.user_message("what did he say about it?", channel_id=thread_id)
            after = await answer_in(fake, thread_id)
            assert {url for _, _, url in sources_of(after.json["content"])} == {url_of("politics/365")}

            # The buttons under the answer given before the restart still work.
            vote = next(c for c in custom_ids(before.json) if ":up:" in c)
            ix = await fake.component_interaction(vote, user=fake.user)
            response = await ix.wait_for_response()
        assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
        assert response["data"]["content"] == "Thanks for the feedback."
        [feedback] = state.feedback()
        assert feedback["question"] == BROWN and feedback["helpful"] is True
        assert {s["source_id"] for s in feedback["sources"]} == {"politics/365"}
    finally:
        state.close()
    assert_clean(fake)


async def test_a_dm_is_answered_while_typing(news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        dm = await fake.dm_message(CARLSBERG)
        channel_id = int(dm["channel_id"])
        typing = await fake.wait_for_request("POST", rf"/channels/{channel_id}/typing", timeout=T)
        sent = await answer_in(fake, channel_id)
    assert typing.index < sent.index
    content = sent.json["content"]
    assert "200 jobs" in content and "[1]" in content
    assert url_of("business/173") in {url for _, _, url in sources_of(content)}
    assert sent.json["allowed_mentions"] == {"parse": []}
    assert fake.requests_to("POST", r"/channels/\d+/messages/\d+/threads") == []  # no threads in DMs
    assert_clean(fake)


async def test_feedback_buttons_record_votes_with_the_question_and_sources(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        thread_id = await mention(fake, CARLSBERG)
        sent = await answer_in(fake, thread_id)
        up, down = custom_ids(sent.json)
        assert re.fullmatch(r"newsbot:fb:up:[0-9a-f]{16}", up) and down == up.replace(":up:", ":down:")

        first = await fake.component_interaction(up, user=fake.user)
        second = await fake.component_interaction(down, user=fake.admin)
        changed = await fake.component_interaction(down, user=fake.user)  # a second vote replaces the first
        for ix in (first, second, changed):
            response = await ix.wait_for_response()
            assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL

    votes = {(v["user_id"], v["helpful"]) for v in state.feedback()}
    assert votes == {(fake.user.id, False), (fake.admin.id, False)}
    vote = state.feedback()[0]
    assert vote["question"] == CARLSBERG and vote["answer_id"] == up.rsplit(":", 1)[1]
    assert {"n": 1, "source_id": "business/173", "title": "Brewers' profits lose their fizz"} in vote["sources"]
    assert_clean(fake)


# --- slash commands -------------------------------------------------------------------------


async def test_ask_defers_then_answers_and_honours_outlet_and_since(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        ix = await fake.interaction("ask", {"question": CARLSBERG})
        assert (await ix.wait_for_response())["type"] == 5  # deferred: "NewsBot is thinking..."
        reply = await ix.wait_for_reply(timeout=T)
        followup = await fake.wait_for_request("POST", rf"/webhooks/{fake.application_id}/{ix.token}", timeout=T)
        assert "200 jobs" in reply["content"] and not reply["flags"] & EPHEMERAL
        assert url_of("business/173") in {url for _, _, url in sources_of(reply["content"])}
        assert followup.json["allowed_mentions"] == {"parse": []}
        assert any(c.startswith("newsbot:fb:up:") for c in custom_ids(reply))

        # The outlet option keeps the BBC article out; the question's own words could not.
        ix = await fake.interaction("ask", {"question": CARLSBERG, "outlet": "Harbour Times"})
        assert (await ix.wait_for_response())["type"] == 5
        reply = await ix.wait_for_reply(timeout=T)
        assert url_of("business/173") not in urls_in(reply["content"])
        assert urls_in(reply["content"]) <= {"https://harbour.example/inquiry"}
        own = f"{fake.channel_id}/{fake.user.id}"  # /ask in a channel: this member's conversation
        assert (await news_stack.engine.last_answer(own)).filters.outlets == ["Harbour Times"]

        ix = await fake.interaction("ask", {"question": QUILLBURY, "since": "2005-03-14"})
        reply = await ix.wait_for_reply(timeout=T)
        assert GAZETTE in urls_in(reply["content"])
        assert (await news_stack.engine.last_answer(own)).filters.since == date(2005, 3, 14)

        ix = await fake.interaction("ask", {"question": CARLSBERG, "since": "2005-03-14"})
        reply = await ix.wait_for_reply(timeout=T)
        assert url_of("business/173") not in urls_in(reply["content"])  # published on 3 March

        ix = await fake.interaction("ask", {"question": CARLSBERG, "since": "the twelfth of never"})
        response = await ix.wait_for_response()
        assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
        assert "couldn't read the date" in response["data"]["content"]
    assert_clean(fake)


async def test_two_members_ask_follow_ups_in_one_channel_without_mixing_their_conversations(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    reader, editor = fake.user, fake.admin

    async def ask(question: str, user: Any) -> str:
        ix = await fake.interaction("ask", {"question": question}, user=user)
        return str((await ix.wait_for_reply(timeout=T))["content"])

    async with running_bot(make_bot(news_stack, fake, state)):
        assert url_of("business/173") in urls_in(await ask(CARLSBERG, reader))
        assert url_of("politics/365") in urls_in(await ask(BROWN, editor))
        # Each follow-up reads against its own member's question, not the channel's last one.
        readers_follow_up = urls_in(await ask("and why?", reader))
        editors_follow_up = urls_in(await ask("and why?", editor))

        ix = await fake.interaction("sources", user=reader)
        readers_sources = (await ix.wait_for_response())["data"]["content"]

    assert url_of("business/173") in readers_follow_up and url_of("politics/365") not in readers_follow_up
    assert url_of("politics/365") in editors_follow_up and url_of("business/173") not in editors_follow_up
    assert "Brewers' profits lose their fizz" in readers_sources and "Brown" not in readers_sources
    assert_clean(fake)


async def test_sources_shows_the_passages_of_the_last_answer_privately(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    quiet = fake.add_text_channel("quiet")
    async with running_bot(make_bot(news_stack, fake, state)):
        ix = await fake.interaction("ask", {"question": CARLSBERG})
        answer = await ix.wait_for_reply(timeout=T)

        ix = await fake.interaction("sources")
        response = await ix.wait_for_response()
        assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
        shown = response["data"]["content"]

        ix = await fake.interaction("sources", channel_id=quiet)
        empty = (await ix.wait_for_response())["data"]

    cited = sources_of(answer["content"])
    for n, title, url in cited:
        assert f"[{n}] [{title}](<{url}>)" in shown
    assert re.search(r"^> .*200 jobs", shown, re.MULTILINE)  # the passage text behind [n]
    assert len(shown) <= 2000
    assert empty["content"] == "There is no answer in this channel yet." and empty["flags"] & EPHEMERAL
    assert_clean(fake)


async def test_search_article_stats_help_and_forget(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        ix = await fake.interaction("search", {"query": "Carlsberg brewer profits"})
        assert (await ix.wait_for_response())["type"] == 5
        found = (await ix.wait_for_reply(timeout=T))["content"]

        ix = await fake.interaction("search", {"query": "festival floods refunds", "outlet": "Border Gazette"})
        only_gazette = (await ix.wait_for_reply(timeout=T))["content"]

        ix = await fake.interaction("search", {"query": "jobs profits sales", "order": "newest"})
        newest = (await ix.wait_for_reply(timeout=T))["content"]

        ix = await fake.interaction("article", {"id-or-url": "business/173"})
        article = await ix.wait_for_response()
        ix = await fake.interaction("article", {"id-or-url": GAZETTE})
        by_url = (await ix.wait_for_response())["data"]["content"]
        ix = await fake.interaction("article", {"id-or-url": "nope/000"})
        missing = (await ix.wait_for_response())["data"]

        ix = await fake.interaction("stats")
        assert (await ix.wait_for_response())["type"] == 5
        stats = (await ix.wait_for_reply(timeout=T))["content"]

        ix = await fake.interaction("help")
        help_ = (await ix.wait_for_response())["data"]

        ix = await fake.interaction("ask", {"question": CARLSBERG})
        await ix.wait_for_reply(timeout=T)
        own = f"{fake.channel_id}/{fake.user.id}"  # /ask in a channel: this member's conversation
        assert news_stack.engine.history.turns(own)
        ix = await fake.interaction("forget")
        forgot = (await ix.wait_for_response())["data"]
        ix = await fake.interaction("sources")
        after_forget = (await ix.wait_for_response())["data"]["content"]

    assert f"[Brewers' profits lose their fizz](<{url_of('business/173')}>) - BBC News, 2 March 2005" in found
    assert re.search(r"^> .*Carlsberg", found, re.MULTILINE)
    assert urls_in(only_gazette) == {GAZETTE}
    days = [
        date(2005, 3, int(d)) for d in re.findall(r"(\d+) March 2005", newest)
    ]
    assert len(days) >= 2 and days == sorted(days, reverse=True)

    assert article["type"] == 4 and not (article["data"].get("flags") or 0) & EPHEMERAL
    content = article["data"]["content"]
    assert content.startswith("**Brewers' profits lose their fizz**\nBBC News - 2 March 2005\n")
    assert f"<{url_of('business/173')}>" in content and "chunks indexed" in content
    assert "Carlsberg" in content
    assert by_url.startswith(f"**{PING_TITLE}**")
    assert missing["flags"] & EPHEMERAL and "No indexed article" in missing["content"]

    assert "**14** articles" in stats and "BBC News (12)" in stats
    assert "Embedding model: all-MiniLM-L6-v2" in stats and "Last refreshed: never" not in stats
    assert help_["flags"] & EPHEMERAL and "/ask" in help_["content"] and "/reindex" in help_["content"]

    assert forgot["flags"] & EPHEMERAL and "forgotten" in forgot["content"]
    assert news_stack.engine.history.turns(f"{fake.channel_id}/{fake.user.id}") == []
    assert after_forget == "There is no answer in this channel yet."
    assert_clean(fake)


# --- long answers ---------------------------------------------------------------------------


async def test_a_long_answer_is_split_into_valid_messages(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    answer = long_answer()
    whole = render_answer(answer)
    assert len(whole) > 6000
    engine = ScriptedEngine(answer, real=news_stack.engine)
    async with running_bot(make_bot(news_stack, fake, state, engine=engine)):
        thread_id = await mention(fake, "What did the harbour bridge inquiry find?")
        await answer_in(fake, thread_id)
        posts = fake.requests_to("POST", rf"/channels/{thread_id}/messages")

        ix = await fake.interaction("ask", {"question": "What did the harbour bridge inquiry find?"})
        await ix.wait_for_reply(timeout=T)
        await fake.wait_for_request(
            "POST", rf"/webhooks/{fake.application_id}/{ix.token}", predicate=is_final, timeout=T
        )
        followups = fake.requests_to("POST", rf"/webhooks/{fake.application_id}/{ix.token}")

    for sent in (posts, followups):
        pieces = [r.json["content"] for r in sent]
        assert_split_well(pieces, whole)
        assert [is_final(r) for r in sent] == [False] * (len(sent) - 1) + [True]  # buttons under the last
        assert all(r.json["allowed_mentions"] == {"parse": []} for r in sent)
        sources = sources_of(pieces[-1])
        assert [n for n, _, _ in sources] == [1, 2, 3, 4, 5]  # at most five, then a pointer
        assert "... and 2 more (`/sources`)" in pieces[-1]
    assert engine.asked[0][1] == "What did the harbour bridge inquiry find?"
    # "last week" means the week before the message / interaction was sent.
    assert engine.dates == [datetime.now(UTC).date()] * 2
    assert_clean(fake)


# --- limits -----------------------------------------------------------------------------------


async def test_fast_askers_and_long_questions_get_a_polite_refusal(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    dm_id = int(fake.dm_channel(fake.user)["id"])
    async with running_bot(make_bot(news_stack, fake, state, questions_per_minute=2)):
        long_question = "Why " + "really " * 100 + "did Carlsberg cut jobs?"
        await fake.dm_message(long_question)
        too_long = await fake.wait_for_request("POST", rf"/channels/{dm_id}/messages", timeout=T)

        for question in (CARLSBERG, "What did Carlsberg say about Heineken?"):
            await fake.dm_message(question)
            await answer_in(fake, dm_id)
        third = await fake.dm_message("And what about Sweden?")
        refused = await fake.wait_for_request("POST", rf"/channels/{dm_id}/messages", timeout=T)

        ix = await fake.interaction("ask", {"question": CARLSBERG})
        slash = (await ix.wait_for_response())["data"]
        ix = await fake.interaction("ask", {"question": CARLSBERG}, user=fake.admin)  # others may still ask
        assert (await ix.wait_for_response())["type"] == 5
        await ix.wait_for_reply(timeout=T)

    assert too_long.json["content"].startswith(f"That question is {len(long_question)} characters long")
    assert "500 or fewer" in too_long.json["content"]
    assert refused.json["content"].startswith("You're asking quickly: please wait")
    assert str(refused.json["message_reference"]["message_id"]) == third["id"]
    assert pings(refused.json, replied_user_id=fake.user.id) == set()
    assert slash["flags"] & EPHEMERAL and slash["content"].startswith("You're asking quickly")
    assert len(news_stack.engine.history.turns(str(dm_id))) == 2
    assert_clean(fake)


async def test_the_bot_ignores_its_own_messages_and_other_bots(news_stack: NewsStack, state: BotState) -> None:
    async with running_fake_discord(check_unhandled=True, echo_bot_messages=True) as fake:
        other_bot = fake.add_user("feedbot", bot=True)
        async with running_bot(make_bot(news_stack, fake, state)):
            await fake.user_message(f"{fake.bot_user.mention} {CARLSBERG}", author=other_bot)
            dm_id = int(fake.dm_channel(fake.user)["id"])
            await fake.dm_message(CARLSBERG)
            await answer_in(fake, dm_id)  # echoed back to the bot as MESSAGE_CREATE, as Discord does
            await fake.dm_message("What did Carlsberg say about Heineken?")
            await answer_in(fake, dm_id)
        assert len(fake.bot_messages(dm_id)) == 2  # no answer to its own answers
        assert fake.requests_to("POST", r"/channels/\d+/messages/\d+/threads") == []  # nor to the other bot
        assert len(fake.requests_to("POST", r"/channels/\d+/messages")) == 2
        assert_clean(fake)


# --- failures -------------------------------------------------------------------------------


async def test_an_unavailable_store_is_one_friendly_sentence_and_no_traceback(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_discord
    engine = ScriptedEngine(error=StoreUnavailableError("Chroma at http://10.0.0.5:8000 refused the connection"))
    async with running_bot(make_bot(news_stack, fake, state, engine=engine)):
        thread_id = await mention(fake, CARLSBERG)
        in_thread = await fake.wait_for_request("POST", rf"/channels/{thread_id}/messages", timeout=T)

        ix = await fake.interaction("ask", {"question": CARLSBERG})
        assert (await ix.wait_for_response())["type"] == 5
        slash = await ix.wait_for_reply(timeout=T)

        engine.error = RuntimeError("boom in /srv/newsbot/retrieval/hybrid.py line 3")
        with caplog.at_level(logging.ERROR):
            await fake.dm_message(CARLSBERG)
            unexpected = await fake.wait_for_request("POST", r"/channels/\d+/messages", timeout=T)

    assert in_thread.json["content"] == UNAVAILABLE and in_thread.json["allowed_mentions"] == {"parse": []}
    assert slash["content"] == UNAVAILABLE
    assert unexpected.json["content"].startswith("Something went wrong on my side")
    for message in fake.bot_messages():
        assert "Traceback" not in message["content"] and "boom" not in message["content"]
        assert "10.0.0.5" not in message["content"]
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)  # the log has it all
    assert_clean(fake)


# --- scale --------------------------------------------------------------------------------------


async def test_twenty_questions_at_once_never_hold_the_event_loop(
    news_stack: NewsStack,
    fake_discord: FakeDiscord,
    state: BotState,
    caplog: pytest.LogCaptureFixture,
    local_embeddings: Embeddings,
) -> None:
    fake = fake_discord
    loop = asyncio.get_running_loop()
    # The real model, store and code paths; three passages per answer keep the test quick.
    quick = news_stack.settings.model_copy(update={"retrieval_k": 3})
    questions = [
        CARLSBERG, BROWN, QUILLBURY, "Why did US retail sales fall in January?",
        "What do musicians think of the internet?", "Will Arjen Robben return to European football?",
        "How did Time Warner's advertising sales do?", "What did Greenspan say about the dollar?",
        "How did ink help democracy in Asia?", "Why is China cracking down on net cafes?",
        "What is the interactive tree at the gallery?", "What did Labour plan for maternity pay?",
        "Is Claxton hunting a first major medal?", "What did the harbour bridge inquiry find about the toll booths?",
        "Who chaired the harbour bridge inquiry?", "How many people were expected at the Quillbury festival?",
        "When will Quillbury ticket holders get a refund?", "Which Carlsberg brands grew in Asia?",
        "How many civil service jobs were cut ahead of target?", "What happened to car sales in the US?",
    ]
    assert len(questions) == 20
    async with build_app(quick, embeddings=local_embeddings) as app, running_bot(
        make_bot(news_stack, fake, state, engine=app.engine, questions_per_minute=30)
    ):
        caplog.clear()
        loop.slow_callback_duration = 0.5
        loop.set_debug(True)  # asyncio logs every callback that holds the loop longer
        try:
            with caplog.at_level(logging.WARNING, logger="asyncio"):
                messages = await asyncio.gather(*(fake.user_message(f"{fake.bot_user.mention} {q}") for q in questions))
                threads = [
                    await fake.wait_for_request(
                        "POST", rf"/channels/{fake.channel_id}/messages/{m['id']}/threads", timeout=T
                    )
                    for m in messages
                ]
                answers = [await answer_in(fake, int(t.response["id"]), timeout=60) for t in threads]
        finally:
            loop.set_debug(False)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert slow == [], slow
    assert len({int(t.response["id"]) for t in threads}) == 20
    assert all(a.json["allowed_mentions"] == {"parse": []} for a in answers)
    answered = sum("[1]" in a.json["content"] for a in answers)
    assert answered >= 15, answered  # most are answered, not abstained
    assert_clean(fake)


async def test_two_shards_reach_ready_and_answer(news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState) -> None:
    fake = fake_discord
    bot = make_bot(news_stack, fake, state, shard_count=2)
    async with running_bot(bot):
        assert bot.shard_count == 2 and set(bot.shards) == {0, 1}
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        thread_id = await mention(fake, CARLSBERG)
        sent = await answer_in(fake, thread_id)
        dm = await fake.dm_message(CARLSBERG)  # DMs arrive on shard 0
        await answer_in(fake, int(dm["channel_id"]))
    assert "200 jobs" in sent.json["content"]
    assert_clean(fake)


async def test_commands_are_synced_to_the_dev_guild_only(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state, indexer=WatchedIndexer(news_stack.indexer))):
        synced = {c["name"]: c for c in fake.commands(fake.guild_id)}
    assert set(synced) == {"ask", "sources", "forget", "search", "article", "stats", "help", "reindex", "remove",
        "brief", "watch", "watches", "unwatch"}
    assert fake.commands() == []  # global sync is `newsbot sync`, never at start-up
    manage_guild = "32"
    assert synced["reindex"]["default_member_permissions"] == manage_guild
    assert synced["remove"]["default_member_permissions"] == manage_guild
    assert synced["ask"].get("default_member_permissions") is None
    assert [(o["name"], o.get("required", False)) for o in synced["ask"]["options"]] == [
        ("question", True), ("outlet", False), ("since", False)
    ]
    assert_clean(fake)


async def test_the_bots_role_counts_as_a_mention_and_answers_can_stay_inline(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state, answer_in_thread=False)):
        # Discord often completes "@NewsBot" to the bot's managed role.
        asked = await fake.user_message(f"<@&{fake.bot_role_id}> {CARLSBERG}")
        inline = await answer_in(fake, fake.channel_id)
        await fake.user_message("and what about Heineken?")  # no mention, not a thread: ignored
        await fake.user_message(f"{fake.bot_user.mention}")  # a bare mention gets a hint
        hint = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages", timeout=T)
    assert "200 jobs" in inline.json["content"]
    assert fake.requests_to("POST", r"/channels/\d+/messages/\d+/threads") == []
    assert news_stack.engine.history.turns(str(fake.channel_id))[0].question == CARLSBERG
    assert asked["mention_roles"] == [str(fake.bot_role_id)]
    assert hint.json["content"].startswith("Ask me a question about the news")
    assert len(fake.bot_messages(fake.channel_id)) == 2
    assert_clean(fake)
