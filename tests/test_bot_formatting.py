"""The bot's pure parts: answers rendered as Discord messages and split at 2,000 characters, the
per-user rate limit, the one place errors become sentences, and the state kept in SQLite."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cogs.conversation import thread_name
from bot.errors import UNAVAILABLE, friendly_message
from bot.formatting import (
    MAX_SOURCES,
    render_answer,
    sources_block,
    sources_detail,
    split_message,
)
from bot.ratelimit import RateLimiter
from bot.state import BotState
from ingest.errors import SourceError
from retrieval.errors import (
    EmptyIndexError,
    LLMUnavailableError,
    RetrievalError,
    StoreLockedError,
    StoreUnavailableError,
)
from retrieval.models import Answer, Citation, Passage


def passage(n: int, **fields: object) -> Passage:
    values: dict[str, object] = {
        "chunk_id": f"a{n}#0", "text": f"Passage {n} says something.", "source_id": f"a{n}", "story_id": f"a{n}",
        "title": f"Title {n}", "url": f"https://news.example/{n}", "outlet": "BBC News",
        "published_at": datetime(2017, 3, 2, 9, 0),
    }
    values.update(fields)
    return Passage(**values)  # type: ignore[arg-type]


def cited(n_sources: int, text: str = "Rates rose [1].") -> Answer:
    citations = [Citation(n=i, passage=passage(i)) for i in range(1, n_sources + 1)]
    return Answer(question="q", text=text, citations=citations)


# --- rendering ----------------------------------------------------------------------------------


def test_sources_are_markdown_links_in_angle_brackets_with_outlet_and_date() -> None:
    text = render_answer(cited(2, "Rates rose [1]. Prices fell [2]."))
    assert text == (
        "Rates rose [1]. Prices fell [2].\n\n**Sources**\n"
        "[1] [Title 1](<https://news.example/1>) - BBC News, 2 March 2017\n"
        "[2] [Title 2](<https://news.example/2>) - BBC News, 2 March 2017"
    )


def test_at_most_five_sources_are_listed_then_a_pointer_to_sources() -> None:
    block = sources_block(cited(8).citations)
    lines = block.splitlines()
    assert len(lines) == MAX_SOURCES + 1 == 6
    assert lines[-1] == "... and 3 more (`/sources`)"


def test_titles_cannot_break_the_link_and_pathless_sources_are_bold() -> None:
    tricky = Citation(n=1, passage=passage(1, title="Brackets [sic] and\nnewlines", url="https://x.example/a"))
    local = Citation(n=2, passage=passage(2, url="", outlet="", published_at=None, title="Local file"))
    block = sources_block([tricky, local])
    assert block.splitlines() == [
        "[1] [Brackets (sic) and newlines](<https://x.example/a>) - BBC News, 2 March 2017",
        "[2] **Local file**",
    ]


def test_an_abstention_lists_the_closest_articles_and_a_notice_is_shown_first() -> None:
    answer = Answer(
        question="q", text="The indexed articles don't cover this question.", abstained=True,
        closest=[passage(1), passage(2)], notice="The language model is unavailable right now.",
    )
    text = render_answer(answer)
    assert text.startswith("*The language model is unavailable right now.*\n\nThe indexed articles")
    assert "**Closest articles**\n[Title 1](<https://news.example/1>)" in text


def test_sources_detail_quotes_each_passage_briefly() -> None:
    answer = cited(1)
    answer.citations[0].quote = "word " * 200
    detail = sources_detail(answer)
    first, quote = detail.split("\n")
    assert first.startswith("[1] [Title 1](<https://news.example/1>)")
    assert quote.startswith("> word") and quote.endswith("…") and len(quote) <= 302
    assert sources_detail(Answer(question="q", text="x")) == "The last answer cited no passages."


# --- splitting ----------------------------------------------------------------------------------


def test_short_text_is_one_piece_and_empty_text_none() -> None:
    assert split_message("  Hello there.  ") == ["Hello there."]
    assert split_message(" \n ") == []


def test_paragraph_breaks_are_preferred() -> None:
    sentence = "A fairly long sentence in paragraph {} that goes on."
    text = "\n\n".join(" ".join([sentence.format(p)] * 8) for p in range(6))
    pieces = split_message(text, limit=1000)
    assert len(pieces) == 3 and all(len(p) <= 1000 for p in pieces)
    assert "\n\n".join(pieces) == text  # whole paragraphs, two per message


def test_a_long_paragraph_is_cut_after_a_sentence_keeping_its_closing_quote() -> None:
    text = 'He said "stop." Then he left. ' * 120
    pieces = split_message(text)
    assert len(pieces) == 2 and all(len(p) <= 2000 for p in pieces)
    assert pieces[0].endswith(('"stop."', "left.")) and " ".join(pieces).split() == text.split()


def test_line_breaks_survive_a_split() -> None:
    lines = [f"[{i}] [Title {i}](<https://news.example/{i}>)\n> " + " ".join(["quoted words"] * 12) for i in range(20)]
    text = "\n".join(lines)
    pieces = split_message(text)
    assert len(pieces) >= 2
    assert "\n".join(pieces) == text  # cut at line ends, nothing else touched


def test_a_word_longer_than_a_message_is_the_only_thing_ever_cut() -> None:
    pieces = split_message("start " + "x" * 4500 + " end")
    assert pieces == ["start", "x" * 2000, "x" * 2000, "x" * 500 + " end"]


def test_a_six_thousand_character_answer_becomes_several_valid_messages() -> None:
    sentences = [f"Finding {i} of the inquiry concerns the harbour board's records [{i % 3 + 1}]." for i in range(90)]
    text = "\n\n".join(" ".join(sentences[i : i + 6]) for i in range(0, 90, 6))
    rendered = render_answer(cited(3, text))
    assert len(rendered) > 6000
    pieces = split_message(rendered)
    assert len(pieces) == 4 and all(len(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == rendered.split()
    for piece in pieces[:-1]:
        assert re.search(r"\]\.$", piece)  # each ends with a whole cited sentence
    assert pieces[-1].endswith("2 March 2017")


words = st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=30)
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "! "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(words, separators), min_size=1, max_size=400), st.integers(min_value=40, max_value=400))
def test_pieces_fit_and_no_word_is_ever_cut(chunks: list[tuple[str, str]], limit: int) -> None:
    text = "".join(w + s for w, s in chunks)
    pieces = split_message(text, limit=limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert " ".join(pieces).split() == text.split()


# --- thread names, rate limit, errors, state --------------------------------------------------


def test_thread_names_fit_discord() -> None:
    assert thread_name("  What   happened\nto rail fares? ") == "What happened to rail fares?"
    long = thread_name("word " * 60)
    assert len(long) <= 100 and long.endswith("…") and not long.endswith(" …")
    assert thread_name("   ") == "question"


def test_the_rate_limit_is_per_user_over_a_sliding_minute() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.allow(1) and limiter.allow(1)
    assert not limiter.allow(1)
    assert limiter.allow(2)  # other users are not affected
    now[0] += 30
    assert not limiter.allow(1) and 25 <= limiter.retry_after(1) <= 31
    now[0] += 31
    assert limiter.allow(1)
    assert all(RateLimiter(0).allow(1) for _ in range(100))  # 0 = no limit


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (StoreUnavailableError("chroma at 10.0.0.5 down"), UNAVAILABLE),
        (EmptyIndexError("empty"), "Nothing is indexed yet: an admin can add articles with /reindex."),
        (StoreLockedError("locked"), "The index is being updated by another process; try again in a minute."),
        (LLMUnavailableError("timeout"), "The language model is unavailable right now; try again shortly."),
        (SourceError("https://feeds.example/rss", "not a feed"), "Could not read https://feeds.example/rss: not a feed."),
        (RetrievalError("bad"), "Something went wrong while searching the news; try again shortly."),
    ],
)
def test_known_errors_become_one_sentence(error: Exception, sentence: str) -> None:
    assert friendly_message(error) == sentence


def test_unknown_errors_are_logged_with_their_traceback_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise KeyError("internal detail")
    except KeyError as e:
        sentence = friendly_message(e)
    assert "internal detail" not in sentence and sentence.startswith("Something went wrong on my side")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_state_keeps_threads_and_votes(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    state = BotState(path)
    state.add_thread(11)
    state.save_rateable("abc", cited(2))
    assert state.record_feedback("abc", user_id=7, helpful=True)
    assert state.record_feedback("abc", user_id=7, helpful=False)  # replaces the first vote
    assert not state.record_feedback("unknown", user_id=7, helpful=True)
    state.close()

    state = BotState(path)  # after a restart
    assert state.is_our_thread(11) and not state.is_our_thread(22)
    [vote] = state.feedback()
    assert vote == {
        "answer_id": "abc", "user_id": 7, "helpful": False, "question": "q",
        "sources": [{"n": 1, "source_id": "a1", "title": "Title 1"}, {"n": 2, "source_id": "a2", "title": "Title 2"}],
    }
    state.close()


def old_state_file(path: Path, table: str, rows: list[tuple[object, ...]]) -> Path:
    """A bot state file as an older newsbot left it: one table (`table`, its CREATE statement)
    holding `rows`."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute(table)
    name = table.split()[2]
    for row in rows:
        db.execute(f"INSERT INTO {name} VALUES ({', '.join('?' * len(row))})", row)
    db.commit()
    db.close()
    return path


def test_state_file_from_before_rateable_answers_keeps_their_buttons_working(tmp_path: Path) -> None:
    path = old_state_file(
        tmp_path / "bot.sqlite",
        "CREATE TABLE answers (answer_id TEXT PRIMARY KEY, channel_id INTEGER NOT NULL, created REAL NOT NULL,"
        " question TEXT NOT NULL, answer_json TEXT NOT NULL)",
        [(f"abc:{channel}", channel, 1.0, "q", cited(1).model_dump_json()) for channel in (11, 22)],
    )

    state = BotState(path)
    assert state.record_feedback("abc", user_id=7, helpful=True)
    [vote] = state.feedback()
    assert vote["question"] == "q" and vote["sources"] == [{"n": 1, "source_id": "a1", "title": "Title 1"}]
    state.close()


def test_building_the_state_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    state = BotState(path)
    state.close()
    assert not path.exists()
    assert not state.is_our_thread(1) and path.exists()
    state.close()


def test_a_users_later_click_wins_whichever_is_recorded_last(tmp_path: Path) -> None:
    state = BotState(tmp_path / "bot.sqlite")
    state.save_rateable("abc", cited(1))
    assert state.record_feedback("abc", user_id=7, helpful=False, click_id=200)
    assert state.record_feedback("abc", user_id=7, helpful=True, click_id=100)  # an earlier click, recorded late
    assert [v["helpful"] for v in state.feedback()] == [False]
    assert state.record_feedback("abc", user_id=7, helpful=True, click_id=300)
    assert [v["helpful"] for v in state.feedback()] == [True]
    state.close()


def test_state_file_from_before_click_order_still_opens_and_records(tmp_path: Path) -> None:
    path = old_state_file(
        tmp_path / "bot.sqlite",
        "CREATE TABLE feedback (answer_id TEXT NOT NULL, user_id INTEGER NOT NULL, helpful INTEGER NOT NULL,"
        " question TEXT NOT NULL, sources TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (answer_id, user_id))",
        [("old", 7, 1, "q", "[]", 1.0)],
    )

    state = BotState(path)
    state.save_rateable("abc", cited(1))
    assert state.record_feedback("abc", user_id=7, helpful=False, click_id=5)
    assert {(v["answer_id"], v["helpful"]) for v in state.feedback()} == {("old", True), ("abc", False)}
    state.close()
