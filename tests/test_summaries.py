"""Briefing story summaries by a (fake) chat model: verified against the story's articles before
they are shown, the lead sentence when nothing survives or the model fails."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from bot.formatting import render_briefing
from retrieval.briefing import Briefing, Story, brief
from retrieval.models import Passage
from retrieval.settings import Settings
from retrieval.summaries import StorySummariser
from tests.support.bot_fixtures import NewsStack

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def article(n: int, text: str) -> Passage:
    return Passage(
        chunk_id=f"a{n}#0", text=text, source_id=f"a{n}", story_id="s", title=f"Article {n}",
        url=f"https://news.example/{n}", outlet="Gazette", published_at=datetime(2025, 3, n, tzinfo=UTC),
    )


FESTIVAL = article(1, "The Quillbury folk festival has been called off after floods. Refunds follow within 14 days.")
ROADS = article(2, "Floods closed every road into Quillbury for a third day. The army brought water.")
STORY = Story(articles=[FESTIVAL, ROADS], lead="The Quillbury folk festival has been called off after floods.")
BRIEFING = Briefing(since=datetime(2025, 3, 1, tzinfo=UTC), until=datetime(2025, 3, 2, tzinfo=UTC), stories=[STORY], articles=2)


def model(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


class DeadModel(GenericFakeChatModel):
    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the model server is down")


async def test_a_summary_keeps_only_sentences_its_cited_articles_support_and_cites_them_as_the_briefing_does() -> None:
    reply = (
        "Floods cut off Quillbury for a third day [2]. "
        'The mayor said "the festival will move to June" [1]. '  # not in article 1: dropped
        "Organisers called off the folk festival [1]."
    )
    summarised = await StorySummariser(SETTINGS, model(reply)).summarise(BRIEFING)
    shown = render_briefing(summarised)

    assert summarised.stories[0].summary == "Floods cut off Quillbury for a third day [2]. Organisers called off the folk festival [1]."
    assert "**1.** Floods cut off Quillbury for a third day [2]. Organisers called off the folk festival [1]." in shown
    assert "June" not in shown
    assert "[1] [Article 1](<https://news.example/1>)" in shown and "[2] [Article 2](<https://news.example/2>)" in shown


async def test_the_lead_sentence_stands_when_no_sentence_is_supported_or_the_model_fails() -> None:
    unsupported = await StorySummariser(SETTINGS, model("Quillbury is lovely in spring [7].")).summarise(BRIEFING)
    failed = await StorySummariser(SETTINGS, DeadModel(messages=iter([]))).summarise(BRIEFING)

    for briefing in (unsupported, failed):
        assert briefing.stories[0].summary == ""
        assert "**1.** The Quillbury folk festival has been called off after floods. [1][2]" in render_briefing(briefing)


async def test_brief_summarises_every_story_when_given_a_summariser(news_stack: NewsStack) -> None:
    replies = itertools.cycle([AIMessage(content="The story as its first article tells it [1].")])
    summariser = StorySummariser(SETTINGS, GenericFakeChatModel(messages=replies))
    plain = await brief(news_stack.engine.retriever, since=date(2005, 3, 1))
    summarised = await brief(news_stack.engine.retriever, since=date(2005, 3, 1), summariser=summariser)

    assert [s.articles for s in summarised.stories] == [s.articles for s in plain.stories]
    assert plain.stories and all(s.summary == "" for s in plain.stories)
    assert all(s.summary == "The story as its first article tells it [1]." for s in summarised.stories)
    assert render_briefing(summarised).count("The story as its first article tells it [") == len(summarised.stories)
