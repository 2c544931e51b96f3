"""The fitted abstention model as the answerer runs it: standardise, weight, sigmoid, threshold."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from retrieval.abstention_model import AbstentionModel, load_model

MODEL = {
    "features": ["relevance", "undisclosed"],
    "mean": [0.5, 0.1],
    "scale": [0.1, 0.3],
    "coef": [-2.0, 1.0],
    "intercept": -0.5,
    "threshold": 0.6,
}


def test_relevant_evidence_answers_and_withheld_facts_abstain() -> None:
    model = AbstentionModel.from_dict(MODEL)
    relevant = {"relevance": 0.7, "undisclosed": 0.0}
    withheld = {"relevance": 0.45, "undisclosed": 1.0}
    z = -0.5 + -2.0 * (0.7 - 0.5) / 0.1 + 1.0 * (0.0 - 0.1) / 0.3
    assert model.probability(relevant) == pytest.approx(1 / (1 + math.exp(-z)))
    assert not model.decide(relevant)
    assert model.decide(withheld)


def test_a_missing_feature_is_named() -> None:
    with pytest.raises(KeyError, match="undisclosed"):
        AbstentionModel.from_dict(MODEL).probability({"relevance": 0.5})


def test_a_broken_model_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "abstention.json"
    path.write_text(json.dumps({**MODEL, "coef": [1.0]}), encoding="utf-8")
    with pytest.raises(ValueError, match="differ in length"):
        load_model(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=str(path)):
        load_model(path)


def test_the_shipped_model_uses_only_features_the_answerer_computes() -> None:
    pytest.importorskip("spacy")
    from retrieval.abstention_model import policy_features
    from retrieval.evidence import Evidence
    from retrieval.models import Passage
    from retrieval.reader import Reader

    model = load_model()
    passage = Passage(chunk_id="c", text="The mill was sold in June 2004 for $800m.", source_id="s", story_id="s")
    reading = Reader().read("How much was the mill sold for?", [passage])
    features = policy_features(Evidence("How much was the mill sold for?", [passage], []), reading)
    assert set(model.features) <= set(features)
    assert 0.0 < model.threshold < 1.0
    assert 0.0 <= model.probability(features) <= 1.0
