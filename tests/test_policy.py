"""The abstention policy: one decision from named features of the evidence, used by both
answerers (their behaviour on real articles is in test_extractive and test_llm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.evidence import Evidence, ScoredSentence
from retrieval.policy import AbstentionPolicy
from retrieval.settings import Settings


def evidence(relevance: float | None, *, coverage: float = 1.0, missing: tuple[str, ...] = ()) -> Evidence:
    sentences = [] if relevance is None else [
        ScoredSentence(0, 0, 10, "A sentence.", relevance, relevance, relevance, relevance, [1.0])
    ]
    return Evidence("Who?", [], sentences, coverage, missing)


def test_the_threshold_is_a_real_setting_calibrated_at_040() -> None:
    settings = Settings(store_dir=Path("unused"), _env_file=None)  # type: ignore[call-arg]
    assert settings.abstain_threshold == pytest.approx(0.40)
    assert AbstentionPolicy.from_settings(settings).threshold == settings.abstain_threshold


def test_missing_names_and_numbers_lower_the_score_below_the_threshold() -> None:
    policy = AbstentionPolicy(threshold=0.40)
    assert not policy.abstains(evidence(0.5))
    assert policy.score(evidence(0.5)) == pytest.approx(0.5)
    # a number of the question no article states: 0.5 - 0.15 is under 0.40
    assert policy.abstains(evidence(0.5, missing=("2010",)))
    assert policy.score(evidence(0.5, missing=("2010",))) == pytest.approx(0.35)
    # half the question's name words found nowhere: 0.5 - 0.2 x 0.5
    assert policy.score(evidence(0.5, coverage=0.5)) == pytest.approx(0.4)


def test_no_sentence_to_quote_abstains_with_score_zero() -> None:
    policy = AbstentionPolicy(threshold=0.0)
    assert policy.abstains(evidence(None))
    assert policy.score(evidence(None)) == 0.0


def test_the_decision_reads_only_the_named_features() -> None:
    policy = AbstentionPolicy(threshold=0.40)
    features = policy.features(evidence(0.5, coverage=0.5, missing=("2010",)))
    assert features == {
        "has_sentences": 1.0,
        "best_relevance": 0.5,
        "missing_name_share": 0.5,
        "missing_number": 1.0,
    }
    assert policy.decide(features) is True
    assert policy.decide(features | {"missing_number": 0.0}) is False


def test_the_models_not_in_sources_reply_is_an_abstention() -> None:
    assert AbstentionPolicy.model_declined("NOT IN SOURCES")
    assert AbstentionPolicy.model_declined("Sorry, not in sources.")
    assert not AbstentionPolicy.model_declined("Carlsberg plans to cut 200 jobs in Sweden [1].")
