"""Scores of timeline and disagreement answers, for `newsbot eval`.

A `timeline` question lists the events its answer should hold, each as a few words that must
appear together in one line of the timeline and the day (`2025-02-14`), month (`2025-02`) or
year (`2025`) it happened. A `conflict` question says whether its articles disagree on the asked
figure (`disagree`) and, when they do, values that should be shown (`values`).

- timeline: the share of expected events present (`event_recall`), the share of those whose line
  carries the right date (`dates_right`: the line's date lies within the expected one; of the
  lines holding an event's words, one with the right date is the event's line), and the share of
  pairs of found events in the right order (`order_right`);
- conflict: whether the answer reported a disagreement (`reported`), and the share of expected
  values it shows (`values_shown`).
"""

from __future__ import annotations

import re
from datetime import date
from itertools import combinations

from pydantic import BaseModel, Field

from retrieval.disagreement import REPORT_OPENINGS
from retrieval.citations import normalize as normalise

_LINE_DATE = re.compile(r"^- (?:As of )?(?P<label>[^:]{4,20}):\s")
_MONTHS = {name: i for i, name in enumerate(
    "January February March April May June July August September October November December".split(), 1)}


class ExpectedEvent(BaseModel):
    """An event a timeline should list: words that must appear in its line, and when it was."""

    words: list[str]
    date: str = Field(description="YYYY-MM-DD, YYYY-MM or YYYY")


def parse_label(label: str) -> tuple[date, str] | None:
    """Return the day a timeline line's date label starts and its precision ('day', 'month',
    'year'), or None for 'Undated' or anything else."""
    parts = label.split()
    try:
        if len(parts) == 3:
            return date(int(parts[2]), _MONTHS[parts[1]], int(parts[0])), "day"
        if len(parts) == 2:
            return date(int(parts[1]), _MONTHS[parts[0]], 1), "month"
        if len(parts) == 1 and parts[0].isdigit():
            return date(int(parts[0]), 1, 1), "year"
    except (KeyError, ValueError):
        return None
    return None


def date_within(label: str, expected: str) -> bool:
    """True when the line's date (`label`) lies within the expected date: the same day, or a day
    of the expected month or year (a line vaguer than expected is not right)."""
    parsed = parse_label(label)
    if parsed is None:
        return False
    day, precision = parsed
    pieces = [int(p) for p in expected.split("-")]
    if len(pieces) == 3:
        return precision == "day" and day == date(*pieces)
    if len(pieces) == 2:
        return precision in ("day", "month") and (day.year, day.month) == (pieces[0], pieces[1])
    return day.year == pieces[0]


def score_timeline(answer_text: str, events: list[ExpectedEvent]) -> dict[str, float | None]:
    """Return `event_recall`, `dates_right` and `order_right` of a timeline answer (None where
    nothing was found to judge)."""
    lines = [line for line in answer_text.splitlines() if line.startswith("- ")]
    found: list[tuple[int, ExpectedEvent, str]] = []
    for event in events:
        wanted = [normalise(w) for w in event.words]
        holding = [
            (index, match.group("label") if (match := _LINE_DATE.match(line)) else "")
            for index, line in enumerate(lines)
            if all(w in normalise(line) for w in wanted)
        ]
        # The event's line is one that holds its words on its date: a timeline may name the
        # same words in an earlier event ("died" of a predecessor, "China" in a later round).
        # Without such a line, the first line holding the words is judged (and its date is wrong).
        right = [(index, label) for index, label in holding if date_within(label, event.date)]
        if holding:
            index, label = (right or holding)[0]
            found.append((index, event, label))
    recall = len(found) / len(events) if events else None
    dates = sum(date_within(label, event.date) for _, event, label in found) / len(found) if found else None
    # Two events of different dates on one line are not put in any order (the line's one date is
    # already wrong for one of them): only events on different lines are judged for order.
    pairs = [(a, b) for a, b in combinations(found, 2) if a[1].date != b[1].date and a[0] != b[0]]
    ordered = (
        sum((a[0] < b[0]) == (a[1].date < b[1].date) for a, b in pairs) / len(pairs) if pairs else None
    )
    return {"event_recall": recall, "dates_right": dates, "order_right": ordered}


def reported_disagreement(answer_text: str) -> bool:
    """True when the answer shows figures that disagree (or an outlet's update)."""
    return answer_text.startswith(REPORT_OPENINGS)


def score_conflict(answer_text: str, values: list[str]) -> dict[str, float | None]:
    """Return `reported` (1.0 or 0.0) and `values_shown` (share of `values` in the report line)."""
    first = answer_text.splitlines()[0] if answer_text else ""
    reported = reported_disagreement(answer_text)
    shown = sum(normalise(v) in normalise(first) for v in values) / len(values) if values and reported else None
    return {"reported": float(reported), "values_shown": shown}
