"""A timeline in Discord: split at 2,000 characters between its lines, the sources listed."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.formatting import MESSAGE_LIMIT, render_answer, split_message
from retrieval.models import Answer, Citation, Passage


def test_a_long_timeline_splits_between_lines_and_keeps_its_sources() -> None:
    passages = [
        Passage(chunk_id=f"s{i}#0", text=f"Event {i} happened. " + "Detail " * 40, source_id=f"s{i}", story_id="s",
                title=f"Story part {i}", url=f"https://example.com/{i}", outlet="USA Today",
                published_at=datetime(2025, 2, 10 + i, tzinfo=UTC))
        for i in range(10)
    ]
    lines = [f"- {10 + i} February 2025: Event {i} happened, " + "with detail " * 25 + f"[{i + 1}]." for i in range(10)]
    lines[-1] = "- As of" + lines[-1][1:]
    answer = Answer(question="How did it unfold?", text="\n".join(lines), answerer="timeline",
                    citations=[Citation(n=i + 1, passage=p, quote=p.text[:19]) for i, p in enumerate(passages)])
    pieces = split_message(render_answer(answer))
    assert len(pieces) >= 2 and all(len(piece) <= MESSAGE_LIMIT for piece in pieces)
    shown_lines = [line for piece in pieces for line in piece.splitlines() if line.startswith("- ")]
    assert shown_lines == lines, "no event line is cut"
    assert "**Sources**" in pieces[-1] and "(<https://example.com/0>)" in pieces[-1]
    assert "... and 5 more (`/sources`)" in pieces[-1]
