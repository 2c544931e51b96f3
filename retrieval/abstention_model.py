"""The fitted abstention model: a logistic regression over named evidence and reader features,
fitted by `bench/calibrate.py` and shipped as `retrieval/data/abstention.json`.

At run time it is a dot product and a sigmoid (no scikit-learn): standardise each feature with
the stored mean and scale, weight it, add the intercept; the answer abstains when the
probability that the question is unanswerable from the passages reaches the stored threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.evidence import Evidence
    from retrieval.reader import Reading

MODEL_FILE = "abstention.json"


def evidence_features(evidence: Evidence) -> dict[str, float]:
    """Today's evidence features: the best sentence's relevance and lexical overlap, the share of
    the question's names found in the passages, and whether a number of the question is stated
    by no passage."""
    best = max(evidence.sentences, key=lambda s: s.relevance) if evidence.sentences else None
    return {
        "relevance": best.relevance if best else 0.0,
        "lexical": best.lexical if best else 0.0,
        "coverage": evidence.coverage,
        "missing_numbers": float(bool(evidence.missing_numbers)),
    }


def policy_features(evidence: Evidence, reading: Reading | None) -> dict[str, float]:
    """All features the fitted model may use: `evidence_features` plus the reader's."""
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
    threshold: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AbstentionModel:
        """Build the model from the JSON `bench/calibrate.py` writes. Raises ValueError when a
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

    def probability(self, features: Mapping[str, float]) -> float:
        """P(the passages do not answer the question). Raises KeyError naming a missing feature."""
        z = self.intercept
        for name, mean, scale, coef in zip(self.features, self.mean, self.scale, self.coef):
            if name not in features:
                raise KeyError(f"abstention feature missing: {name}")
            z += coef * (features[name] - mean) / (scale or 1.0)
        return 1.0 / (1.0 + math.exp(-z))

    def decide(self, features: Mapping[str, float]) -> bool:
        """True when the answer should abstain."""
        return self.probability(features) >= self.threshold


def load_model(path: Path | None = None) -> AbstentionModel:
    """Load the fitted model (default: the one shipped in the package). Raises OSError when the
    file cannot be read and ValueError when it is not a model."""
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
    return AbstentionModel.from_dict(data)
