"""What the `newsbot` command prints: answers with their sources, and the summary tables.

Each function takes plain values and returns a rich renderable or JSON-ready dict (or prints an
answer to the console given), so `bot/cli.py` only parses options and calls `retrieval/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.formatting import when
from retrieval.models import Answer, Passage

SNIPPET_CHARS = 240


def passage_json(p: Passage) -> dict[str, Any]:
    """A passage as `--json` prints it."""
    return {
        "source_id": p.source_id, "title": p.title, "outlet": p.outlet, "url": p.url,
        "published_at": p.published_at.isoformat() if p.published_at else None,
        "score": round(p.score, 4), "char_start": p.char_start, "char_end": p.char_end, "text": p.text,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as `newsbot ask --json` prints it."""
    return {
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "as_of": answer.as_of.isoformat() if answer.as_of else None,
        "notice": answer.notice,
        "answerer": answer.answerer,
        "citations": [{"n": c.n, "quote": c.quote, **passage_json(c.passage)} for c in answer.citations],
        "closest": [passage_json(p) for p in answer.closest],
    }


def print_answer(console: Console, answer: Answer) -> None:
    """The answer, then its numbered sources with the cited passage (or, when it abstained, the
    closest articles)."""
    if answer.notice:
        console.print(f"[yellow]{answer.notice}[/yellow]", highlight=False)
    console.print(answer.text, highlight=False, soft_wrap=True)
    if answer.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in answer.citations:
            p = c.passage
            meta = ", ".join(x for x in (p.outlet, when(p.published_at)) if x)
            console.print(f"[bold][{c.n}][/bold] {p.title or p.source_id}" + (f" ({meta})" if meta else ""), highlight=False)
            console.print(f"    {p.url or p.source_id}", highlight=False, style="blue")
            console.print(f"    [dim]\u201c{(c.quote or p.text).strip()}\u201d[/dim]", highlight=False, soft_wrap=True)
    elif answer.abstained and answer.closest:
        console.print("\n[bold]Closest articles[/bold]")
        for p in answer.closest:
            console.print(f"  - {p.title or p.source_id} ({p.outlet or '?'}) {p.url or p.source_id}", highlight=False)


def counts_table(counts: dict[str, int], title: str) -> Table:
    """One row of counts (an ingest's added / updated / unchanged ...)."""
    table = Table(title=title)
    for name in counts:
        table.add_column(name, justify="right")
    table.add_row(*(str(v) for v in counts.values()))
    return table


def stats_table(data: dict[str, Any]) -> Table:
    """What `Indexer.stats` reports, one line per item."""
    table = Table(title="newsbot index", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("articles", str(data["articles"]))
    table.add_row("stories", str(data["stories"]))
    table.add_row("locations (incl. exact duplicates)", str(data["locations"]))
    table.add_row("chunks", str(data["chunks_in_store"]))
    outlets = ", ".join(f"{k or '(none)'} ({v})" for k, v in data["outlets"].items())
    table.add_row("outlets", outlets or "-")
    table.add_row("oldest article", str(data["oldest"] or "-"))
    table.add_row("newest article", str(data["newest"] or "-"))
    table.add_row("last refresh", str(data["last_refresh"] or "-"))
    table.add_row("store", f"{data['store']} (collection {data['collection']})")
    table.add_row("embedding model", data["embedding_model"])
    return table


def search_table(query: str, passages: Sequence[Passage]) -> Table:
    """The passages found for `query`, best first, with a snippet of each."""
    table = Table(title=f"search: {query}", show_lines=True)
    for column in ("#", "article", "outlet", "date", "score", "passage"):
        table.add_column(column)
    for i, p in enumerate(passages, 1):
        snippet = " ".join(p.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "…"
        table.add_row(str(i), f"{p.title}\n[dim]{p.source_id}[/dim]", p.outlet, when(p.published_at), f"{p.score:.3f}", snippet)
    return table


def eval_table(result: dict[str, Any], metrics: Sequence[str], title: str) -> Table:
    """The metrics per question type, then over all questions."""
    rows = [*result["by_type"].items(), ("all", result)]
    table = Table(title=title)
    table.add_column("metric")
    for name, _ in rows:
        table.add_column(name, justify="right")

    def cell(value: Any, metric: str) -> str:
        if value is None:
            return "-"
        return f"{value:.0f}" if metric.endswith("_ms") else f"{value:.3f}"

    table.add_row("n", *(str(row["n"]) for _, row in rows))
    for metric in metrics:
        table.add_row(metric, *(cell(row[metric], metric) for _, row in rows))
    return table


def null_kind_table(result: dict[str, Any], title: str) -> Table | None:
    """Null abstention per `null_kind` (None when the question file gives no kinds)."""
    kinds = result.get("by_null_kind")
    if not kinds:
        return None
    table = Table(title=title)
    for column in ("null kind", "n", "null_abstention"):
        table.add_column(column, justify="right" if column != "null kind" else "left")
    for kind, row in kinds.items():
        table.add_row(kind, str(row["n"]), f"{row['null_abstention']:.3f}")
    return table


def feedback_summary(totals: dict[str, int]) -> str:
    """'4 votes on 2 answers: 3 helpful, 1 not helpful (75% helpful)'."""
    share = f" ({totals['helpful'] / totals['votes']:.0%} helpful)" if totals["votes"] else ""
    votes, answers = totals["votes"], totals["answers"]
    return (
        f"{votes} vote{'s' * (votes != 1)} on {answers} answer{'s' * (answers != 1)}: "
        f"{totals['helpful']} helpful, {totals['not_helpful']} not helpful{share}"
    )


def feedback_table(rated: Sequence[dict[str, Any]], title: str) -> Table:
    """The rated answers: when last voted on, the question as typed, the votes, the sources."""
    table = Table(title=title)
    for column in ("last vote", "question", "up", "down", "sources"):
        table.add_column(column)
    for row in rated:
        voted = datetime.fromtimestamp(float(row["last_vote"])).astimezone().strftime("%Y-%m-%d %H:%M")
        sources = "\n".join(f"[{s['n']}] {s['title']} ({s['source_id']})" for s in row["sources"]) or "-"
        table.add_row(voted, escape(str(row["question"])), str(row["helpful"]), str(row["not_helpful"]), escape(sources))
    return table
