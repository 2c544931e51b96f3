"""`newsbot search`, `ask`, `chat` and `eval` as a user runs them, over a small dated corpus of
two outlets (real articles from `examples/articles`, with outlets, dates and links)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from retrieval.evaluation import METRICS
from tests.support.cli_store import ingest_records, run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "articles"

TIME_WARNER = "https://news.bbc.co.uk/2/hi/business/4253981.stm"
YUKOS = "https://news.bbc.co.uk/2/hi/business/4206755.stm"
SESSIONS = "https://www.npr.org/2017/03/01/518071256/sessions-russian-envoy"

# (file, outlet, published, url): two outlets, dates spread over weeks. Each file's first line
# that is not the NPR page's "Your NPR news source" is its title.
ARTICLES = [
    ("bbc/business/001.txt", "BBC News", "2005-02-10", TIME_WARNER),
    ("bbc/business/002.txt", "BBC News", "2005-01-28", "https://news.bbc.co.uk/2/hi/business/4218563.stm"),
    ("bbc/business/003.txt", "BBC News", "2005-01-20", YUKOS),
    ("bbc/tech/002.txt", "BBC News", "2005-01-12", "https://news.bbc.co.uk/2/hi/technology/4173937.stm"),
    ("bbc/sport/001.txt", "BBC News", "2005-02-14", "https://news.bbc.co.uk/sport1/hi/athletics/4259223.stm"),
    ("npr/sessions-russian-envoy.txt", "NPR", "2017-03-02", SESSIONS),
]

QUESTIONS = [
    {"id": "q-1", "type": "single", "question": "By how much did TimeWarner's quarterly profits rise?",
     "answer": "76%", "gold": [TIME_WARNER],
     "evidence": ["Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (£600m) for the "
                  "three months to December, from $639m year-earlier."]},
    {"id": "q-2", "type": "single", "question": "Which state-owned company bought Yukos's Yugansk unit?",
     "answer": "Rosneft", "gold": [YUKOS],
     "evidence": ["State-owned Rosneft bought the Yugansk unit for $9.3bn in a sale forced by Russia to "
                  "part settle a $27.5bn tax claim against Yukos."],
     "some_field_a_reader_ignores": True},
    {"id": "q-3", "type": "null", "question": "Who won the 2018 FIFA World Cup final?", "answer": "",
     "gold": [], "evidence": []},
    {"id": "q-4", "type": "followup", "question": "Who did he speak with twice?", "answer": "Russian ambassador",
     "gold": [SESSIONS], "evidence": [],
     "history": [{"question": "What did Jeff Sessions testify at his confirmation hearing?",
                  "answer": "That he had not met the Russians."}]},
]


def article_records() -> list[dict[str, str]]:
    """The JSON-lines records of `ARTICLES`."""
    records = []
    for name, outlet, published, url in ARTICLES:
        text = (EXAMPLES / name).read_text(encoding="utf-8").strip().removeprefix("Your NPR news source").strip()
        title, _, body = text.partition("\n")
        records.append({"title": title, "text": body, "outlet": outlet, "published": published, "url": url})
    return records


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A JSON-lines corpus of the articles above, ingested once into a store."""
    root = tmp_path_factory.mktemp("newsroom")
    store, report = ingest_records(root, article_records())
    assert report["added"] == len(ARTICLES)
    questions = root / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n", encoding="utf-8")
    return {"root": root, "corpus": root / "corpus", "store": store, "questions": questions}


def newsbot(newsroom: dict[str, Path], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run(*args, store=newsroom["store"], cwd=newsroom["root"], stdin=stdin)


def test_search_filters_by_outlet_and_dates_and_limits_the_count(newsroom: dict[str, Path]) -> None:
    found = newsbot(newsroom, "search", "profits and sales", "--outlet", "BBC News",
                    "--since", "2005-02-01", "--until", "2005-02-12", "--k", "2", "--json")
    assert found.returncode == 0, found.stderr
    passages = json.loads(found.stdout)
    assert 1 <= len(passages) <= 2
    assert {p["url"] for p in passages} == {TIME_WARNER}, "only the one BBC article of 1-12 February"
    assert passages[0]["published_at"].startswith("2005-02-10") and passages[0]["score"] > 0

    bad = newsbot(newsroom, "search", "profits", "--since", "last tuesday")
    assert bad.returncode == 2
    assert "--since" in bad.stderr and "last tuesday" in bad.stderr


def test_ask_answers_with_numbered_sources(newsroom: dict[str, Path]) -> None:
    asked = newsbot(newsroom, "ask", "By how much did TimeWarner's quarterly profits rise?", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert not answer["abstained"]
    assert "76%" in answer["answer"] and "[1]" in answer["answer"]
    first = answer["citations"][0]
    assert first["n"] == 1 and first["url"] == TIME_WARNER
    assert (first["title"], first["outlet"]) == ("Ad sales boost Time Warner profit", "BBC News")
    assert first["published_at"].startswith("2005-02-10")
    quoted = [part.strip() for part in first["quote"].split("\u2026")]
    assert quoted[0] and all(part in first["text"] for part in quoted), "the quote is the passage's own words"
    assert answer["as_of"] == "2005-02-10"

    shown = newsbot(newsroom, "ask", "By how much did TimeWarner's quarterly profits rise?")
    assert shown.returncode == 0, shown.stderr
    assert "Sources" in shown.stdout and "[1] Ad sales boost Time Warner profit (BBC News" in shown.stdout
    assert TIME_WARNER in shown.stdout


def test_ask_keeps_to_the_outlet_and_dates_asked_for(newsroom: dict[str, Path]) -> None:
    npr_only = json.loads(newsbot(newsroom, "ask", "What did Jeff Sessions say about the Russian ambassador?",
                                  "--outlet", "NPR", "--json").stdout)
    assert not npr_only["abstained"]
    assert {c["url"] for c in npr_only["citations"]} == {SESSIONS}

    before = json.loads(newsbot(newsroom, "ask", "By how much did TimeWarner's quarterly profits rise?",
                                "--until", "2005-01-31", "--json").stdout)
    cited = {c["url"] for c in before["citations"]} | {p["url"] for p in before["closest"]}
    assert TIME_WARNER not in cited, "the Time Warner article is from 10 February"
    assert "76%" not in before["answer"]


def test_chat_keeps_the_conversation_and_forgets_on_request(newsroom: dict[str, Path]) -> None:
    talk = newsbot(newsroom, "chat", stdin=(
        "What did Jeff Sessions testify at his confirmation hearing?\n"
        "Who did he speak with twice?\n"
        "/forget\n"
        "/quit\n"
    ))
    assert talk.returncode == 0, talk.stderr
    _, first, second, forgotten, _ = talk.stdout.split("you> ")  # one prompt a line read
    assert SESSIONS in first and "[1]" in first
    searched = second.partition("(searched for: ")[2].partition(")")[0]
    assert searched.startswith("Who did Jeff Sessions speak with twice?"), "the follow-up names who 'he' is"
    assert "Russian ambassador" in second and SESSIONS in second
    assert forgotten.strip() == "forgotten"


def test_a_question_about_a_period_after_the_newest_article_says_what_the_articles_cover(
    newsroom: dict[str, Path],
) -> None:
    # The clock says 2026 or later; the newest article is from 2 March 2017.
    asked = newsbot(newsroom, "ask", "What happened to Yukos last week?", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["abstained"] and not answer["citations"]
    assert "the articles I have run from 12 Jan 2005 to 2 Mar 2017" in answer["answer"]
    assert YUKOS in {p["url"] for p in answer["closest"]}, "the closest articles are listed"

    shown = newsbot(newsroom, "ask", "What happened to Yukos last week?")
    assert "from 12 Jan 2005 to 2 Mar 2017" in shown.stdout and YUKOS in shown.stdout


def test_eval_resolves_last_week_against_each_questions_date(newsroom: dict[str, Path]) -> None:
    dated = newsroom["root"] / "dated.jsonl"
    question = "By how much did TimeWarner's quarterly profits rise last week?"
    items = [  # 7-13 February 2005 holds the Time Warner article (10 February); late 2026 holds nothing
        {"id": "then", "type": "single", "question": question, "answer": "76%", "gold": [TIME_WARNER],
         "question_date": "2005-02-16"},
        {"id": "now", "type": "single", "question": question, "answer": "76%", "gold": [TIME_WARNER],
         "question_date": "2026-12-02"},
    ]
    dated.write_text("\n".join(json.dumps(item) for item in items) + "\n", encoding="utf-8")
    out = newsroom["root"] / "eval-dated.json"
    done = newsbot(newsroom, "eval", "--store", str(newsroom["store"]), "--questions", str(dated), "--json", str(out))
    assert done.returncode == 0, done.stderr
    results = {item["id"]: item for item in report(out)["items"]}
    assert results["then"]["rank"] == 1 and not results["then"]["abstained"]
    assert "76%" in results["then"]["answer"]
    assert results["now"]["abstained"] and "from 12 Jan 2005 to 2 Mar 2017" in results["now"]["answer"]


def report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_eval_ingests_the_corpus_and_scores_every_question(newsroom: dict[str, Path]) -> None:
    out = newsroom["root"] / "eval-hybrid.json"
    done = run("eval", "--corpus", str(newsroom["corpus"]), "--questions", str(newsroom["questions"]),
               "--json", str(out), store=newsroom["root"] / "unused", cwd=newsroom["root"])
    assert done.returncode == 0, done.stderr
    assert "hits@1" in done.stdout and "null_abstention" in done.stdout
    result = report(out)
    assert result["n"] == len(QUESTIONS) and result["retriever"] == "hybrid"
    assert set(METRICS) <= set(result)
    assert set(result["by_type"]) == {"single", "null", "followup"}
    single = result["by_type"]["single"]
    assert single["hits@1"] == 1.0 and single["mrr@10"] == 1.0
    assert single["evidence_recall@10"] == 1.0 and single["answer_match"] == 1.0
    assert result["null_abstention"] == 1.0 and result["false_abstention"] == 0.0
    assert result["by_type"]["followup"]["hits@1"] == 1.0, "the follow-up is rewritten from its history"
    assert result["citation_precision"] > 0.5
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"]
    items = {item["id"]: item for item in result["items"]}
    assert items["q-3"]["abstained"] and items["q-3"]["cited"] == 0
    assert "Sessions" in items["q-4"]["standalone"]


def test_eval_on_a_store_with_each_retriever(newsroom: dict[str, Path]) -> None:
    for retriever in ("bm25", "dense"):
        out = newsroom["root"] / f"eval-{retriever}.json"
        done = newsbot(newsroom, "eval", "--store", str(newsroom["store"]), "--questions", str(newsroom["questions"]),
                       "--retriever", retriever, "--k", "5", "--json", str(out))
        assert done.returncode == 0, done.stderr
        result = report(out)
        assert result["retriever"] == retriever
        assert result["by_type"]["single"]["hits@1"] == 1.0


def test_eval_refuses_bad_input_naming_it(newsroom: dict[str, Path]) -> None:
    broken = newsroom["root"] / "broken.jsonl"
    broken.write_text(json.dumps(QUESTIONS[0]) + "\n" + json.dumps({"id": "x", "type": "single"}) + "\n")
    bad_file = newsbot(newsroom, "eval", "--questions", str(broken))
    assert bad_file.returncode == 2
    assert "broken.jsonl:2" in bad_file.stderr and "question: Field required" in bad_file.stderr

    bad_retriever = newsbot(newsroom, "eval", "--questions", str(newsroom["questions"]), "--retriever", "fuzzy")
    assert bad_retriever.returncode == 2 and "fuzzy" in bad_retriever.stderr

    nowhere = newsbot(newsroom, "eval", "--questions", str(newsroom["questions"]))
    assert nowhere.returncode == 2 and "--corpus" in nowhere.stderr and "--store" in nowhere.stderr
