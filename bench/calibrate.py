"""Fit the abstention policy: a small logistic regression over evidence and reader features.

    python bench/calibrate.py --store data/eval-store \
        --model retrieval/data/abstention.json --json bench/results/calibration.json

Every question of bbc-qa/dev.jsonl, bbc-qa/calib.jsonl and cnn-rtqa/dev.jsonl goes through
retrieval as `newsbot eval` runs it (filters parsed from the question, follow-ups rewritten from
their `history`, hybrid retrieval, the first settings.retrieval_k passages), and its sentences
are scored as the answerer scores them. That part is slow (embedding) and is cached in
`--cache` (one JSON file); `--refresh` rebuilds it. The reader (`retrieval.reader`) then runs
over the cached passages, and the features (`retrieval.policy.policy_features`) are
fitted to say "this question is null".

Reported, never on the questions fitted on:
- cross-validation grouped by article (GroupKFold; the group of an answerable question is its
  first gold article, of a near-miss null the article it is near, of another null itself), so one
  story never sits on both sides;
- each set left out in turn (fit on the other two, test on it);
for each: null abstention (overall and per `null_kind`) and false abstention on answerable
questions. The decision threshold is picked on the training questions only: the cut on
P(unanswerable) that abstains wrongly on as many of them as today's rule does. The same figures
are given for today's rule (evidence score < 0.40) for comparison, and the reader's short answer
is checked against the reference answer next to the whole extractive answer
(`retrieval.evaluation.answer_matches`).

The model fitted on all three sets is written to `--model` (feature names, mean, scale,
coefficients, intercept, threshold, the sets and the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.evaluation import answer_matches, write_report  # noqa: E402
from retrieval.evidence import Evidence, ScoredSentence  # noqa: E402
from retrieval.extractive import NOT_COVERED, compose_extractive  # noqa: E402
from retrieval.models import Passage  # noqa: E402
from retrieval.policy import evidence_features, policy_features  # noqa: E402
from retrieval.reader import Reader  # noqa: E402

log = logging.getLogger("calibrate")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "bbc-dev": DATA / "bbc-qa" / "dev.jsonl",
    "bbc-calib": DATA / "bbc-qa" / "calib.jsonl",
    "cnn-dev": DATA / "cnn-rtqa" / "dev.jsonl",
}
TOP_SENTENCES = 12  # scored sentences kept per question in the cache (the reader reads <= 10)
C = 0.5  # inverse regularisation strength: few dozen nulls per set, keep the weights small
FOLDS = 5
QUESTION_ONLY = frozenset({"typed_question", "asks_outcome", "asks_plan", "has_sentences"})
# The features the shipped model uses: those that generalise from one set to another. With every
# feature the model does worse than today's rule on the held-out bbc-calib (see the report's
# "all_features" section). No reader feature helps on every held-out set: "a span of the asked
# type is stated" gets its weight from how each set's questions are typed, and "a top sentence
# says the fact was withheld" fires on 5 of 407 questions (also on "whose identity is not
# known"), so one occurrence outweighs everything else. Today's inputs with fitted weights (plus
# the best sentence's lexical overlap) catch about as many held-out nulls as today's rule with
# fewer false abstentions in total (README, Evaluation).
SHIPPED = ("relevance", "lexical", "coverage", "missing_numbers")


# --- the cache: retrieval and sentence scores, once ---------------------------------------


# Today's rule before the fitted model (kept to compare against): the best sentence's relevance,
# less 0.2 x the share of the question's name words no passage has, less 0.15 when a number of
# the question is stated by no passage; abstain under 0.40.
TODAY_THRESHOLD = 0.40


def today_score(features: dict[str, float]) -> float:
    """The evidence score of the rule the fitted model replaces."""
    if not features["has_sentences"]:
        return 0.0
    return features["relevance"] - 0.2 * (1.0 - features["coverage"]) - 0.15 * features["missing_numbers"]


def build_cache(store: Path, path: Path) -> dict[str, Any]:
    """Retrieve and score every question of SETS through the eval path; return and write the cache."""
    return asyncio.run(_build_cache(store, path))


async def _build_cache(store: Path, path: Path) -> dict[str, Any]:
    from bot.app import build_app
    from bot.cli import load_settings
    from retrieval.history import InMemoryHistory, Turn
    from retrieval.evaluation import load_questions

    settings = load_settings(store)
    items: list[dict[str, Any]] = []
    raw = {name: [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()] for name, file in SETS.items()}
    async with build_app(settings, history=InMemoryHistory(settings.history_tokens)) as app:
        engine = app.engine
        scorer = engine.fallback.scorer  # the extractive answerer's SentenceScorer
        for name, file in SETS.items():
            for question, extra in zip(load_questions(file), raw[name], strict=True):
                started = time.perf_counter()
                history = [Turn(question=t.question, answer=t.answer) for t in question.history]
                retrieved = await engine.retrieve(
                    question.question, history, today=question.question_date or date.today(),
                    k=max(10, settings.retrieval_k),
                )
                passages = retrieved.passages[: settings.retrieval_k]
                evidence = await asyncio.to_thread(scorer.score, retrieved.standalone, passages)
                whole = compose_extractive(evidence) if evidence.sentences else ""
                items.append({
                    "set": name,
                    "id": question.id,
                    "type": question.type,
                    "null_kind": extra.get("null_kind") or ("null" if question.type == "null" else ""),
                    "group": _group(question.type, question.gold, extra.get("near") or [], question.id),
                    "answer": question.answer,
                    "question": question.question,
                    "standalone": retrieved.standalone,
                    "passages": [p.model_dump(mode="json") for p in passages],
                    "coverage": evidence.coverage,
                    "missing_numbers": list(evidence.missing_numbers),
                    "evidence_score": today_score(evidence_features(evidence)),
                    "sentences": [
                        {k: getattr(s, k) for k in ("passage_index", "start", "end", "text", "dense", "lexical", "relevance", "score")}
                        for s in evidence.sentences[:TOP_SENTENCES]
                    ],
                    "whole_answer": whole,
                    "retrieve_and_score_ms": round((time.perf_counter() - started) * 1000, 1),
                })
                log.info("%s %s: %.0f ms", name, question.id, items[-1]["retrieve_and_score_ms"])
    cache = {"store": str(store), "retrieval_k": settings.retrieval_k, "items": items}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cache), encoding="utf-8")
    return cache


def _group(kind: str, gold: list[str], near: list[str], own: str) -> str:
    if kind == "null":
        return near[0] if near else f"null:{own}"
    return gold[0] if gold else f"item:{own}"


def evidence_of(item: dict[str, Any]) -> Evidence:
    """The cached evidence (top sentences only: what the features and the reader use)."""
    passages = [Passage.model_validate(p) for p in item["passages"]]
    sentences = [ScoredSentence(**s, vector=[]) for s in item["sentences"]]
    return Evidence(item["standalone"], passages, sentences, item["coverage"], tuple(item["missing_numbers"]))


# --- features -----------------------------------------------------------------------------


def featurise(cache: dict[str, Any], reader: Reader) -> list[dict[str, Any]]:
    """One row per question: its features, label (1 = null), set, group, kind, answers."""
    rows = []
    for item in cache["items"]:
        evidence = evidence_of(item)
        reading = reader.read(item["standalone"], evidence.passages, evidence) if item["standalone"].strip() else None
        features = policy_features(evidence, reading)
        short = reading.answer.text if reading and reading.answer else ""
        rows.append({
            "set": item["set"],
            "id": item["id"],
            "type": item["type"],
            "null_kind": item["null_kind"],
            "group": item["group"],
            "label": int(item["type"] == "null"),
            "features": features,
            "evidence_score": item["evidence_score"],
            "answer": item["answer"],
            "short_answer": short,
            "whole_answer": item["whole_answer"],
            "reader_ms": reading.elapsed_ms if reading else 0.0,
            "analysed": reading.analysed if reading else 0,
        })
    return rows


# --- fitting and scoring ------------------------------------------------------------------


def fit(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Fit a standardised, L2-regularised logistic regression and pick its threshold on `rows`."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array([[r["features"][n] for n in names] for r in rows], dtype=float)
    y = np.array([r["label"] for r in rows])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000).fit(scaler.transform(x), y)
    fitted = {
        "features": names,
        "mean": scaler.mean_.tolist(),
        "scale": [s or 1.0 for s in scaler.scale_.tolist()],
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
    }
    fitted["threshold"] = pick_threshold([probability(fitted, r) for r in rows], rows)
    return fitted


def probability(fitted: dict[str, Any], row: dict[str, Any]) -> float:
    import math

    z = fitted["intercept"]
    for name, mean, scale, coef in zip(fitted["features"], fitted["mean"], fitted["scale"], fitted["coef"]):
        z += coef * (row["features"][name] - mean) / scale
    return 1.0 / (1.0 + math.exp(-z))


def pick_threshold(probs: list[float], rows: list[dict[str, Any]]) -> float:
    """The cut on P(unanswerable) that abstains wrongly on as many of these (training) answerable
    questions as today's rule does on them: the same price, so that the held-out figures compare
    the two at one operating point."""
    answerable = sorted((p for p, r in zip(probs, rows) if r["label"] == 0), reverse=True)
    if not answerable:
        return 0.5
    allowed = sum(1 for r in rows if r["label"] == 0 and r["evidence_score"] < TODAY_THRESHOLD)
    # Abstaining at p >= t wrongly abstains on the answerable ones with p >= t: put t just above
    # the (allowed+1)-th highest answerable probability.
    return min(0.999, answerable[allowed] + 1e-6) if allowed < len(answerable) else 0.0


def figures(rows: list[dict[str, Any]], abstained: list[bool]) -> dict[str, Any]:
    """Null abstention (overall and per kind) and false abstention."""
    nulls = [a for r, a in zip(rows, abstained) if r["label"] == 1]
    answerable = [a for r, a in zip(rows, abstained) if r["label"] == 0]
    kinds: dict[str, list[bool]] = defaultdict(list)
    for r, a in zip(rows, abstained):
        if r["label"] == 1:
            kinds[r["null_kind"]].append(a)
    share = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    return {
        "n_null": len(nulls),
        "n_answerable": len(answerable),
        "null_abstention": share(nulls),
        "false_abstention": share(answerable),
        "null_abstention_by_kind": {k: {"n": len(v), "abstention": share(v)} for k, v in sorted(kinds.items())},
    }


def cross_validate(rows: list[dict[str, Any]], names: list[str]) -> tuple[dict[str, Any], list[float]]:
    """GroupKFold over all rows (groups = articles); each fold's threshold from its training part."""
    from sklearn.model_selection import GroupKFold

    abstained = [False] * len(rows)
    probs = [0.0] * len(rows)
    groups = [r["group"] for r in rows]
    for train_index, test_index in GroupKFold(n_splits=FOLDS).split(rows, groups=groups):
        fitted = fit([rows[i] for i in train_index], names)
        for i in test_index:
            probs[i] = probability(fitted, rows[i])
            abstained[i] = probs[i] >= fitted["threshold"]
    result = {"all": figures(rows, abstained)}
    for name in SETS:
        chosen = [i for i, r in enumerate(rows) if r["set"] == name]
        result[name] = figures([rows[i] for i in chosen], [abstained[i] for i in chosen])
    return result, probs


def leave_one_set_out(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    result = {}
    for held in SETS:
        train = [r for r in rows if r["set"] != held]
        test = [r for r in rows if r["set"] == held]
        fitted = fit(train, names)
        result[held] = {
            "fitted_on": [s for s in SETS if s != held],
            "threshold": round(fitted["threshold"], 4),
            **figures(test, [probability(fitted, r) >= fitted["threshold"] for r in test]),
        }
    return result


def today_rule(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: figures(chosen, [r["evidence_score"] < TODAY_THRESHOLD for r in chosen])
        for name in SETS
        if (chosen := [r for r in rows if r["set"] == name])
    }


def answer_match(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Short answer vs whole answer (as `newsbot eval` shows it: abstained under 0.40)."""
    result = {}
    for name in SETS:
        chosen = [r for r in rows if r["set"] == name and r["label"] == 0 and r["answer"]]
        if not chosen:
            continue
        whole = [
            answer_matches(r["answer"], r["whole_answer"] if r["evidence_score"] >= TODAY_THRESHOLD else NOT_COVERED)
            for r in chosen
        ]
        short = [bool(r["short_answer"]) and answer_matches(r["answer"], r["short_answer"]) for r in chosen]
        # Looser: the short span is part of the reference ("£1m" in "$1m (£522,000)"): the span
        # names the answer even when the reference says more.
        loose = [s or (bool(r["short_answer"]) and r["short_answer"].lower() in r["answer"].lower()) for s, r in zip(short, chosen)]
        result[name] = {
            "n": len(chosen),
            "whole_answer_match": round(sum(whole) / len(chosen), 4),
            "short_answer_match": round(sum(short) / len(chosen), 4),
            "short_answer_in_reference": round(sum(loose) / len(chosen), 4),
            "short_answer_given": round(sum(bool(r["short_answer"]) for r in chosen) / len(chosen), 4),
        }
    return result


def reader_cost(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(r["reader_ms"] for r in rows)
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "sentences_analysed_mean": round(statistics.fmean(r["analysed"] for r in rows), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path("data/eval-store"), help="a store holding BBC + CNN articles")
    parser.add_argument("--cache", type=Path, default=Path("data/calib-cache.json"))
    parser.add_argument("--refresh", action="store_true", help="rebuild the cache")
    parser.add_argument("--model", type=Path, default=Path("retrieval/data/abstention.json"))
    parser.add_argument("--json", type=Path, default=Path("bench/results/calibration.json"))
    parser.add_argument("--features", default="", help="comma-separated subset of features (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")

    if args.cache.exists() and not args.refresh:
        cache = json.loads(args.cache.read_text(encoding="utf-8"))
    else:
        cache = build_cache(args.store, args.cache)
    rows = featurise(cache, Reader())
    # What the question alone says (typed, asks for an outcome or a plan) is left out: it is a
    # prior on how each set's questions were written, not evidence about the passages, and it
    # did not transfer between sets (see the report).
    every = sorted(set(rows[0]["features"]) - QUESTION_ONLY)
    names = args.features.split(",") if args.features else list(SHIPPED)
    cv, probs = cross_validate(rows, names)
    every_cv, _ = cross_validate(rows, every)
    held_out = leave_one_set_out(rows, names)
    final = fit(rows, names)
    report = {
        "sets": {name: str(path) for name, path in SETS.items()},
        "store": cache["store"],
        "features": names,
        "regularisation_C": C,
        "threshold_rule": "as many false abstentions on the training questions as today's rule",
        "cross_validated_by_article": cv,
        "leave_one_set_out": held_out,
        "all_features": {"features": every, "cross_validated_by_article": every_cv, "leave_one_set_out": leave_one_set_out(rows, every)},
        "today_rule_evidence_score_below_0.40": today_rule(rows),
        "answer_match": answer_match(rows),
        "reader_cost": reader_cost(rows),
        "final_model": {
            **{k: final[k] for k in ("features", "coef", "intercept", "threshold")},
            "standardised_coef_by_size": sorted(zip(names, [round(c, 3) for c in final["coef"]]), key=lambda t: -abs(t[1])),
        },
        "items": [
            {k: r[k] for k in ("set", "id", "type", "null_kind", "short_answer", "answer")}
            | {"p_null_cv": round(p, 4), "features": {n: round(v, 4) for n, v in r["features"].items()}}
            for r, p in zip(rows, probs)
        ],
    }
    model = {
        **final,
        "fitted_on": list(SETS),
        "figures": {"cross_validated_by_article": cv["all"], "leave_one_set_out": held_out},
        "how": "bench/calibrate.py: LogisticRegression(C=%s, class_weight=balanced) on standardised "
        "features; threshold on P(unanswerable): as many false abstentions on the fitted questions as "
        "today's rule (evidence score < %s)" % (C, TODAY_THRESHOLD),
    }
    args.model.parent.mkdir(parents=True, exist_ok=True)
    args.model.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    write_report(report, args.json)
    print(json.dumps({k: report[k] for k in ("cross_validated_by_article", "leave_one_set_out", "today_rule_evidence_score_below_0.40", "answer_match", "reader_cost")}, indent=1))
    print(json.dumps(report["final_model"]["standardised_coef_by_size"]))


if __name__ == "__main__":
    main()
