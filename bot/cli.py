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
    for noisy in ("httpx", "chromadb", "sentence_transformers", "trafilatura", "htmldate"):
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


if __name__ == "__main__":
    app()
