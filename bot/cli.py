"""The `newsbot` command line: the terminal adapter to `ingest/` and `retrieval/`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from retrieval.settings import Settings

app = typer.Typer(
    help="newsbot: answers questions about the news, citing the passages it used.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)
log = logging.getLogger(__name__)

StoreOption = Annotated[
    Path | None, typer.Option("--store", help="Store folder (default: STORE_DIR or ./data/chroma).")
]


def configure_logging(verbose: bool) -> None:
    """Configure logging once, for the whole process."""
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )
    for noisy in ("httpx", "chromadb", "sentence_transformers", "trafilatura", "htmldate", "bm25s", "discord"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def load_settings(store: Path | None = None) -> Settings:
    """Read the settings once; command-line options override the environment."""
    settings = Settings()
    if store is not None:
        settings.store_dir = store
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    configure_logging(verbose)


def _indexer(settings: Settings) -> Any:
    from ingest.indexer import Indexer

    return Indexer(settings)


@app.command()
def ingest(
    targets: Annotated[list[str], typer.Argument(help="Files, folders, feed URLs or page URLs.")],
    prune: Annotated[bool, typer.Option(help="Delete articles that disappeared from these sources.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show what would change; write nothing.")] = False,
    outlet: Annotated[str, typer.Option(help="Outlet name for articles that don't carry one.")] = "",
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest articles: clean, chunk, embed and index them, skipping what is unchanged.

    Exit code: 0 when every input went in, 1 when some failed, 2 when all failed.
    """
    from retrieval.errors import RetrievalError

    settings = load_settings(store)
    indexer = _indexer(settings)
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("reading sources", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, description="indexing articles", completed=done, total=total)

            report = indexer.ingest(targets, prune=prune, dry_run=dry_run, outlet=outlet, progress=progress)
    except RetrievalError as e:
        raise fail(str(e), 4) from None
    finally:
        indexer.close()
    if as_json:
        payload = {**report.counts(), "chunks_added": report.chunks_added, "dry_run": report.dry_run,
                   "failures": [{"input": f.source, "reason": f.reason} for f in report.failed]}
        console.print_json(json.dumps(payload))
    else:
        for failure in report.failed:
            err.print(f"[red]failed[/red] {failure.source}: {failure.reason}", highlight=False, soft_wrap=True)
        title = "ingest (dry run: nothing written)" if dry_run else "ingest"
        table = Table(title=title)
        for name in report.counts():
            table.add_column(name, justify="right")
        table.add_row(*(str(v) for v in report.counts().values()))
        console.print(table)
    raise typer.Exit(report.exit_code)


@app.command()
def stats(
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what is indexed: articles, chunks, outlets, date range, store and model."""
    settings = load_settings(store)
    indexer = _indexer(settings)
    try:
        data = indexer.stats()
    finally:
        indexer.close()
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
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
    console.print(table)


@app.command()
def remove(
    key: Annotated[str, typer.Argument(help="The article's source_id or URL.")],
    store: StoreOption = None,
) -> None:
    """Delete one article from the index (for retractions)."""
    from retrieval.errors import RetrievalError

    settings = load_settings(store)
    indexer = _indexer(settings)
    try:
        removed = indexer.remove(key)
    except RetrievalError as e:
        raise fail(str(e), 4) from None
    finally:
        indexer.close()
    if not removed:
        raise fail(f"no indexed article has the source_id or URL {key!r}", 1)
    console.print(f"removed {', '.join(removed)}")


# --- asking -----------------------------------------------------------------------------------
def _filters(outlet: list[str] | None, since: str | None, until: str | None) -> Any:
    from datetime import date

    from retrieval.models import SearchFilters

    def day(value: str | None, option: str) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise fail(f"{option} {value!r} is not a date like 2017-03-02", 2) from None

    return SearchFilters(outlets=outlet or [], since=day(since, "--since"), until=day(until, "--until"))


OutletOption = Annotated[list[str] | None, typer.Option("--outlet", help="Only this outlet (repeatable).")]
SinceOption = Annotated[str | None, typer.Option("--since", help="Only articles published on or after (YYYY-MM-DD).")]
UntilOption = Annotated[str | None, typer.Option("--until", help="Only articles published on or before (YYYY-MM-DD).")]


def _engine(settings: Settings) -> Any:
    from retrieval.service import build_engine

    return build_engine(settings)


def _passage_json(p: Any) -> dict[str, Any]:
    return {
        "source_id": p.source_id, "title": p.title, "outlet": p.outlet, "url": p.url,
        "published_at": p.published_at.isoformat() if p.published_at else None,
        "score": round(p.score, 4), "char_start": p.char_start, "char_end": p.char_end, "text": p.text,
    }


def _answer_json(answer: Any) -> dict[str, Any]:
    return {
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "as_of": answer.as_of.isoformat() if answer.as_of else None,
        "notice": answer.notice,
        "answerer": answer.answerer,
        "citations": [{"n": c.n, "quote": c.quote, **_passage_json(c.passage)} for c in answer.citations],
        "closest": [_passage_json(p) for p in answer.closest],
    }


def print_answer(answer: Any) -> None:
    """The answer, then its numbered sources with the cited passage."""
    from bot.formatting import when

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


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    outlet: OutletOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    k: Annotated[int, typer.Option("--k", help="How many passages.")] = 10,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the passages that best match QUERY, with article, outlet, date and score."""
    from bot.formatting import when
    from retrieval.errors import RetrievalError
    from retrieval.hybrid import HybridRetriever

    settings = load_settings(store)
    filters = _filters(outlet, since, until)
    try:
        passages = HybridRetriever.from_settings(settings).search(query, k=k, filters=filters)
    except RetrievalError as e:
        raise fail(str(e), 4) from None
    if as_json:
        console.print_json(json.dumps([_passage_json(p) for p in passages]))
        return
    if not passages:
        console.print("No passage matches.")
        return
    table = Table(title=f"search: {query}", show_lines=True)
    for column in ("#", "article", "outlet", "date", "score", "passage"):
        table.add_column(column)
    for i, p in enumerate(passages, 1):
        snippet = " ".join(p.text.split())
        table.add_row(str(i), f"{p.title}\n[dim]{p.source_id}[/dim]", p.outlet, when(p.published_at),
                      f"{p.score:.3f}", snippet[:240] + ("…" if len(snippet) > 240 else ""))
    console.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    outlet: OutletOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer QUESTION from the indexed articles, citing the passages used."""
    from retrieval.errors import RetrievalError

    settings = load_settings(store)
    filters = _filters(outlet, since, until)
    engine = _engine(settings)
    try:
        answer = engine.ask_sync("cli", question, filters=None if filters.is_empty() else filters)
    except RetrievalError as e:
        raise fail(str(e), 4) from None
    finally:
        engine.close()
    if as_json:
        console.print_json(json.dumps(_answer_json(answer)))
    else:
        print_answer(answer)


@app.command()
def chat(store: StoreOption = None) -> None:
    """Talk with newsbot in the terminal; follow-ups keep the conversation's context.
    Commands: /forget clears the memory, /quit leaves."""
    from retrieval.errors import RetrievalError

    settings = load_settings(store)
    engine = _engine(settings)
    console.print("Ask about the news. [dim]/forget clears the memory, /quit (or Ctrl-D) leaves.[/dim]")
    try:
        while True:
            try:
                question = console.input("[bold green]you>[/bold green] ").strip()
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            if not question:
                continue
            if question in ("/quit", "/exit"):
                break
            if question == "/forget":
                engine.forget_sync("chat")
                console.print("[dim]forgotten[/dim]")
                continue
            try:
                answer = engine.ask_sync("chat", question)
            except RetrievalError as e:
                err.print(f"[red]{e}[/red]", highlight=False)
                continue
            if answer.standalone_question and answer.standalone_question != question:
                console.print(f"[dim](searched for: {answer.standalone_question})[/dim]", highlight=False)
            print_answer(answer)
    finally:
        engine.close()


# --- evaluation -------------------------------------------------------------------------------
@app.command(name="eval")
def evaluate(
    questions: Annotated[Path, typer.Option("--questions", help="Question file (JSON lines).")],
    corpus: Annotated[list[Path] | None, typer.Option("--corpus", help="Folder(s) to ingest first (repeatable).")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="Store to use (default: a temporary one).")] = None,
    k: Annotated[int, typer.Option("--k", help="Retrieval depth scored.")] = 10,
    retriever: Annotated[str, typer.Option("--retriever", help="dense, bm25 or hybrid.")] = "hybrid",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics here.")] = None,
) -> None:
    """Run a question file through the whole pipeline and print hits@k, MRR, evidence recall,
    answer match, abstention, citation precision and latency, overall and per question type."""
    import tempfile

    from retrieval.evaluation import METRICS, evaluate as run_eval, load_questions, write_report
    from retrieval.hybrid import HybridRetriever
    from retrieval.service import build_engine

    if retriever not in ("dense", "bm25", "hybrid"):
        raise fail(f"--retriever must be dense, bm25 or hybrid, not {retriever!r}", 2)
    try:
        items = load_questions(questions)
    except (OSError, ValueError) as e:
        raise fail(str(e), 2) from None
    temporary = None
    if store is None:
        if not corpus:
            raise fail("give --corpus to ingest into a temporary store, or --store", 2)
        temporary = tempfile.TemporaryDirectory(prefix="newsbot-eval-")
        store = Path(temporary.name)
    settings = load_settings(store)
    try:
        indexer = _indexer(settings)
        try:
            if corpus:
                with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
                    task = bar.add_task("reading the corpus", total=None)
                    report = indexer.ingest(
                        [str(c) for c in corpus],
                        progress=lambda done, total: bar.update(task, description="indexing", completed=done, total=total),
                    )
                err.print(f"corpus: {report.counts()}", highlight=False)
            embeddings = indexer.embeddings
            client = indexer.client
        finally:
            indexer.close()
        chosen = HybridRetriever.from_settings(settings, embeddings=embeddings, client=client, mode=retriever)
        chosen.warm_up()
        engine = build_engine(settings, embeddings=embeddings, client=client, retriever=chosen)
        try:
            result = run_eval(engine, items, k=k)
        finally:
            engine.close()
    finally:
        if temporary is not None:
            temporary.cleanup()
    result["retriever"] = retriever
    result["questions"] = str(questions)
    rows = [*result["by_type"].items(), ("all", result)]
    table = Table(title=f"eval: {questions.name} ({retriever}, k={k})")
    table.add_column("metric")
    for name, _ in rows:
        table.add_column(name, justify="right")

    def cell(value: Any, metric: str) -> str:
        if value is None:
            return "-"
        return f"{value:.0f}" if metric.endswith("_ms") else f"{value:.3f}"

    table.add_row("n", *(str(row["n"]) for _, row in rows))
    for metric in METRICS:
        table.add_row(metric, *(cell(row[metric], metric) for _, row in rows))
    console.print(table)
    if json_out:
        write_report(result, json_out)


# --- Discord -----------------------------------------------------------------------------------
@app.command()
def feedback(
    store: StoreOption = None,
    everything: Annotated[bool, typer.Option("--all", help="List every rated answer, not only the unhelpful ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many answers to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Report the helpful / not helpful votes given to the bot's answers: the totals, then the
    answers someone found unhelpful (newest first) with their question and sources."""
    from bot.state import BotState, state_path

    settings = load_settings(store)
    path = state_path(settings)
    if not path.is_file():  # reading must not create the bot's state
        if as_json:
            console.print_json(json.dumps({"votes": 0, "helpful": 0, "not_helpful": 0, "answers": 0, "rated": []}))
        else:
            console.print(f"no votes yet: the bot has not run with this store ({path} does not exist)")
        return
    state = BotState(path)
    try:
        totals = state.feedback_totals()
        rated = state.feedback_by_answer(unhelpful_only=not everything, limit=limit)
    finally:
        state.close()
    if as_json:
        console.print_json(json.dumps({**totals, "rated": rated}))
        return
    share = f" ({totals['helpful'] / totals['votes']:.0%} helpful)" if totals["votes"] else ""
    votes, answers = totals["votes"], totals["answers"]
    console.print(
        f"{votes} vote{'s' * (votes != 1)} on {answers} answer{'s' * (answers != 1)}: "
        f"{totals['helpful']} helpful, {totals['not_helpful']} not helpful{share}",
        highlight=False,
    )
    if not rated:
        return
    from datetime import datetime

    from rich.markup import escape

    table = Table(title="rated answers" if everything else "answers found unhelpful")
    for column in ("last vote", "question", "up", "down", "sources"):
        table.add_column(column)
    for row in rated:
        when = datetime.fromtimestamp(float(row["last_vote"])).astimezone().strftime("%Y-%m-%d %H:%M")
        sources = "\n".join(f"[{s['n']}] {s['title']} ({s['source_id']})" for s in row["sources"]) or "-"
        table.add_row(when, escape(str(row["question"])), str(row["helpful"]), str(row["not_helpful"]), escape(sources))
    console.print(table)


@app.command()
def serve(store: StoreOption = None) -> None:
    """Run the Discord bot (needs DISCORD_TOKEN)."""
    import asyncio

    from bot.__main__ import run

    settings = load_settings(store)
    logging.getLogger().setLevel(logging.INFO)
    try:
        code = asyncio.run(run(settings))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


@app.command()
def sync() -> None:
    """Sync the slash commands globally (they can take up to an hour to appear everywhere).
    The bot never does this by itself; with DEV_GUILD_ID it syncs that guild at start-up."""
    import asyncio

    from bot.sync import sync_global

    settings = load_settings()
    raise typer.Exit(asyncio.run(sync_global(settings)))


if __name__ == "__main__":
    app()
