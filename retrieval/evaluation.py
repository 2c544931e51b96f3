"""Evaluation over a question file: retrieval hits, evidence recall, answers, abstention, latency.

Questions are JSON lines: `id`, `type` (single | multi | null | followup), `question`,
`answer`, `gold` (source_ids), `evidence` (sentences copied from the gold articles), `history`
(earlier `{"question", "answer"}` turns), optionally `question_date` (what "this week" means for
that question) and `null_kind` (why a null question has no answer: near_miss, absent,
outside_coverage; null abstention is also reported per kind). Unknown fields are ignored.
`short_answer_match` is the share of answerable questions whose short answer (the span the
extractive answer leads with, when it does) matches the reference, next to `answer_match` for
the whole answer; each item's policy features are in `items`. Every question goes through the same path a user's
does: filters parsed from the question, follow-ups rewritten from the history, hybrid retrieval,
the answerer and its verification.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from retrieval.conversation import ConversationEngine
from retrieval.history import Turn
from retrieval.models import Answer, Passage
from retrieval.story_eval import ExpectedEvent, score_conflict, score_timeline

METRICS = (
    "hits@1",
    "hits@5",
    "hits@10",
    "mrr@10",
    "evidence_recall@10",
    "answer_match",
    "short_answer_match",
    "short_answer_given",
    "null_abstention",
    "false_abstention",
    "citation_precision",
    "latency_p50_ms",
    "latency_p95_ms",
    "timeline_event_recall",
    "timeline_dates_right",
    "timeline_order_right",
    "conflicts_found",
    "false_conflicts",
)


class HistoryTurn(BaseModel):
    question: str
    answer: str = ""


class Question(BaseModel):
    """One evaluation item (extra fields are ignored)."""

    id: str
    type: str = "single"
    question: str
    answer: str = ""
    gold: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    history: list[HistoryTurn] = Field(default_factory=list)
    question_date: date | None = None
    null_kind: str = ""
    events: list[ExpectedEvent] = Field(default_factory=list, description="timeline: the events to list")
    disagree: bool = Field(False, description="conflict: whether the articles give different figures")
    values: list[str] = Field(default_factory=list, description="conflict: the figures to show")

    @property
    def answerable(self) -> bool:
        return self.type != "null" and bool(self.gold)


def load_questions(path: Path) -> list[Question]:
    """Read a question file (UTF-8 JSON lines) and return its items.

    Raises ValueError naming the file and line of a bad item or of bytes that are not UTF-8,
    and OSError when the file cannot be read.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # "utf-8 codec can't decode byte 0xe9 in position 1234" names neither file nor line.
        line_number = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{path}:{line_number}: not UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8"
        ) from e
    questions = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            questions.append(Question.model_validate_json(line))
        except ValidationError as e:
            error = e.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            reason = f"{where}: {error['msg']}" if where else error["msg"]
            raise ValueError(f"{path}:{number}: not a question item ({reason})") from e
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


def normalise(text: str) -> str:
    """Lower case, unified quotes and dashes, no markers or punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\[\d+\]", " ", text)
    text = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    text = re.sub(r"[^\w£$%.,' ]+", " ", text)
    text = re.sub(r"(?<!\d)[.,]|[.,](?!\d)", " ", text)
    return " ".join(text.split())


def answer_matches(gold: str, answer_text: str) -> bool:
    """The normalised gold answer is contained in the answer, starting a word ("Ford" is not
    found in "Stanford", "Europe" is in "European") and, when it ends in a digit, ending a number
    ("13" is not in "2013", "1.1" not in "1.13bn"); for compound gold answers ("X; Y"), every
    part is."""
    text = normalise(answer_text)
    parts = [normalise(p) for p in re.split(r";|\band\b", gold) if normalise(p)]

    def found(part: str) -> bool:
        end = r"(?![\d]|[.,]\d)" if part[-1].isdigit() else ""
        return re.search(rf"(?<![\w.,]){re.escape(part)}{end}", text) is not None

    return bool(parts) and all(found(p) for p in parts)


def first_hit(passages: Sequence[Passage], gold: Iterable[str]) -> int | None:
    """1-based rank of the first passage from a gold article, or None."""
    wanted = set(gold)
    for rank, passage in enumerate(passages, 1):
        if passage.source_id in wanted:
            return rank
    return None


def evidence_found(evidence: Sequence[str], passages: Sequence[Passage]) -> int:
    """How many evidence sentences appear (whitespace-normalised) inside one of the passages."""
    texts = [" ".join(p.text.split()) for p in passages]
    return sum(1 for sentence in evidence if any(" ".join(sentence.split()) in t for t in texts))


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class ItemResult(BaseModel):
    id: str
    type: str
    null_kind: str = ""
    rank: int | None
    evidence_total: int
    evidence_found: int
    abstained: bool
    answer_match: bool | None
    cited: int
    cited_gold: int
    latency_ms: float
    evidence_score: float
    standalone: str
    answer: str
    short_answer: str = ""
    short_answer_match: bool | None = None
    features: dict[str, float] = Field(default_factory=dict)
    story: dict[str, float | None] = Field(default_factory=dict, description="timeline/conflict scores")
    disagree: bool = False


def summarise(results: Sequence[ItemResult], answerable_ids: set[str]) -> dict[str, Any]:
    """The metrics over `results` (see the module docstring)."""
    answerable = [r for r in results if r.id in answerable_ids]
    nulls = [r for r in results if r.type == "null"]

    def share(items: Sequence[ItemResult], test: Any) -> float | None:
        return round(sum(1 for r in items if test(r)) / len(items), 4) if items else None

    latencies = [r.latency_ms for r in results]
    evidence_total = sum(r.evidence_total for r in answerable)
    cited = sum(r.cited for r in answerable)
    summary: dict[str, Any] = {
        "n": len(results),
        "hits@1": share(answerable, lambda r: r.rank is not None and r.rank <= 1),
        "hits@5": share(answerable, lambda r: r.rank is not None and r.rank <= 5),
        "hits@10": share(answerable, lambda r: r.rank is not None and r.rank <= 10),
        "mrr@10": round(statistics.fmean([1 / r.rank if r.rank and r.rank <= 10 else 0.0 for r in answerable]), 4)
        if answerable
        else None,
        "evidence_recall@10": round(sum(r.evidence_found for r in answerable) / evidence_total, 4)
        if evidence_total
        else None,
        "answer_match": share(answerable, lambda r: bool(r.answer_match)),
        "short_answer_match": share(answerable, lambda r: bool(r.short_answer_match)),
        "short_answer_given": share(answerable, lambda r: bool(r.short_answer)),
        "null_abstention": share(nulls, lambda r: r.abstained),
        "false_abstention": share(answerable, lambda r: r.abstained),
        "citation_precision": round(sum(r.cited_gold for r in answerable) / cited, 4) if cited else None,
        "latency_p50_ms": round(_percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(_percentile(latencies, 0.95), 1),
    }
    summary.update(story_summary(results))
    return summary


def by_null_kind(results: Sequence[ItemResult]) -> dict[str, dict[str, Any]]:
    """Null abstention per `null_kind` of the null questions that give one (empty when none
    does): `{kind: {"n", "null_abstention"}}`."""
    kinds: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        if r.type == "null" and r.null_kind:
            kinds[r.null_kind].append(r)
    return {
        kind: {"n": len(rs), "null_abstention": round(sum(r.abstained for r in rs) / len(rs), 4)}
        for kind, rs in sorted(kinds.items())
    }


def story_summary(results: Sequence[ItemResult]) -> dict[str, float | None]:
    """Timeline scores (means over timeline questions) and disagreement scores: the share of
    conflict questions whose articles disagree where the answer says so (`conflicts_found`), and
    the share of those whose articles agree where it says they don't (`false_conflicts`)."""

    def mean(values: list[float | None]) -> float | None:
        kept = [v for v in values if v is not None]
        return round(statistics.fmean(kept), 4) if kept else None

    timelines = [r.story for r in results if r.type == "timeline"]
    conflicts = [r for r in results if r.type == "conflict"]
    return {
        "timeline_event_recall": mean([s.get("event_recall") for s in timelines]),
        "timeline_dates_right": mean([s.get("dates_right") for s in timelines]),
        "timeline_order_right": mean([s.get("order_right") for s in timelines]),
        "conflicts_found": mean([r.story.get("reported") for r in conflicts if r.disagree]),
        "false_conflicts": mean([r.story.get("reported") for r in conflicts if not r.disagree]),
    }


async def evaluate_item(engine: ConversationEngine, item: Question, k: int) -> ItemResult:
    """Run one question as a user would ask it (with its history) and score it."""
    history = [Turn(question=t.question, answer=t.answer) for t in item.history]
    today = item.question_date or date.today()
    start = time.perf_counter()
    retrieved = await engine.retrieve(item.question, history, today=today, k=max(k, engine.settings.retrieval_k))
    answer: Answer = await engine.answer_retrieved(item.question, retrieved)
    latency = (time.perf_counter() - start) * 1000
    top = retrieved.passages[:k]
    gold = set(item.gold)
    return ItemResult(
        id=item.id,
        type=item.type,
        null_kind=item.null_kind,
        rank=first_hit(top, gold) if item.answerable else None,
        evidence_total=len(item.evidence),
        evidence_found=evidence_found(item.evidence, top),
        abstained=answer.abstained,
        answer_match=answer_matches(item.answer, answer.text) if item.answerable and item.answer else None,
        cited=len(answer.citations),
        cited_gold=sum(1 for c in answer.citations if c.passage.source_id in gold),
        latency_ms=latency,
        evidence_score=answer.evidence_score,
        standalone=retrieved.standalone,
        answer=answer.text,
        short_answer=answer.short_answer,
        short_answer_match=answer_matches(item.answer, answer.short_answer)
        if item.answerable and item.answer and answer.short_answer
        else (False if item.answerable and item.answer else None),
        features={name: round(value, 4) for name, value in answer.features.items()},
        story=score_timeline(answer.text, item.events) if item.type == "timeline"
        else score_conflict(answer.text, item.values) if item.type == "conflict" else {},
        disagree=item.disagree,
    )


async def evaluate(engine: ConversationEngine, questions: Sequence[Question], *, k: int = 10) -> dict[str, Any]:
    """Run every question, one after another; return the overall metrics, the metrics per
    question type, null abstention per `null_kind` (`by_null_kind`, when the file gives kinds),
    and the per-item results (`items`)."""
    results = [await evaluate_item(engine, q, k) for q in questions]
    answerable_ids = {q.id for q in questions if q.answerable}
    by_type: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        by_type[r.type].append(r)
    report = summarise(results, answerable_ids)
    report["by_type"] = {t: summarise(rs, answerable_ids) for t, rs in sorted(by_type.items())}
    if kinds := by_null_kind(results):
        report["by_null_kind"] = kinds
    report["items"] = [r.model_dump() for r in results]
    return report


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
