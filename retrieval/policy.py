"""When an answer abstains: the one abstention policy both answerers use.

An answer abstains (says the indexed articles don't cover the question and lists the closest
ones) when there is no sentence to quote, when the chat model itself replies that the passages
do not answer, or when the fitted model says the passages probably do not state the answer.

The model is a logistic regression over named features (`policy_features`): today's similarity
evidence (the best sentence's relevance and lexical overlap, the share of the question's names
the passages contain, whether a number of the question is stated by none) and what the reader
(`retrieval.reader`) found (a span of the expected answer type, stated rather than announced,
near the top). `bench/calibrate.py` (`make calibrate`) fits it and writes
`retrieval/data/abstention.json`: the features it uses, their mean and scale, the weights, the
intercept, the probability cut chosen on training folds only, the sets and the held-out figures.
At run time it is a dot product and a sigmoid (no scikit-learn).

The policy reports `confidence` = P(the passages answer the question) = 1 - P(unanswerable); the
answer abstains when it is under the threshold (`settings.abstain_threshold`, default: the cut
fitted with the model). An `Answer` reports it as `evidence_score`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.evidence import Evidence
from retrieval.settings import Settings

if TYPE_CHECKING:
    from retrieval.reader import Reading

MODEL_FILE = "abstention.json"
# The chat model's reply when the passages do not answer (the answer prompt asks for it).
NOT_IN_SOURCES = "NOT IN SOURCES"


def evidence_features(evidence: Evidence) -> dict[str, float]:
    """Return the similarity features of `evidence`: `has_sentences` (1.0 when there is a
    sentence to quote), the best sentence's `relevance` and `lexical` overlap, `coverage` (share
    of the question's name and number words some passage has) and `missing_numbers` (1.0 when a
    number of the question is stated by no passage)."""
    best = max(evidence.sentences, key=lambda s: s.relevance) if evidence.sentences else None
    return {
        "has_sentences": 1.0 if best else 0.0,
        "relevance": best.relevance if best else 0.0,
        "lexical": best.lexical if best else 0.0,
        "coverage": evidence.coverage,
        "missing_numbers": float(bool(evidence.missing_numbers)),
    }


def policy_features(evidence: Evidence, reading: Reading | None) -> dict[str, float]:
    """Return every feature the model may use: `evidence_features` plus the reader's
    (`Reading.features`; none when `reading` is None)."""
    features = evidence_features(evidence)
    if reading is not None:
        features.update(reading.features)
    return features


@dataclass(frozen=True)
class AbstentionModel:
    """A fitted logistic regression: P(unanswerable) from named features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # the fitted cut on P(unanswerable): abstain at or above it

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AbstentionModel:
        """Return the model in the JSON `bench/calibrate.py` writes. Raises ValueError when a
        field is missing or the lengths disagree."""
        try:
            model = cls(
                features=tuple(data["features"]),
                mean=tuple(float(x) for x in data["mean"]),
                scale=tuple(float(x) for x in data["scale"]),
                coef=tuple(float(x) for x in data["coef"]),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"abstention model: missing or bad field ({e})") from e
        if not len(model.features) == len(model.mean) == len(model.scale) == len(model.coef):
            raise ValueError("abstention model: features, mean, scale and coef differ in length")
        return model

    @property
    def uses_reader(self) -> bool:
        """True when a feature comes from the reader (not only from the evidence)."""
        return any(name not in EVIDENCE_FEATURES for name in self.features)

    def probability(self, features: Mapping[str, float]) -> float:
        """Return P(the passages do not answer the question). Raises KeyError naming a missing
        feature."""
        z = self.intercept
        for name, mean, scale, coef in zip(self.features, self.mean, self.scale, self.coef):
            if name not in features:
                raise KeyError(f"abstention feature missing: {name}")
            z += coef * (features[name] - mean) / (scale or 1.0)
        return 1.0 / (1.0 + math.exp(-z))

    def decide(self, features: Mapping[str, float]) -> bool:
        """Return True when the answer should abstain at the fitted cut."""
        return self.probability(features) >= self.threshold


EVIDENCE_FEATURES = frozenset(
    evidence_features(Evidence("", [], [])).keys()
)


def load_model(path: Path | None = None) -> AbstentionModel:
    """Return the fitted model (default: the one shipped in the package). Raises OSError when
    the file cannot be read and ValueError when it is not a model."""
    if path is None:
        text = resources.files("retrieval").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
        where = f"retrieval/data/{MODEL_FILE}"
    else:
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not JSON ({e})") from e
    try:
        return AbstentionModel.from_dict(data)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


@dataclass(frozen=True)
class AbstentionPolicy:
    """Decides from named features whether an answer abstains.

    `confidence(features)` is P(the passages answer) under `model`; the answer abstains when it
    is under `threshold`, or when there is no sentence to quote at all.
    """

    model: AbstentionModel
    threshold: float

    @classmethod
    def from_settings(cls, settings: Settings, model: AbstentionModel | None = None) -> AbstentionPolicy:
        """Return the policy with the shipped model (or `model`) and the threshold `settings`
        configure (None: the cut fitted with the model)."""
        model = model or load_model()
        threshold = settings.abstain_threshold
        return cls(model=model, threshold=1.0 - model.threshold if threshold is None else threshold)

    @property
    def uses_reader(self) -> bool:
        """True when the decision needs a `Reading` of the passages."""
        return self.model.uses_reader

    def features(self, evidence: Evidence, reading: Reading | None = None) -> dict[str, float]:
        """Return what the decision reads of `evidence` and `reading`, by name."""
        return policy_features(evidence, reading)

    def confidence(self, features: Mapping[str, float]) -> float:
        """Return P(the passages answer the question) for `features` (0.0 when there is no
        sentence to quote). Raises KeyError naming a feature the model needs and `features`
        lack."""
        if not features.get("has_sentences", 1.0):
            return 0.0
        return 1.0 - self.model.probability(features)

    def decide(self, features: Mapping[str, float]) -> bool:
        """Return True when an answer with these `features` must abstain."""
        return self.confidence(features) < self.threshold

    @staticmethod
    def model_declined(text: str) -> bool:
        """Return True when the chat model's reply says the passages do not answer."""
        return NOT_IN_SOURCES.lower() in text.lower()
