"""The abstention policy: one fitted decision over named features, used by both answerers
(their behaviour on real articles is in test_extractive and test_llm)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from retrieval.evidence import Evidence, ScoredSentence
from retrieval.models import Passage
from retrieval.policy import AbstentionModel, AbstentionPolicy, evidence_features, load_model, policy_features
from retrieval.settings import Settings

MODEL = {
    "features": ["relevance", "undisclosed"],
    "mean": [0.5, 0.1],
    "scale": [0.1, 0.3],
    "coef": [-2.0, 1.0],
    "intercept": -0.5,
    "threshold": 0.6,
}


def evidence(relevance: float | None, *, coverage: float = 1.0, missing: tuple[str, ...] = ()) -> Evidence:
    sentences = [] if relevance is None else [
        ScoredSentence(0, 0, 10, "A sentence.", relevance, relevance, relevance, relevance, [1.0])
    ]
    return Evidence("Who?", [], sentences, coverage, missing)


def settings(**values: object) -> Settings:
    return Settings(store_dir=Path("unused"), _env_file=None, **values)  # type: ignore[call-arg,arg-type]


def test_relevant_evidence_answers_and_withheld_facts_abstain() -> None:
    model = AbstentionModel.from_dict(MODEL)
    relevant = {"relevance": 0.7, "undisclosed": 0.0}
    withheld = {"relevance": 0.45, "undisclosed": 1.0}
    z = -0.5 + -2.0 * (0.7 - 0.5) / 0.1 + 1.0 * (0.0 - 0.1) / 0.3
    assert model.probability(relevant) == pytest.approx(1 / (1 + math.exp(-z)))
    policy = AbstentionPolicy(model=model, threshold=1 - model.threshold)
    assert policy.confidence(relevant) == pytest.approx(1 - model.probability(relevant))
    assert not policy.decide(relevant)
    assert policy.decide(withheld)


def test_the_threshold_setting_is_the_cut_on_the_probability_that_the_passages_answer() -> None:
    model = AbstentionModel.from_dict(MODEL)
    # unset: the cut fitted with the model (0.6 on P(unanswerable) = 0.4 on P(answerable))
    assert AbstentionPolicy.from_settings(settings(), model).threshold == pytest.approx(0.4)
    features = {"relevance": 0.5, "undisclosed": 0.1}  # P(answerable) = 1 - sigmoid(-0.5) = 0.62
    assert not AbstentionPolicy.from_settings(settings(abstain_threshold=0.5), model).decide(features)
    assert AbstentionPolicy.from_settings(settings(abstain_threshold=0.7), model).decide(features)
    with pytest.raises(ValueError):
        settings(abstain_threshold=1.5)


def test_no_sentence_to_quote_abstains_with_confidence_zero() -> None:
    policy = AbstentionPolicy(model=AbstentionModel.from_dict(MODEL), threshold=0.0001)
    features = policy.features(evidence(None))
    assert features["has_sentences"] == 0.0
    assert policy.confidence(features) == 0.0 and policy.decide(features)


def test_the_evidence_features_are_named_and_missing_numbers_lower_the_confidence() -> None:
    assert evidence_features(evidence(0.5, coverage=0.5, missing=("2010",))) == {
        "has_sentences": 1.0,
        "relevance": 0.5,
        "lexical": 0.5,
        "coverage": 0.5,
        "missing_numbers": 1.0,
    }
    policy = AbstentionPolicy.from_settings(settings())  # the shipped model
    stated = policy.features(evidence(0.5))
    unstated = policy.features(evidence(0.5, missing=("2010",)))
    for features in (stated, unstated):  # reader features as when the reader found a stated answer
        features.update({name: 1.0 for name in policy.model.features if name not in features})
        features["undisclosed"] = 0.0
    assert policy.confidence(unstated) < policy.confidence(stated)
    assert policy.confidence(policy_features(evidence(0.9), None) | {"stated_answer_found": 1.0, "undisclosed": 0.0}) > policy.confidence(stated)


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


def test_the_shipped_model_is_fitted_with_its_figures_and_uses_only_features_the_answerer_computes() -> None:
    pytest.importorskip("spacy")
    from retrieval.reader import Reader

    data = json.loads((Path(__file__).parents[1] / "retrieval" / "data" / "abstention.json").read_text(encoding="utf-8"))
    assert {"fitted_on", "figures", "how"} <= set(data)
    assert set(data["figures"]["leave_one_set_out"]) == set(data["fitted_on"])
    model = load_model()
    passage = Passage(chunk_id="c", text="The mill was sold in June 2004 for $800m.", source_id="s", story_id="s")
    reading = Reader().read("How much was the mill sold for?", [passage])
    features = policy_features(Evidence("How much was the mill sold for?", [passage], []), reading)
    assert set(model.features) <= set(features)
    assert 0.0 < model.threshold < 1.0
    assert 0.0 <= model.probability(features) <= 1.0


def test_the_models_not_in_sources_reply_is_an_abstention() -> None:
    assert AbstentionPolicy.model_declined("NOT IN SOURCES")
    assert AbstentionPolicy.model_declined("Sorry, not in sources.")
    assert not AbstentionPolicy.model_declined("Carlsberg plans to cut 200 jobs in Sweden [1].")
