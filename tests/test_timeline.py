"""Which questions ask for a timeline, what the timeline is about, and timelines written by a
language model (a fake one that writes from its prompt) checked line by line."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from ingest.chunking import Chunker
from retrieval.citations import audit, supporting_sentence
from retrieval.conversation import ConversationEngine
from retrieval.event_dates import event_date
from retrieval.evidence import SentenceScorer
from retrieval.extractive import REMOVED_NOTICE, ExtractiveAnswerer
from retrieval.llm import UNVERIFIED_NOTICE, LLMAnswerer
from retrieval.models import Passage
from retrieval.policy import AbstentionPolicy
from retrieval.settings import Settings
from retrieval.timeline import UNAVAILABLE_NOTICE, TimelineAnswerer, is_background, is_timeline_question, timeline_topic
from tests.conftest import SHARED
from tests.support.answer_support import FakeRetriever


@pytest.mark.parametrize(
    "question",
    [
        "How did the Glazer takeover of Manchester United unfold?",
        "Timeline of the government shutdown",
        "What has happened with the tariffs since March?",
        "What's the latest on Hurricane Melissa?",
        "How has the measles outbreak developed?",
        "Give me the chronology of the Yukos affair",
    ],
)
def test_questions_about_how_a_story_developed_ask_for_a_timeline(question: str) -> None:
    assert is_timeline_question(question)


@pytest.mark.parametrize(
    "question",
    [
        "How many people died in the measles outbreak?",
        "Who bought Yugansk?",
        "How did Tata Steel pay for Corus?",
        "What happened to the price of oil?",
        "What is the latest iPhone called?",
    ],
)
def test_ordinary_questions_do_not(question: str) -> None:
    assert not is_timeline_question(question)


def test_the_topic_is_the_question_without_the_asking() -> None:
    assert timeline_topic("How did the Glazer takeover of Manchester United unfold?") == "Glazer takeover of Manchester United"
    assert timeline_topic("What's the latest on Hurricane Melissa?") == "Hurricane Melissa"
    assert timeline_topic("Timeline of the government shutdown") == "government shutdown"


# --- timelines written by a language model, each line checked against the passage it cites ----

ARTICLES = SHARED / "usatoday-rtqa" / "articles"
ILLNESS = "How did Pope Francis's illness unfold?"
LINE = re.compile(r"^- (?P<last>As of )?(?P<label>[^:]+): (?P<text>.+)$")
INVENTED = "- 1 January 2020: Pope Francis resigned and moved to Argentina [1]."


def pope_passages() -> list[Passage]:
    """The first chunks of the real USA Today articles of February-March 2025 on the pope's
    illness, dated by their publish dates, as the retriever returns them."""
    found = []
    for month in ("2025-02", "2025-03"):
        for line in (ARTICLES / f"{month}.jsonl").read_text(encoding="utf-8").splitlines():
            article = json.loads(line)
            if "pope" in article["title"].lower():
                published = datetime.fromisoformat(article["published"]).replace(tzinfo=UTC)
                chunks = Chunker(chunk_tokens=180, overlap=30).chunk(article["source_id"], article["body"])[:2]
                found += [
                    Passage(chunk_id=f"{article['source_id']}#{c.index}", text=c.text, source_id=article["source_id"],
                            story_id=article["source_id"], title=article["title"], outlet=article["outlet"],
                            published_at=published, chunk_index=c.index, char_start=c.char_start, char_end=c.char_end)
                    for c in chunks
                ]
    return found


class TimelineWriter(GenericFakeChatModel):
    """A chat model that writes a timeline line from each event of its prompt (the first words of
    the event, its date and passage), then `extra` lines, and keeps what it was sent."""

    extra: list[str] = []
    received: list[list[BaseMessage]] = []

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        self.received.append(messages)
        events = re.findall(r'<event date="([^"]+)" passage="(\d+)"[^>]*>(.*?)</event>', str(messages[-1].content))
        lines = [f"- {day}: {' '.join(text.split()[:10]).rstrip(',;:.!?')} [{n}]." for day, n, text in events]
        reply = "\n".join([*reversed(lines), *self.extra])  # newest first: the answer must reorder
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


class DownModel(GenericFakeChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise ConnectionError("connection refused")


def timeline_answerer(settings: Settings, embeddings: Any, model: GenericFakeChatModel) -> TimelineAnswerer:
    llm = LLMAnswerer(settings.model_copy(update={"llm_model": "fake", "llm_timeout": 30.0}), model, embeddings)
    return TimelineAnswerer(llm.scorer, llm.policy, answerer=llm)


@pytest.fixture(scope="module")
def given() -> list[Passage]:
    if not ARTICLES.is_dir():
        pytest.skip("../shared/data/usatoday-rtqa is not here")
    return pope_passages()


async def test_the_models_timeline_keeps_only_lines_its_passages_support(
    settings: Settings, local_embeddings: Any, given: list[Passage]
) -> None:
    model = TimelineWriter(messages=iter([]), extra=[INVENTED, "- 14 February 2025: The pope was 188 years old [1]."])
    model.received = []
    answer = await timeline_answerer(settings, local_embeddings, model).answer(ILLNESS, given)

    (sent,) = model.received
    assert "<event " in str(sent[-1].content) and f"Question: {ILLNESS}" in str(sent[-1].content)
    assert answer.answerer == "timeline" and not answer.abstained
    assert answer.notice == REMOVED_NOTICE, "the reader is told lines were removed"
    assert "resigned" not in answer.text and "188" not in answer.text
    lines = [LINE.match(line) for line in answer.text.splitlines()]
    assert all(lines) and 3 <= len(lines) <= 10, answer.text
    assert [bool(m["last"]) for m in lines] == [False] * (len(lines) - 1) + [True]
    assert audit(answer) == []
    citations = {c.n: c for c in answer.citations}
    days = []
    for match in lines:
        cited = citations[int(re.findall(r"\[(\d+)\]", match["text"])[-1])]
        assert cited.passage.published_at is not None
        sentence = supporting_sentence(cited.passage.text, match["text"])
        when = event_date(sentence, cited.passage.published_at.date())
        assert when is not None and when.label() == match["label"], "the date is its cited sentence's"
        days.append(when.sort_key())
    assert days == sorted(days), "oldest first, whatever order the model wrote"
    assert any(m["label"] == "14 February 2025" for m in lines), "the day he went into hospital"


async def test_a_model_with_nothing_verifiable_gives_the_extractive_timeline_with_a_notice(
    settings: Settings, local_embeddings: Any, given: list[Passage]
) -> None:
    offline = await TimelineAnswerer(*_scorer_and_policy(settings, local_embeddings)).answer(ILLNESS, given)
    unchecked = GenericFakeChatModel(messages=iter([AIMessage(content=f"The pope was ill for weeks.\n{INVENTED}")]))
    answer = await timeline_answerer(settings, local_embeddings, unchecked).answer(ILLNESS, given)
    assert answer.text == offline.text and answer.notice == UNVERIFIED_NOTICE


async def test_a_model_that_is_down_gives_the_extractive_timeline_with_a_notice(
    settings: Settings, local_embeddings: Any, given: list[Passage]
) -> None:
    offline = await TimelineAnswerer(*_scorer_and_policy(settings, local_embeddings)).answer(ILLNESS, given)
    answer = await timeline_answerer(settings, local_embeddings, DownModel(messages=iter([]))).answer(ILLNESS, given)
    assert answer.text == offline.text and answer.notice == UNAVAILABLE_NOTICE


async def test_the_engine_asks_the_model_for_a_timeline_when_it_has_one(
    settings: Settings, local_embeddings: Any, given: list[Passage]
) -> None:
    model = TimelineWriter(messages=iter([]), extra=[])
    model.received = []
    config = settings.model_copy(update={"llm_model": "fake"})
    engine = ConversationEngine(config, FakeRetriever(given), LLMAnswerer(config, model, local_embeddings), local_embeddings)
    answer = await engine.ask("thread", ILLNESS)
    assert answer.answerer == "timeline" and len(model.received) == 1
    assert answer.notice == "" and audit(answer) == []


def _scorer_and_policy(settings: Settings, embeddings: Any) -> tuple[SentenceScorer, AbstentionPolicy]:
    extractive = ExtractiveAnswerer(settings, embeddings)
    return extractive.scorer, extractive.policy


# --- background is not an event of the story ------------------------------------------------

POPE_IN_HOSPITAL = date(2025, 2, 14)  # the first USA Today article on the pope's illness
MEASLES = date(2025, 2, 15)  # the first on the Texas measles outbreak
ERIN = date(2025, 8, 11)  # the first on Hurricane Erin


@pytest.mark.parametrize(
    ("sentence", "published", "began", "background"),
    [
        # Real sentences of USA Today articles of 2025, with their publish dates.
        ("Francis, who has been pontiff since 2013, has had influenza and other health problems several times over the past two years.", date(2025, 2, 18), POPE_IN_HOSPITAL, True),
        ("The pope has a history of respiratory problems, having part of his lung removed in 1957 due to infection.", date(2025, 2, 18), POPE_IN_HOSPITAL, True),
        ('"Still alive," he joked with reporters upon release from the hospital in 2023.', date(2025, 2, 14), POPE_IN_HOSPITAL, True),
        ("Pope Francis was admitted to a hospital in Rome on Friday for tests and bronchitis treatment.", date(2025, 2, 15), POPE_IN_HOSPITAL, False),
        ("The last major outbreak of measles in the U.S. occurred six years ago when 22 outbreaks led to 1,249 cases from Jan. 1 to Oct. 1.", date(2025, 2, 19), MEASLES, True),
        ("The outbreak began less than a month ago when several unvaccinated children in Gaines County, Texas, were identified as having measles.", date(2025, 2, 19), MEASLES, False),
        ("Erin's brief flirtation with Category 5 winds over the weekend made it the 11th Category 5 hurricane recorded in the Atlantic since 2016.", date(2025, 8, 18), ERIN, True),
        ("Erin formed on Aug. 11 from a tropical wave that moved across the Cabo Verde Islands.", date(2025, 8, 19), ERIN, False),
    ],
)
def test_a_sentence_dated_long_before_the_story_began_is_background(
    sentence: str, published: date, began: date, background: bool
) -> None:
    when = event_date(sentence, published)
    assert when is not None and when.stated
    assert is_background(when, began=began) is background, when
