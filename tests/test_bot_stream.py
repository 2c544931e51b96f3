"""LLM answers stream into Discord: the real discord.py client against the fake Discord, with a
scripted chat model (fast, deterministic) and with the real llama.cpp server (gemma-3-270m).

What a user sees: a draft appears once the model starts writing and grows (the message is
edited, at most once a second), then becomes the verified answer with its sources and feedback
buttons; an answer the model could not give replaces the draft too; nothing pings anyone. The
extractive answerer does not stream: one message, as before.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from bot.app import App, build_app
from bot.formatting import DRAFT_MARK, render_answer
from bot.errors import UNAVAILABLE
from bot.state import BotState
from bot.streaming import EDIT_INTERVAL
from retrieval.citations import MARKER, audit
from retrieval.conversation import LLM_UNAVAILABLE_NOTICE
from retrieval.history import InMemoryHistory
from retrieval.errors import StoreUnavailableError
from retrieval.llm import build_chat_model
from retrieval.models import Answer
from tests.support.bot_checks import (
    CARLSBERG,
    assert_clean,
    assert_split_well,
    custom_ids,
    is_final,
    long_answer,
    mention,
    sources_of,
)
from tests.support.bot_fixtures import NewsStack, make_bot
from tests.support.fake_discord import FakeDiscord, RecordedRequest, pings, running_bot

T = 60.0
SWEDEN = "200 jobs in Sweden"
PASSAGE = re.compile(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)
UNSUPPORTED = "@everyone Heineken will also close every one of its breweries in Europe and Asia next year [17]."


class TypingChatModel(GenericFakeChatModel):
    """Writes its reply a word at a time, `pause` seconds apart, like a model on a slow machine.

    The reply states the Carlsberg fact citing the passage that holds it, then a sentence no
    passage supports (which pings @everyone). With `fail_after`, the connection drops after that
    many words."""

    pause: float = 0.12
    fail_after: int | None = None

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        prompt = messages[-1].text
        n = next((m.group(1) for m in PASSAGE.finditer(prompt) if SWEDEN in m.group(2)), "1")
        reply = f"Carlsberg plans to cut {SWEDEN} [{n}]. {UNSUPPORTED}"
        for i, word in enumerate(reply.split(" ")):
            if i == self.fail_after:
                raise ConnectionError("connection reset by peer")
            await asyncio.sleep(self.pause)
            yield ChatGenerationChunk(message=AIMessageChunk(content=("" if i == 0 else " ") + word))


class StreamingEngine:
    """Stands in for the engine: yields `drafts` a `pause` apart, then `answer` (or raises `error`)."""

    def __init__(self, real: Any, drafts: list[str], *, answer: Answer | None = None,
                 error: Exception | None = None, pause: float = 0.6) -> None:
        self.real, self.drafts, self.answer, self.error, self.pause = real, drafts, answer, error, pause
        self.retriever = real.retriever

    async def stream_ask(self, conversation_id: str, question: str, **options: Any) -> AsyncIterator[str | Answer]:
        for draft in self.drafts:
            yield draft
            await asyncio.sleep(self.pause)
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        yield self.answer.model_copy(update={"question": question})

    def today(self) -> Any:
        return self.real.today()


def typing_model(**options: Any) -> TypingChatModel:
    return TypingChatModel(messages=iter([]), **options)


def llm_app(stack: NewsStack, embeddings: Embeddings, **options: Any) -> Any:
    """An app over the shared store that answers with a chat model (`chat_model=`, or the one
    the settings `options` name)."""
    chat_model = options.pop("chat_model", None)
    settings = stack.settings.model_copy(update=options)
    return build_app(
        settings, embeddings=embeddings, client=stack.app.client, chat_model=chat_model, history=InMemoryHistory()
    )


@asynccontextmanager
async def llm_bot(
    stack: NewsStack, fake: FakeDiscord, state: BotState, embeddings: Embeddings, **options: Any
) -> AsyncIterator[App]:
    """The bot running against `fake` and answering with a chat model (`llm_app` with
    `options`); yields the app, whose engine keeps the last answers."""
    async with llm_app(stack, embeddings, **options) as app:
        async with running_bot(make_bot(stack, fake, state, engine=app.engine)):
            yield app


def assert_streamed(requests: list[RecordedRequest], final: RecordedRequest, answer: Answer) -> None:
    """`requests` (the first draft, its edits, the final edit) show drafts, then `answer`."""
    *drafts, last = requests
    assert last is final
    assert len(drafts) >= 2, "the draft was never edited before the answer"  # a POST, then PATCHes
    for draft in drafts:
        content = draft.json["content"]
        assert content.endswith(DRAFT_MARK) and len(content) <= 2000
        assert "**Sources**" not in content and not custom_ids(draft.json)
    shown = [d.json["content"].removesuffix(DRAFT_MARK).strip() for d in drafts]
    assert all(later.startswith(earlier) for earlier, later in zip(shown, shown[1:]))  # it grows
    for earlier, later in zip(requests, requests[1:]):
        assert later.at - earlier.at >= EDIT_INTERVAL - 0.01, "edited more than once a second"
    for request in requests:
        assert request.json["allowed_mentions"] == {"parse": []}
        assert pings(request.json) == set()

    body = final.json
    assert body["content"] == render_answer(answer)
    assert [c.split(":")[2] for c in custom_ids(body)] == ["up", "down"]
    assert audit(answer) == []
    text, _, _ = body["content"].partition("**Sources**")
    listed = {n for n, _, _ in sources_of(body["content"])}
    cited = {int(n) for group in MARKER.findall(text) for n in re.split(r"\s*[,;]\s*", group)}
    assert cited and cited <= listed  # every [n] shown names a listed source


# --- a scripted chat model --------------------------------------------------------------------


async def test_a_mention_shows_a_growing_draft_then_only_the_verified_answer(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState, local_embeddings: Embeddings
) -> None:
    fake = fake_discord
    async with llm_bot(news_stack, fake, state, local_embeddings, chat_model=typing_model()) as app:
        thread_id = await mention(fake, CARLSBERG)
        messages = rf"/channels/{thread_id}/messages(/\d+)?"
        final = await fake.wait_for_request("PATCH", messages, predicate=is_final, timeout=T)
        answer = await app.engine.last_answer(str(thread_id))

    assert answer is not None and answer.answerer == "llm"
    requests = fake.requests_to("*", messages)
    assert [r.method for r in requests] == ["POST"] + ["PATCH"] * (len(requests) - 1)  # one message
    assert_streamed(requests, final, answer)
    # The draft showed the model's unsupported sentence; the verified answer drops it.
    assert any("Heineken" in r.json["content"] for r in requests[:-1])
    assert "Heineken" not in final.json["content"] and "[17]" not in final.json["content"]
    assert SWEDEN in final.json["content"]
    assert_clean(fake)


async def test_ask_streams_into_its_deferred_response(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState, local_embeddings: Embeddings
) -> None:
    fake = fake_discord
    async with llm_bot(news_stack, fake, state, local_embeddings, chat_model=typing_model()) as app:
        ix = await fake.interaction("ask", {"question": CARLSBERG})
        webhook = rf"/webhooks/{fake.application_id}/{ix.token}(/messages/\d+)?"
        final = await fake.wait_for_request("PATCH", webhook, predicate=is_final, timeout=T)
        answer = await app.engine.last_answer(f"{fake.channel_id}/{fake.user.id}")

    assert (await ix.wait_for_response())["type"] == 5  # deferred first: "NewsBot is thinking..."
    assert answer is not None
    requests = fake.requests_to("*", webhook)
    assert [r.method for r in requests] == ["POST"] + ["PATCH"] * (len(requests) - 1)
    assert_streamed(requests, final, answer)
    assert ix.original is not None and ix.original["content"] == render_answer(answer)
    assert_clean(fake)


async def test_a_model_that_fails_mid_answer_is_replaced_by_the_extractive_answer(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState, local_embeddings: Embeddings
) -> None:
    fake = fake_discord
    model = typing_model(pause=0.3, fail_after=8)  # about 2.4 s of draft, then the connection drops
    async with llm_bot(news_stack, fake, state, local_embeddings, chat_model=model) as app:
        thread_id = await mention(fake, CARLSBERG)
        messages = rf"/channels/{thread_id}/messages(/\d+)?"
        final = await fake.wait_for_request("PATCH", messages, predicate=is_final, timeout=T)
        answer = await app.engine.last_answer(str(thread_id))

    assert answer is not None and answer.notice == LLM_UNAVAILABLE_NOTICE
    assert final.json["content"].startswith(f"*{LLM_UNAVAILABLE_NOTICE}*")
    assert_streamed(fake.requests_to("*", messages), final, answer)
    assert_clean(fake)


async def test_the_extractive_answerer_sends_one_message_without_drafts(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    async with running_bot(make_bot(news_stack, fake, state)):
        thread_id = await mention(fake, CARLSBERG)
        messages = rf"/channels/{thread_id}/messages(/\d+)?"
        sent = await fake.wait_for_request("POST", messages, predicate=is_final, timeout=T)
        await asyncio.sleep(2 * EDIT_INTERVAL)  # a late edit would show up by now

    assert [r.method for r in fake.requests_to("*", messages)] == ["POST"]
    assert not sent.json["content"].endswith(DRAFT_MARK) and "**Sources**" in sent.json["content"]
    assert_clean(fake)


async def test_a_long_streamed_answer_ends_in_the_draft_message_and_follow_ups(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    answer = long_answer()
    whole = render_answer(answer)
    drafts = [answer.text[:n] for n in (40, 900, 2600, 6000)]  # the last is over 2,000 characters
    engine = StreamingEngine(news_stack.engine, drafts, answer=answer, pause=1.1)  # each draft shown
    async with running_bot(make_bot(news_stack, fake, state, engine=engine)):
        thread_id = await mention(fake, "What did the harbour bridge inquiry find?")
        messages = rf"/channels/{thread_id}/messages(/\d+)?"
        await fake.wait_for_request("POST", messages, predicate=is_final, timeout=T)

    requests = fake.requests_to("*", messages)
    first = requests[0].response["id"]
    edits = [r for r in requests if r.method == "PATCH"]
    assert all(r.path.endswith(f"/messages/{first}") for r in edits)  # the draft message, edited
    assert all(len(r.json["content"]) <= 2000 for r in requests)
    shown = [r.json["content"] for r in requests if r.json["content"].endswith(DRAFT_MARK)]
    assert len(shown) == len(drafts)  # the 6,000-character draft too, cut to one message
    # The answer: the first piece in the draft's place, the others as new messages after it.
    pieces = [edits[-1].json["content"]] + [r.json["content"] for r in requests if r.index > edits[-1].index]
    assert_split_well(pieces, whole)
    assert [is_final(r) for r in requests if r.index >= edits[-1].index] == [False] * (len(pieces) - 1) + [True]
    assert all(r.json["allowed_mentions"] == {"parse": []} for r in requests)
    assert_clean(fake)


async def test_an_error_after_the_first_draft_replaces_the_draft(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState
) -> None:
    fake = fake_discord
    error = StoreUnavailableError("Chroma at http://10.0.0.5:8000 refused the connection")
    engine = StreamingEngine(news_stack.engine, ["Carlsberg plans", "Carlsberg plans to cut"], error=error)
    async with running_bot(make_bot(news_stack, fake, state, engine=engine)):
        thread_id = await mention(fake, CARLSBERG)
        messages = rf"/channels/{thread_id}/messages(/\d+)?"
        replaced = await fake.wait_for_request(
            "PATCH", messages, predicate=lambda r: r.json["content"] == UNAVAILABLE, timeout=T
        )
        await asyncio.sleep(2 * EDIT_INTERVAL)

    requests = fake.requests_to("*", messages)
    assert requests[0].method == "POST" and requests[0].json["content"].endswith(DRAFT_MARK)
    assert requests[-1] is replaced  # the draft became the friendly sentence; nothing after it
    shown = fake.message(int(replaced.response["id"]))
    assert shown is not None and shown["content"] == UNAVAILABLE
    assert_clean(fake)


# --- the real llama.cpp server ----------------------------------------------------------------


async def test_an_answer_from_the_real_server_streams_into_the_thread(
    news_stack: NewsStack, fake_discord: FakeDiscord, state: BotState, local_embeddings: Embeddings,
    llama_base_url: str,
) -> None:
    """Whatever gemma-3-270m writes: drafts arrive as it writes, the final message is the verified
    answer (or the extractive one), and nothing pings anyone."""
    fake = fake_discord
    # ~600 tokens of passages fit gemma's 2048-token window with the prompt and the reply.
    llm = {"llm_model": "openai:gemma", "llm_base_url": llama_base_url, "llm_api_key": SecretStr("none"),
           "llm_timeout": 120.0, "llm_context_tokens": 600}
    model = build_chat_model(news_stack.settings.model_copy(update=llm), max_tokens=160)
    async with llm_bot(news_stack, fake, state, local_embeddings, chat_model=model, **llm) as app:
        thread_id = await mention(fake, CARLSBERG)
        messages = rf"/channels/{thread_id}/messages(/\d+)?"
        final = await fake.wait_for_request("*", messages, predicate=is_final, timeout=3 * T)
        answer = await app.engine.last_answer(str(thread_id))

    assert answer is not None
    assert_streamed(fake.requests_to("*", messages), final, answer)
    assert_clean(fake)
