"""The conversation engine: follow-ups, filters, history bounded by tokens and kept in SQLite,
the extractive fallback when the language model is down, and a non-blocking event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.outputs import ChatGenerationChunk

from retrieval.citations import audit
from retrieval.conversation import LLM_UNAVAILABLE_NOTICE, ConversationEngine, merge_filters
from retrieval.history import InMemoryHistory, SQLiteHistory, Turn
from retrieval.followups import is_followup, rewrite_offline
from retrieval.errors import EmptyIndexError
from retrieval.extractive import ExtractiveAnswerer
from retrieval.llm import LLMAnswerer
from retrieval.models import Answer, Passage, SearchFilters
from retrieval.query import Coverage
from retrieval.settings import Settings
from retrieval.text import entities, terms
from retrieval.tokens import get_encoding
from tests.support.answer_support import CARLSBERG_Q, FakeRetriever, bbc_passages

BBC = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc"
TODAY = date(2005, 3, 16)

# politics/365: Gordon Brown's civil service cuts; business/173: Carlsberg; business/063: US
# retail sales; tech/145: Pew survey of musicians; sport/167: Arjen Robben.
ARTICLES = ("politics/365", "business/173", "business/063", "tech/145", "sport/167")


@pytest.fixture(scope="module")
def corpus() -> list[Passage]:
    return [p for sid in ARTICLES for p in bbc_passages(sid)]


@pytest.fixture
def retriever(corpus: list[Passage]) -> FakeRetriever:
    return FakeRetriever(corpus)


def engine(settings: Settings, retriever: Any, embeddings: Any, **kwargs: Any) -> ConversationEngine:
    answerer = kwargs.pop("answerer", None) or ExtractiveAnswerer(settings, embeddings)
    return ConversationEngine(settings, retriever, answerer, embeddings, today=lambda: TODAY, **kwargs)


def test_warm_up_loads_the_reader_before_the_first_question(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    eng = engine(settings, retriever, local_embeddings)
    analyser = eng.fallback.reader.analyser
    assert analyser._nlp is None  # loaded on first use unless warmed up
    eng.warm_up()
    assert analyser._nlp is not None
    assert analyser.analyse(["Roger Federer won the Australian Open in Melbourne."])[1] == 1


# --- follow-ups, offline ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "what did he say about it?",
        "and the other one?",
        "why?",
        "What about Heineken?",
        "Will he have to give up his American citizenship to do the job?",
        "Which constituency does he want to carry on representing?",
        "And who took Steve Borthwick's place in the second row for that game?",
    ],
)
def test_follow_ups_are_recognised(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        "Which former Conservative leader says he has given up on becoming prime minister?",
        "How many jobs is Danish brewer Carlsberg planning to cut in Sweden?",
        "What did Gordon Brown say about civil service jobs in his Budget?",
    ],
)
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not is_followup(question)
    history = [Turn(question="What did Arjen Robben say about Chelsea?")]
    assert rewrite_offline(question, history) == question


def test_offline_rewrite_replaces_an_unambiguous_pronoun_and_carries_the_topic() -> None:
    history = [Turn(question="How many civil service jobs has Gordon Brown cut?", answer="12,500 jobs had gone [1].")]
    rewritten = rewrite_offline("what did he say about it?", history)
    assert rewritten.startswith("what did Gordon Brown say about it?")
    assert "civil" in rewritten and "service" in rewritten


def test_offline_rewrite_carries_names_from_the_previous_answer() -> None:
    history = [
        Turn(
            question="Which former Conservative leader says he has given up on becoming prime minister?",
            answer="Former Tory leader William Hague has ruled out a return to the party leadership [1].",
        )
    ]
    rewritten = rewrite_offline("Which constituency does he want to carry on representing?", history)
    assert "William Hague" in rewritten and "Conservative" in rewritten


def test_he_after_an_answer_that_led_with_a_sentence_is_the_short_answer_not_the_asker() -> None:
    # The lead sentence names the question's subject first; the turn's short answer is who was asked for.
    answer = "Tony Blair appointed Alan Milburn as election chief. Mr Blair named him in September, the party said."
    turn = Turn(question="Who did Tony Blair appoint as election chief?", answer=answer, short_answer="Alan Milburn")
    assert rewrite_offline("What job did he hold before?", [turn]).startswith("What job did Alan Milburn hold before?")


def test_offline_rewrite_of_a_bare_why_takes_the_previous_question() -> None:
    history = [Turn(question="Why did US retail sales fall in January?", answer="...")]
    assert rewrite_offline("why?", history) == "why? Why did US retail sales fall in January?"


def test_entities_are_capitalised_phrases_and_numbers() -> None:
    found = entities("What did Gordon Brown tell the Department for International Development about the £50m in 2005?")
    assert found == ["Gordon Brown", "Department for International Development", "£50m", "2005"]


# --- the engine ---------------------------------------------------------------------------------


async def test_a_follow_up_about_a_named_person_retrieves_passages_about_them(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    bot = engine(settings, retriever, local_embeddings)
    first = await bot.ask("thread-1", "How many civil service jobs has Gordon Brown cut?")
    assert not first.abstained
    follow = await bot.ask("thread-1", "what did he say about it?")
    query, _ = retriever.calls[-1]
    assert "Gordon Brown" in query
    assert follow.standalone_question == query and follow.question == "what did he say about it?"
    assert not follow.abstained
    assert {c.passage.source_id for c in follow.citations} == {"politics/365"}
    assert audit(follow) == []


async def test_conversations_are_kept_apart(settings: Settings, retriever: FakeRetriever, local_embeddings: Any) -> None:
    bot = engine(settings, retriever, local_embeddings)
    await bot.ask("dm-alice", "How many civil service jobs has Gordon Brown cut?")
    await bot.ask("dm-bob", "what did he say about it?")
    assert "Gordon Brown" not in retriever.calls[-1][0]


async def test_history_is_bounded_by_tokens_oldest_first(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    small = settings.model_copy(update={"history_tokens": 150})
    bot = engine(small, retriever, local_embeddings)
    questions = [
        "How many civil service jobs has Gordon Brown cut?",
        "How many jobs is Carlsberg planning to cut in Sweden?",
        "Why did US retail sales fall in January?",
        "What do musicians think of the lawsuits against song swappers?",
        "What chance did Arjen Robben give himself of playing against Barcelona?",
    ]
    for q in questions:
        await bot.ask("thread", q)
    turns = bot.history.turns("thread")
    encoding = get_encoding(small.tokenizer_encoding)
    counted = sum(len(encoding.encode_ordinary(t.question + t.standalone + t.answer)) for t in turns)
    assert sum(t.tokens for t in turns) <= 150 and counted <= 150 + 5
    assert 1 <= len(turns) < len(questions)
    assert [t.question for t in turns] == questions[len(questions) - len(turns):]  # the newest kept


async def test_one_turn_larger_than_the_budget_is_cut_to_fit(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    tiny = settings.model_copy(update={"history_tokens": 30})
    bot = engine(tiny, retriever, local_embeddings)
    await bot.ask("t", "Why did US retail sales fall in January, and by how much?")
    (turn,) = bot.history.turns("t")
    assert turn.tokens <= 30 and turn.question.startswith("Why did US retail")
    assert (await bot.last_answer("t")).citations  # /sources still has the whole answer


async def test_sqlite_history_survives_a_new_engine(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any, tmp_path: Path
) -> None:
    path = tmp_path / "history.sqlite"
    first = engine(settings, retriever, local_embeddings, history=SQLiteHistory(path, settings.history_tokens))
    answer = await first.ask("guild-1/thread-9", "How many civil service jobs has Gordon Brown cut?")
    del first

    restarted = engine(settings, retriever, local_embeddings, history=SQLiteHistory(path, settings.history_tokens))
    last = await restarted.last_answer("guild-1/thread-9")
    assert last == answer
    await restarted.ask("guild-1/thread-9", "what did he say about it?")
    assert "Gordon Brown" in retriever.calls[-1][0]

    await restarted.forget("guild-1/thread-9")
    assert await restarted.last_answer("guild-1/thread-9") is None
    assert SQLiteHistory(path).turns("guild-1/thread-9") == []


def test_sqlite_history_is_bounded_like_memory(tmp_path: Path) -> None:
    answer = Answer(question="q", text="a")
    for store in (SQLiteHistory(tmp_path / "h.sqlite", max_tokens=100), InMemoryHistory(max_tokens=100)):
        for i in range(10):
            store.add("c", Turn(question=f"q{i}", tokens=30), answer)
        assert [t.question for t in store.turns("c")] == ["q7", "q8", "q9"]
        assert store.turns("other") == [] and store.last_answer("other") is None


async def test_filters_in_the_question_reach_the_retriever_and_merge_with_explicit_ones(
    settings: Settings, corpus: list[Passage], local_embeddings: Any
) -> None:
    retriever = FakeRetriever(corpus + bbc_passages("business/173", outlet="NPR"))
    bot = engine(settings, retriever, local_embeddings)
    answer = await bot.ask("t", "What did NPR report about Carlsberg jobs last week?")
    query, filters = retriever.calls[-1]
    assert "NPR" not in query and "Carlsberg jobs last week" in query  # time phrases stay searched
    assert filters == SearchFilters(outlets=["NPR"], since=date(2005, 3, 7), until=date(2005, 3, 13))
    assert answer.filters == filters

    explicit = SearchFilters(outlets=["BBC News"])
    await bot.ask("t2", "What did NPR report about Carlsberg jobs last week?", filters=explicit)
    assert retriever.calls[-1][1] == SearchFilters(outlets=["BBC News"], since=date(2005, 3, 7), until=date(2005, 3, 13))
    assert merge_filters(None, explicit) == explicit


async def test_the_chat_model_condenses_follow_ups_when_configured(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    condenser = GenericFakeChatModel(messages=iter(["What did Gordon Brown say about civil service job cuts?"]))
    bot = engine(settings, retriever, local_embeddings, chat_model=condenser)
    await bot.ask("t", "How many civil service jobs has Gordon Brown cut?")  # not a follow-up: no call
    await bot.ask("t", "what did he say about it?")
    assert retriever.calls[-1][0] == "What did Gordon Brown say about civil service job cuts?"


class DownChatModel(GenericFakeChatModel):
    """A chat model whose server is down."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("connection refused")

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        raise ConnectionError("connection refused")
        yield  # pragma: no cover

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise ConnectionError("connection refused")


async def test_a_down_language_model_gives_the_extractive_answer_with_a_notice(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    down = DownChatModel(messages=iter([]))
    llm_settings = settings.model_copy(update={"llm_model": "openai:down"})
    answerer = LLMAnswerer(llm_settings, down, local_embeddings)
    bot = engine(llm_settings, retriever, local_embeddings, answerer=answerer, chat_model=down)
    answer = await bot.ask("t", "How many jobs is Carlsberg planning to cut in Sweden?")
    assert answer.notice == LLM_UNAVAILABLE_NOTICE
    assert "200 jobs in Sweden" in answer.text and audit(answer) == []
    # the condense step fails too, and the follow-up is rewritten offline instead
    await bot.ask("t", "What about Heineken?")
    assert "Carlsberg" in retriever.calls[-1][0]


async def test_retrieval_errors_propagate(settings: Settings, corpus: list[Passage], local_embeddings: Any) -> None:
    bot = engine(settings, FakeRetriever(corpus, error=EmptyIndexError("nothing is indexed")), local_embeddings)
    with pytest.raises(EmptyIndexError):
        await bot.ask("t", "Anything?")
    assert bot.history.turns("t") == []


class LoopGatedRetriever(FakeRetriever):
    """Searches only once the event loop has run after the search began. A search called on the
    loop's own thread blocks the loop, so it waits in vain and fails after `timeout` seconds."""

    def __init__(self, passages: list[Passage], *, timeout: float = 30.0) -> None:
        super().__init__(passages)
        self.timeout = timeout
        self.searching = threading.Event()
        self.loop_ran = threading.Event()

    def search(self, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]:
        self.searching.set()
        if not self.loop_ran.wait(self.timeout):
            raise AssertionError(f"the event loop did not run for {self.timeout:g}s while a search ran")
        return super().search(query, k=k, filters=filters)


async def test_asking_never_blocks_the_event_loop(
    settings: Settings, corpus: list[Passage], local_embeddings: Any
) -> None:
    """The search (blocking, like Chroma) runs off the loop. How long the loop stalls during a
    whole answer is measured by bench/event_loop.py."""
    retriever = LoopGatedRetriever(corpus)
    bot = engine(settings, retriever, local_embeddings)

    async def run_while_searching() -> None:
        await asyncio.to_thread(retriever.searching.wait, retriever.timeout)
        retriever.loop_ran.set()

    watcher = asyncio.create_task(run_while_searching())
    answer = await bot.ask("t", CARLSBERG_Q)
    await watcher
    assert retriever.calls and retriever.loop_ran.is_set()
    assert not answer.abstained and answer.citations


async def test_an_empty_question_gets_a_prompt_not_an_error(
    settings: Settings, retriever: FakeRetriever, local_embeddings: Any
) -> None:
    answer = await engine(settings, retriever, local_embeddings).ask("t", "   ")
    assert answer.abstained and not retriever.calls


# --- over a real store ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory, local_embeddings: Any) -> Any:
    from bot.app import build_app

    folder = tmp_path_factory.mktemp("articles")
    # Gordon Brown and other politicians, plus unrelated business, sport and tech stories.
    for sid in ("politics/365", "politics/001", "politics/017", "politics/143", "business/173",
                "business/063", "tech/145", "sport/167", "entertainment/175", "politics/031"):
        target = folder / f"{sid}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((BBC / f"{sid}.txt").read_bytes())
    settings = Settings(store_dir=tmp_path_factory.mktemp("store"), _env_file=None)  # type: ignore[call-arg]
    app = build_app(settings, embeddings=local_embeddings, today=lambda: TODAY).open()
    report = app.indexer.ingest([str(folder)])
    assert not report.failed
    yield app
    app.close()


async def test_follow_up_over_a_real_store(real_store: Any, local_embeddings: Any) -> None:
    settings, retriever, bot = real_store.settings, real_store.retriever, real_store.engine
    first = await bot.ask("thread", "How many civil service jobs has Gordon Brown cut?")
    assert not first.abstained and audit(first) == []
    follow = await bot.ask("thread", "what did he say about it?")
    assert "Gordon Brown" in follow.standalone_question
    passages = await retriever.asearch(follow.standalone_question, k=settings.retrieval_k)
    assert "Brown" in passages[0].text
    assert not follow.abstained and audit(follow) == []
    assert all("Brown" in c.passage.text for c in follow.citations)

    off_topic = await bot.ask("thread", "Who was elected Pope by the cardinals after John Paul II died?")
    assert off_topic.abstained and off_topic.closest
    assert retriever.coverage() == Coverage(), "BBC articles have no dates: no period applies"


# --- follow-ups as good as first questions ------------------------------------------------------


def test_a_pronoun_becomes_the_name_the_previous_answer_gave_without_its_other_words() -> None:
    history = [Turn(question="Who has Israel picked to be the new governor of its central bank?",
                    answer="Stanley Fischer, vice chairman of Citigroup and a former IMF official")]
    rewritten = rewrite_offline("Will he have to give up his American citizenship to do the job?", history)
    assert rewritten.startswith("Will Stanley Fischer have to give up Stanley Fischer's American citizenship")
    assert "Israel" in rewritten, "the previous question's names are carried"
    assert "Citigroup" not in rewritten and "IMF" not in rewritten, "no stray words of the previous answer"


def test_it_becomes_the_thing_the_previous_answer_named() -> None:
    history = [Turn(question="Which Ian Fleming novel has been chosen as the next James Bond film?",
                    answer="Casino Royale")]
    assert rewrite_offline("And who is going to direct it?", history).startswith("And who is going to direct Casino Royale?")


def test_a_demonstrative_becomes_the_phrase_of_the_previous_question() -> None:
    history = [Turn(question="What did the Conference Board's latest survey show about American consumer confidence?",
                    answer="It rose for the first time since July")]
    rewritten = rewrite_offline("How many households does that survey poll?", history)
    assert rewritten.startswith("How many households does the Conference Board's latest survey poll?")


@pytest.mark.parametrize(
    "question",
    [
        "Which Muslim woman candidate was he visiting when he made that pitch?",
        "How many households does that survey poll?",
        "What did they do with those bombs?",
    ],
)
def test_follow_ups_naming_no_one_first_are_recognised(question: str) -> None:
    assert is_followup(question)


def test_a_time_word_after_that_is_not_a_reference() -> None:
    assert not is_followup("How many homes did Britons buy that year, according to the Halifax?")


def test_two_people_by_pronoun_are_left_alone() -> None:
    history = [Turn(question="Which Labour MP found out he had fathered a daughter in the 1960s?",
                    answer="Stephen Pound, MP for Ealing North")]
    rewritten = rewrite_offline("How did she manage to trace him?", history)
    assert rewritten.startswith("How did she manage to trace him?")


class PoliticsFirst(FakeRetriever):
    """A retriever that ranks the civil service cuts (politics/365) above everything it finds."""

    def search(self, query: str, *, k: int = 10, filters: SearchFilters | None = None) -> list[Passage]:
        found = super().search(query, k=k, filters=filters)
        return sorted(found, key=lambda p: p.source_id != "politics/365")


async def test_a_follow_up_keeps_the_previous_answers_article_first(
    settings: Settings, corpus: list[Passage], local_embeddings: Any
) -> None:
    retriever = PoliticsFirst(corpus)
    bot = engine(settings, retriever, local_embeddings)
    history = [Turn(question="How many jobs is Danish brewer Carlsberg planning to cut in Sweden?",
                    answer="Carlsberg is to cut 900 jobs [1].", sources=["business/173"])]
    follow = await bot.retrieve("And how many jobs will it cut in total?", history)
    assert retriever.search(follow.standalone)[0].source_id == "politics/365"
    assert follow.passages[0].source_id == "business/173", "the previous answer's article comes first"

    # A follow-up naming someone the previous article does not mention keeps the retriever's order.
    other = await bot.retrieve("What about Gordon Brown?", history)
    assert other.passages[0].source_id == "politics/365"

    # The engine records the articles each answer cites, for the next follow-up.
    answer = await bot.ask("t", "How many jobs is Danish brewer Carlsberg planning to cut in Sweden?")
    [turn] = await asyncio.to_thread(bot.history.turns, "t")
    assert answer.citations and turn.sources == list(dict.fromkeys(c.passage.source_id for c in answer.citations))


# --- dated corpora ------------------------------------------------------------------------------


class DatedRetriever(FakeRetriever):
    """A FakeRetriever over articles published from 2 June to 21 November 2022."""

    def coverage(self) -> Coverage:
        return Coverage(oldest=date(2022, 6, 2), newest=date(2022, 11, 21))


async def test_a_period_after_the_newest_article_is_answered_with_what_the_articles_cover(
    settings: Settings, corpus: list[Passage], local_embeddings: Any
) -> None:
    retriever = DatedRetriever(corpus)
    bot = engine(settings, retriever, local_embeddings)
    answer = await bot.ask("t", "How many jobs did Carlsberg cut last week?", today=date(2026, 12, 2))
    assert answer.abstained and not answer.citations
    assert answer.text == (
        "I have no articles from 23 to 29 Nov 2026: the articles I have run from 2 Jun to 21 Nov 2022."
    )
    assert "business/173" in {p.source_id for p in answer.closest}, "the closest articles are listed"

    # Asked in the week after the corpus was collected, "last week" is inside it: it filters.
    await bot.ask("t2", "How many jobs did Carlsberg cut last week?", today=date(2022, 11, 23))
    assert retriever.calls[-1][1] == SearchFilters(since=date(2022, 11, 14), until=date(2022, 11, 20))
