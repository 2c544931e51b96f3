"""bench/calibrate.py's synthetic near misses: the asked fact is cut out of the passages, and
they are fitted on but never scored."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench.calibrate import SETS, SYNTHETIC, cross_validate, figures, fit, leave_one_set_out, near_miss_of
from retrieval.models import Passage

SALE = (
    "Acme has agreed to buy Widget Co, the maker of garden tools.\n"
    "The price paid was £5m, according to people close to the deal. "
    "Widget Co employs 200 people in Leeds. Its founder will stay on."
)
COPY = "Analysts said Acme paid £5m for the firm. They expect more deals in the sector."


def sentence(passage: int, text: str, whole: str, dense: float) -> dict[str, Any]:
    start = whole.index(text)
    return {
        "passage_index": passage, "start": start, "end": start + len(text), "text": text,
        "dense": dense, "lexical": 0.5, "relevance": dense, "score": dense,
    }


def cached_item() -> dict[str, Any]:
    passages = [
        Passage(chunk_id="a:0", text=SALE, source_id="a", story_id="a", title="Acme buys Widget Co"),
        Passage(chunk_id="b:0", text=COPY, source_id="b", story_id="b", title="Tool makers merge"),
    ]
    texts = [
        (0, "The price paid was £5m, according to people close to the deal."),
        (1, "Analysts said Acme paid £5m for the firm."),
        (0, "Acme has agreed to buy Widget Co, the maker of garden tools."),
        (0, "Widget Co employs 200 people in Leeds."),
        (1, "They expect more deals in the sector."),
    ]
    return {
        "set": "bbc-dev", "id": "dev-1", "type": "single", "null_kind": "", "group": "a",
        "answer": "£5m", "question": "How much did Acme pay for Widget Co?",
        "standalone": "How much did Acme pay for Widget Co?",
        "passages": [p.model_dump(mode="json") for p in passages],
        "coverage": 1.0, "missing_numbers": [], "evidence_score": 0.7,
        "sentences": [
            sentence(i, text, (SALE, COPY)[i], dense) for (i, text), dense in zip(texts, (0.8, 0.75, 0.7, 0.4, 0.3))
        ],
        "whole_answer": "The price paid was £5m [1].",
    }


def test_a_synthetic_near_miss_has_the_same_story_without_the_asked_fact() -> None:
    item = cached_item()
    made = near_miss_of(item)
    assert made is not None
    texts = [p["text"] for p in made["passages"]]
    # every sentence stating the answer is gone, in both articles; the rest of the story stays
    assert all("£5m" not in t for t in texts)
    assert "The price paid" not in texts[0] and "Analysts said" not in texts[1]
    assert texts[0].startswith("Acme has agreed to buy Widget Co") and "Widget Co employs 200 people" in texts[0]
    assert "more deals" in texts[1]
    assert sorted(made["removed"]) == sorted([item["sentences"][0]["text"], item["sentences"][1]["text"]])
    # the scored sentences left still slice out of their (shortened) passages
    assert [s["text"] for s in made["sentences"]][0] == "Acme has agreed to buy Widget Co, the maker of garden tools."
    for s in made["sentences"]:
        assert texts[s["passage_index"]][s["start"] : s["end"]] == s["text"]
        assert "£5m" not in s["text"]
    assert made["type"] == "null" and made["null_kind"] == SYNTHETIC and made["answer"] == ""
    assert made["group"] == "a" and made["set"] == "bbc-dev"  # same fold as the question it came from
    assert item["passages"][0]["text"] == SALE  # the real item is untouched


def test_no_near_miss_when_the_answer_is_not_stated_or_the_question_is_null() -> None:
    unstated = cached_item() | {"answer": "£7m"}
    assert near_miss_of(unstated) is None
    assert near_miss_of(cached_item() | {"type": "null", "answer": ""}) is None


def rows(seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Real rows of the three sets (nulls have low relevance) and synthetic near misses."""
    rng = random.Random(seed)
    real = []
    for n, name in enumerate(SETS):
        for i in range(40):
            label = int(i % 4 == 0) if name != "cnn-dev" else 0
            relevance = rng.gauss(0.4 if label else 0.6, 0.1)
            real.append({
                "set": name, "id": f"{name}-{i}", "label": label, "null_kind": "near_miss" if label else "",
                "group": f"{name}-{i // 2}", "synthetic": False, "evidence_score": relevance,
                "features": {"relevance": relevance, "coverage": rng.random()},
            })
    synthetic = [
        r | {"id": r["id"] + "~near-miss", "label": 1, "null_kind": SYNTHETIC, "synthetic": True,
             "features": {"relevance": rng.gauss(0.45, 0.1), "coverage": rng.random()}}
        for r in real if not r["label"]
    ]
    return real, synthetic


def test_synthetic_near_misses_are_fitted_on_and_never_scored() -> None:
    real, synthetic = rows()
    names = ["relevance", "coverage"]
    without = fit(real, names)
    with_them = fit(real, names, synthetic=synthetic, synthetic_weight=1.0)
    assert with_them["coef"] != without["coef"]  # they change the fit...
    cv, probs = cross_validate(real, names, synthetic, synthetic_weight=1.0)
    held_out = leave_one_set_out(real, names, synthetic, synthetic_weight=1.0)
    # ...but the figures count the real questions only
    assert len(probs) == len(real)
    assert cv["all"]["n_null"] == sum(r["label"] for r in real)
    assert cv["all"]["n_answerable"] == sum(1 - r["label"] for r in real)
    assert SYNTHETIC not in cv["all"]["null_abstention_by_kind"]
    assert held_out["cnn-dev"]["n_null"] == 0 and held_out["cnn-dev"]["n_answerable"] == 40
    with pytest.raises(ValueError, match="never scored"):
        figures(real + synthetic[:1], [False] * (len(real) + 1))
    with pytest.raises(ValueError, match="synthetic"):
        fit(real + synthetic[:1], names)
