"""The eval metrics on hand-made results: what each number in the README's tables counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrieval.evaluation import (
    ItemResult,
    answer_matches,
    by_null_kind,
    evidence_found,
    first_hit,
    load_questions,
    summarise,
)
from retrieval.models import Passage


def passage(source_id: str, text: str = "text") -> Passage:
    return Passage(chunk_id=f"{source_id}:0", text=text, source_id=source_id, story_id=source_id)


def result(id: str, type: str = "single", **fields: Any) -> ItemResult:
    values: dict[str, Any] = dict(
        rank=None, evidence_total=0, evidence_found=0, abstained=False, answer_match=None, cited=0,
        cited_gold=0, latency_ms=100.0, evidence_score=0.5, standalone="q", answer="a",
    )
    return ItemResult(id=id, type=type, **{**values, **fields})


def test_rank_is_the_first_passage_of_any_gold_copy() -> None:
    found = [passage("cnn/a"), passage("bbc/b"), passage("bbc/c")]
    assert first_hit(found, ["bbc/c", "bbc/b"]) == 2
    assert first_hit(found, ["bbc/z"]) is None


def test_evidence_counts_sentences_found_whatever_the_line_breaks() -> None:
    found = [passage("a", "The dollar rose.\nIt hit\n  a three-month high against the euro.")]
    assert evidence_found(["It hit a three-month high against the euro.", "Shares fell."], found) == 1


@pytest.mark.parametrize(
    ("gold", "answer", "matches"),
    [
        ("76%", "Profits jumped 76% to $1.13bn [1].", True),
        ("“Squid Game”", 'Netflix renewed "Squid Game" for a second season [1].', True),
        ("Rosneft; Gazprom", "Rosneft bought the unit [1].", False),  # every part of a compound answer
        ("Rosneft and Gazprom", "Rosneft and later Gazprom [1][2].", True),
        ("1.13bn", "It made $1.13bn.", True),
        ("13", "It rose 2013 [1].", False),
        ("Ford", "Stanford researchers said [1].", False),
        ("1.1", "It made $1.13bn.", False),
        ("Europe", "The European Union now requires one charger [1].", True),
        ("Witch", "Favourites like witches and dinosaurs [1].", True),
        ("", "anything", False),
    ],
)
def test_answer_match_is_the_normalised_gold_answer_inside_the_answer(gold: str, answer: str, matches: bool) -> None:
    assert answer_matches(gold, answer) is matches


def test_summary_counts_answerable_and_null_questions_apart() -> None:
    results = [
        result("a", rank=1, evidence_total=2, evidence_found=2, answer_match=True, cited=2, cited_gold=2),
        result("b", rank=3, evidence_total=1, evidence_found=0, answer_match=False, cited=1, cited_gold=0),
        result("c", rank=None, evidence_total=1, abstained=True, answer_match=False, latency_ms=300.0),
        result("d", rank=12, answer_match=False, cited=1, cited_gold=1),  # found below the top 10
        result("n1", type="null", abstained=True, latency_ms=50.0),
        result("n2", type="null", abstained=False, cited=1),
    ]
    summary = summarise(results, answerable_ids={"a", "b", "c", "d"})
    assert summary["n"] == 6
    assert (summary["hits@1"], summary["hits@5"], summary["hits@10"]) == (0.25, 0.5, 0.5)
    assert summary["mrr@10"] == round((1 + 1 / 3) / 4, 4)
    assert summary["evidence_recall@10"] == 0.5  # 2 of the 4 evidence sentences
    assert summary["answer_match"] == 0.25
    assert summary["false_abstention"] == 0.25 and summary["null_abstention"] == 0.5
    assert summary["citation_precision"] == 0.75  # the null question's citation does not count
    assert summary["latency_p50_ms"] == 100.0 and summary["latency_p95_ms"] == 300.0


def test_a_set_without_null_questions_reports_no_null_abstention() -> None:
    summary = summarise([result("a", rank=1)], answerable_ids={"a"})
    assert summary["null_abstention"] is None and summary["false_abstention"] == 0.0


def test_a_question_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    good = '{"id": "q1", "question": "Who won?"}\n'
    path.write_bytes(good.encode() + '{"id": "q2", "question": "Café owners?"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"questions\.jsonl:2: not UTF-8 \(byte 0xe9\)"):
        load_questions(path)


def test_the_short_answer_is_scored_apart_from_the_whole_answer_and_nulls_by_kind() -> None:
    results = [
        result("a", answer_match=True, short_answer="76%", short_answer_match=True),
        result("b", answer_match=True, short_answer="", short_answer_match=False),
        result("c", answer_match=False, short_answer="Gazprom", short_answer_match=False),
        result("n1", "null", null_kind="near_miss", abstained=False),
        result("n2", "null", null_kind="near_miss", abstained=True),
        result("n3", "null", null_kind="absent", abstained=True),
    ]
    summary = summarise(results, {"a", "b", "c"})
    assert summary["answer_match"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["short_answer_match"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["short_answer_given"] == pytest.approx(2 / 3, abs=1e-4)
    assert by_null_kind(results) == {
        "absent": {"n": 1, "null_abstention": 1.0},
        "near_miss": {"n": 2, "null_abstention": 0.5},
    }
    assert by_null_kind(results[:3]) == {}


def test_the_null_kind_and_features_are_read_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "n", "type": "null", "question": "Who won?", "null_kind": "near_miss", "near": ["x"]}\n',
        encoding="utf-8",
    )
    assert load_questions(path)[0].null_kind == "near_miss"
    kept = result("n", "null", features={"relevance": 0.5}).model_dump()
    assert kept["features"] == {"relevance": 0.5} and kept["null_kind"] == ""
