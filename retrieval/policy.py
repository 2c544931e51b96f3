"""When an answer abstains: the one abstention policy both answerers use.

An answer abstains (says the indexed articles don't cover the question and lists the closest
ones) when no sentence of the passages is close enough to the question, or when the chat model
itself replies that the passages do not answer it.

The decision reads named features of the `Evidence` (`features`) and compares them with a
threshold (`decide`), so that a fitted model (issue #10) can replace `decide` without touching
the answerers.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.evidence import Evidence
from retrieval.settings import Settings

ENTITY_WEIGHT = 0.2  # penalty when the question's names are missing from every passage
# Further penalty when a number of the question is stated by no passage. A number pins the event
# down more than a name does: articles about Glastonbury 2004 do not answer a question about
# Glastonbury 2010, nor do articles about "the next Xbox" one about the "Xbox 360". On bbc-qa
# dev 6 of the 18 null questions name a number that none of their passages states; of the
# answerable questions of bbc-qa and cnn-rtqa dev, only those with no usable passage do.
NUMBER_WEIGHT = 0.15

# The chat model's reply when the passages do not answer (the answer prompt asks for it).
NOT_IN_SOURCES = "NOT IN SOURCES"


@dataclass(frozen=True)
class AbstentionPolicy:
    """Decides from the evidence whether an answer abstains.

    The evidence score is the best sentence's relevance (see `retrieval.evidence`) minus
    `entity_weight` x the share of the question's name and number words found in no passage,
    minus `number_weight` more when a number of the question is stated by no passage. Under
    `threshold` (`settings.abstain_threshold`; its calibration is documented there) the answer
    abstains, as it does when there is no sentence to quote at all.
    """

    threshold: float
    entity_weight: float = ENTITY_WEIGHT
    number_weight: float = NUMBER_WEIGHT

    @classmethod
    def from_settings(cls, settings: Settings) -> AbstentionPolicy:
        """Return the policy with the threshold `settings` configure."""
        return cls(threshold=settings.abstain_threshold)

    def features(self, evidence: Evidence) -> dict[str, float]:
        """Return what the decision reads of `evidence`, by name: `has_sentences` (1.0 when
        there is a sentence to quote), `best_relevance`, `missing_name_share` (share of the
        question's name and number words no passage has) and `missing_number` (1.0 when a number
        of the question is stated by no passage)."""
        return {
            "has_sentences": 1.0 if evidence.sentences else 0.0,
            "best_relevance": evidence.best_relevance,
            "missing_name_share": 1.0 - evidence.coverage,
            "missing_number": 1.0 if evidence.missing_numbers else 0.0,
        }

    def score_features(self, features: dict[str, float]) -> float:
        """Return the evidence score of `features` (0.0 when there is no sentence)."""
        if not features["has_sentences"]:
            return 0.0
        return (
            features["best_relevance"]
            - self.entity_weight * features["missing_name_share"]
            - self.number_weight * features["missing_number"]
        )

    def score(self, evidence: Evidence) -> float:
        """Return the evidence score of `evidence`: what an `Answer` reports as `evidence_score`."""
        return self.score_features(self.features(evidence))

    def decide(self, features: dict[str, float]) -> bool:
        """Return True when an answer with these `features` must abstain."""
        return not features["has_sentences"] or self.score_features(features) < self.threshold

    def abstains(self, evidence: Evidence) -> bool:
        """Return True when the answer to `evidence.question` must abstain."""
        return self.decide(self.features(evidence))

    @staticmethod
    def model_declined(text: str) -> bool:
        """Return True when the chat model's reply says the passages do not answer."""
        return NOT_IN_SOURCES.lower() in text.lower()
