"""The `newsbot` command line: the terminal adapter to `ingest/` and `retrieval/`.

Each command opens the app (`bot.app.build_app`) inside its one `asyncio.run`, calls one thing of
`ingest/` or `retrieval/`, and prints what `bot/rendering.py` makes of the result.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot import rendering
from bot.app import App, build_app
from bot.logs import configure_logging
from retrieval.settings import Settings

if TYPE_CHECKING:  # the commands import these where they use them; here only for annotations
    from ingest.indexer import IngestReport
    from retrieval.models import Answer, Passage, SearchFilters

app = typer.Typer(
    help="newsbot: answers questions about the news, citing the passages it used.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)
log = logging.getLogger(__name__)

T = TypeVar("T")

StoreOption = Annotated[
    Path | None, typer.Option("--store", help="Store folder (default: STORE_DIR or ./data/chroma).")
]


def load_settings(store: Path | None = None) -> Settings:
    """Read the settings once; command-line options override the environment."""
    settings = Settings()
    if store is not None:
        settings.store_dir = store
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as one red line on standard error (never wrapped, so scripts and people
    see one line); return the Exit with `code` to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def with_app(settings: Settings, work: Callable[[App], Awaitable[T]], **options: Any) -> T:
    """Open the app, run `work` with it and close it: the command's one `asyncio.run`. Returns
    what `work` returns. The terminal keeps conversations in memory (each `newsbot ask` stands
    alone; a chat remembers until it ends); `options` go to `build_app` (commands that only read
    pass `create_store=False`). This is where the commands' known failures become one line:
    raises typer.Exit(4) with one red line when the store fails (no store, a path that is a
    file, a store that cannot be written, a server that cannot be reached, locked by a writer,
    empty); each error's message names the problem and what to do."""
    from retrieval.history import InMemoryHistory
    from retrieval.errors import RetrievalError

    async def main() -> T:
        async with build_app(settings, history=InMemoryHistory(settings.history_tokens), **options) as opened:
            return await work(opened)

    try:
        return asyncio.run(main())
    except RetrievalError as e:
        raise fail(str(e), 4) from None


def progress_bar(*, disable: bool = False) -> Progress:
    """A transient progress bar on standard error (never mixed into `--json` output)."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=True, disable=disable,
    )


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    configure_logging(verbose, err)


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
    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("reading sources", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, description="indexing articles", completed=done, total=total)

        async def work(opened: App) -> IngestReport:
            return await asyncio.to_thread(
                opened.indexer.ingest, targets, prune=prune, dry_run=dry_run, outlet=outlet, progress=progress
            )

        report = with_app(load_settings(store), work)
    if as_json:
        payload = {**report.counts(), "chunks_added": report.chunks_added, "dry_run": report.dry_run,
                   "failures": [{"input": f.source, "reason": f.reason} for f in report.failed]}
        console.print_json(json.dumps(payload))
    else:
        for failure in report.failed:
            err.print(f"[red]failed[/red] {failure.source}: {failure.reason}", highlight=False, soft_wrap=True)
        console.print(rendering.counts_table(report.counts(), "ingest (dry run: nothing written)" if dry_run else "ingest"))
    raise typer.Exit(report.exit_code)


@app.command()
def stats(
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what is indexed: articles, chunks, outlets, date range, store and model."""

    async def work(opened: App) -> dict[str, Any]:
        return await asyncio.to_thread(opened.indexer.stats)

    data = with_app(load_settings(store), work, create_store=False)
    if as_json:
        console.print_json(json.dumps(data, default=str))
    else:
        console.print(rendering.stats_table(data))


@app.command()
def remove(
    key: Annotated[str, typer.Argument(help="The article's source_id or URL.")],
    store: StoreOption = None,
) -> None:
    """Delete one article from the index (for retractions)."""

    async def work(opened: App) -> list[str]:
        return await asyncio.to_thread(opened.indexer.remove, key)

    removed = with_app(load_settings(store), work, create_store=False)
    if not removed:
        raise fail(f"no indexed article has the source_id or URL {key!r}", 1)
    console.print(f"removed {', '.join(removed)}")


# --- asking -----------------------------------------------------------------------------------
def _filters(outlet: list[str] | None, since: str | None, until: str | None) -> SearchFilters:
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


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    outlet: OutletOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    k: Annotated[int, typer.Option("--k", min=1, help="How many passages.")] = 10,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the passages that best match QUERY, with article, outlet, date and score."""
    filters = _filters(outlet, since, until)

    async def work(opened: App) -> list[Passage]:
        return await opened.retriever.asearch(query, k=k, filters=filters)

    passages = with_app(load_settings(store), work, create_store=False)
    if as_json:
        console.print_json(json.dumps([rendering.passage_json(p) for p in passages]))
    elif not passages:
        console.print("No passage matches.")
    else:
        console.print(rendering.search_table(query, passages))


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
    filters = _filters(outlet, since, until)

    async def work(opened: App) -> Answer:
        return await opened.engine.ask("cli", question, filters=None if filters.is_empty() else filters)

    answer = with_app(load_settings(store), work, create_store=False)
    if as_json:
        console.print_json(json.dumps(rendering.answer_json(answer)))
    else:
        rendering.print_answer(console, answer)


@app.command()
def brief(
    topic: Annotated[str, typer.Argument(help="Only stories about this (default: all).")] = "",
    outlet: OutletOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    store: StoreOption = None,
) -> None:
    """Brief on the top stories of a period (default: the day before the newest article)."""
    from bot.formatting import render_briefing
    from retrieval.briefing import brief as make_briefing

    filters = _filters(outlet, since, until)

    async def work(opened: App) -> Any:
        return await make_briefing(
            opened.retriever, since=filters.since, until=filters.until, topic=topic, outlets=filters.outlets,
            summariser=opened.summariser,
        )

    console.print(render_briefing(with_app(load_settings(store), work)), markup=False, highlight=False, soft_wrap=True)


@app.command()
def chat(store: StoreOption = None) -> None:
    """Talk with newsbot in the terminal; follow-ups keep the conversation's context.
    Commands: /forget clears the memory, /quit leaves."""
    from bot.chat import run_chat

    async def work(opened: App) -> None:
        await run_chat(opened.engine, console, err)

    with_app(load_settings(store), work, create_store=False)


# --- evaluation -------------------------------------------------------------------------------
@app.command(name="eval")
def evaluate(
    questions: Annotated[Path, typer.Option("--questions", help="Question file (JSON lines).")],
    corpus: Annotated[list[Path] | None, typer.Option("--corpus", help="Folder(s) to ingest first (repeatable).")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="Store to use (default: a temporary one).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Retrieval depth scored.")] = 10,
    retriever: Annotated[str, typer.Option("--retriever", help="dense, bm25 or hybrid.")] = "hybrid",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics here.")] = None,
) -> None:
    """Run a question file through the whole pipeline and print hits@k, MRR, evidence recall,
    answer match, abstention, citation precision and latency, overall and per question type."""
    import tempfile

    from retrieval.evaluation import METRICS, evaluate as run_eval, load_questions, write_report

    if retriever not in ("dense", "bm25", "hybrid"):
        raise fail(f"--retriever must be dense, bm25 or hybrid, not {retriever!r}", 2)
    try:
        items = load_questions(questions)
    except (OSError, ValueError) as e:
        raise fail(str(e), 2) from None
    if store is None and not corpus:
        raise fail("give --corpus to ingest into a temporary store, or --store", 2)

    async def work(opened: App) -> dict[str, Any]:
        if corpus:
            with progress_bar() as bar:
                task = bar.add_task("reading the corpus", total=None)
                report = await asyncio.to_thread(
                    opened.indexer.ingest,
                    [str(c) for c in corpus],
                    progress=lambda done, total: bar.update(task, description="indexing", completed=done, total=total),
                )
            err.print(f"corpus: {report.counts()}", highlight=False)
        await asyncio.to_thread(opened.retriever.warm_up)
        return await run_eval(opened.engine, items, k=k)

    with tempfile.TemporaryDirectory(prefix="newsbot-eval-") as temporary:  # the store without --store
        settings = load_settings(store or Path(temporary))
        # Scoring a store already built must not create one where a mistyped --store points.
        result = with_app(settings, work, retriever_mode=retriever, create_store=bool(corpus))
    result["retriever"] = retriever
    result["questions"] = str(questions)
    console.print(rendering.eval_table(result, METRICS, f"eval: {questions.name} ({retriever}, k={k})"))
    if (kinds := rendering.null_kind_table(result, "null abstention by null_kind")) is not None:
        console.print(kinds)
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
    answers someone found unhelpful (newest first) with their question and sources.

    Reads only the bot's state file (`Settings.bot_state_path`): no store, model, index or
    Chroma server is opened, so nothing is created beside it. Exit code 4 with one line naming
    the file when it is missing (the bot has not run with this store) or is not a bot state,
    or naming the store when it cannot be written (SQLite writes beside the state to read it)."""
    import sqlite3

    from bot.state import BotState
    from retrieval.errors import StoreUnavailableError
    from retrieval.store import check_store, store_unwritable

    settings = load_settings(store)
    try:  # a store path that is a file is named as every command names it
        check_store(settings, create=True)
    except StoreUnavailableError as e:
        raise fail(str(e), 4) from None
    path = settings.bot_state_path
    if not path.is_file():  # reading must not create the bot's state
        raise fail(
            f"there is no bot state at {path}: the bot has not run with this store, so there are no votes; "
            "point --store (or STORE_DIR) at the store the bot uses",
            4,
        )

    async def read(state: BotState) -> tuple[dict[str, int], list[dict[str, Any]]]:
        totals = await asyncio.to_thread(state.feedback_totals)
        rated = await asyncio.to_thread(state.feedback_by_answer, unhelpful_only=not everything, limit=limit)
        return totals, rated

    state = BotState(path)
    try:
        totals, rated = asyncio.run(read(state))
    except sqlite3.OperationalError as e:
        if "readonly" in str(e) or "unable to open" in str(e):  # the state (or its journal) beside it
            raise fail(str(store_unwritable(path.parent, e)), 4) from None
        raise fail(f"cannot read the bot state {path} ({e})", 4) from None
    except sqlite3.DatabaseError as e:
        raise fail(f"the bot state {path} is not a newsbot state file ({e})", 4) from None
    finally:
        state.close()
    if as_json:
        console.print_json(json.dumps({**totals, "rated": rated}))
        return
    console.print(rendering.feedback_summary(totals), highlight=False)
    if rated:
        console.print(rendering.feedback_table(rated, "rated answers" if everything else "answers found unhelpful"))


@app.command()
def serve(store: StoreOption = None) -> None:
    """Run the Discord bot (needs DISCORD_TOKEN)."""
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
    from bot.sync import sync_global

    settings = load_settings()
    raise typer.Exit(asyncio.run(sync_global(settings)))


if __name__ == "__main__":
    app()
