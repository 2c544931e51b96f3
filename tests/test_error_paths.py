"""The error-path matrix: every `newsbot` command against every way the store can fail.

Each command (ingest, stats, search, ask, chat, remove, eval, feedback) meets: no store, a store
path that is a file, a store that cannot be written, a Chroma server that is down, and a Chroma
server that goes down once the command has connected. Each must print ONE line on standard error
that names the problem and its fix (no traceback), exit with the code the README documents, and
leave the store as it was. `feedback` reads only the bot's state file, never the Chroma server:
with the server down it still reports the votes.

Commands run in this process through typer's CliRunner (no 5 s model load per run). The
unwritable store is a read-only bind mount, which needs a mount namespace of its own
(`unshare -rm`): those cells run in one subprocess, which runs them with CliRunner too.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.chroma_server import ChromaServer, free_port

ROOT = Path(__file__).resolve().parents[1]
SHARED_BBC = ROOT.parent / "shared" / "data" / "bbc"

COMMANDS = ("ingest", "stats", "search", "ask", "chat", "remove", "eval", "feedback")
QUESTION = "How much did Time Warner earn?"


@dataclass
class Outcome:
    """What a user sees of one run."""

    code: int
    out: str
    err: str
    crashed: str  # the exception that escaped the command ('' when none did)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def command_args(command: str, store: Path, corpus: Path, questions: Path) -> tuple[list[str], str | None]:
    """The command line of `command` on `store` (its standard input for chat)."""
    args = {
        "ingest": ["ingest", str(corpus)],
        "stats": ["stats", "--json"],
        "search": ["search", "Time Warner profits", "--k", "3"],
        "ask": ["ask", QUESTION],
        "chat": ["chat"],
        "remove": ["remove", "business/001"],
        "eval": ["eval", "--questions", str(questions)],
        "feedback": ["feedback"],
    }[command]
    return [*args, "--store", str(store)], (f"{QUESTION}\n/quit\n" if command == "chat" else None)


def invoke(args: list[str], env: dict[str, str], stdin: str | None = None) -> Outcome:
    """Run `newsbot ARGS` in this process with `env` set; return what the user would see."""
    from typer.testing import CliRunner

    from bot.cli import app
    from bot.logs import NOISY

    # The command configures logging for its process; in this one, later tests need theirs back.
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {name: logging.getLogger(name).level for name in NOISY}
    try:
        result = CliRunner().invoke(app, args, input=stdin, env={"COLUMNS": "200", **env})
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    crashed = "" if result.exception is None or isinstance(result.exception, SystemExit) else repr(result.exception)
    return Outcome(result.exit_code, result.stdout, result.stderr, crashed)


def snapshot(path: Path) -> dict[str, str]:
    """Every file under `path` (or `path` itself) with its hash: what 'left as it was' compares."""
    if not path.exists():
        return {}
    if path.is_file():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*")) if f.is_file()
    }


def assert_one_line(outcome: Outcome, code: int, *words: str) -> None:
    assert not outcome.crashed, outcome.crashed
    assert "Traceback" not in outcome.err + outcome.out
    assert outcome.code == code, (outcome.code, outcome.err)
    [line] = outcome.error_lines
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


# --- shared files: a corpus, a question file, one small store built once ------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("error-paths")
    for name, numbers in (("corpus", ("001", "002", "003")), ("new", ("004",))):
        folder = base / name / "business"
        folder.mkdir(parents=True)
        for n in numbers:
            (folder / f"{n}.txt").write_bytes((SHARED_BBC / "business" / f"{n}.txt").read_bytes())
    (base / "questions.jsonl").write_text(
        json.dumps({"id": "q1", "question": QUESTION, "gold": ["business/001"]}) + "\n", encoding="utf-8"
    )
    return base


@pytest.fixture(scope="module")
def env(base: Path) -> Iterator[dict[str, str]]:
    """The environment of every run: no .env (cwd is the temp folder), no server."""
    cwd = os.getcwd()
    os.chdir(base)
    yield {"CHROMA_URL": "", "COLLECTION": "", "HF_HUB_OFFLINE": "1"}
    os.chdir(cwd)


def add_bot_state(store: Path) -> None:
    """A bot state file, so `feedback` has votes to read and opens the store."""
    from bot.state import BotState

    state = BotState(store / "newsbot-bot.sqlite")
    state.feedback_totals()
    state.close()


@pytest.fixture(scope="module")
def store(base: Path, env: dict[str, str]) -> Path:
    """An embedded store of three articles (with bot state)."""
    store = base / "store"
    built = invoke(["ingest", str(base / "corpus"), "--store", str(store)], env)
    assert built.code == 0, built.err
    add_bot_state(store)
    return store


# --- no store, a path that is a file ------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_no_store(command: str, base: Path, env: dict[str, str]) -> None:
    missing = base / "no-such-store"
    args, stdin = command_args(command, missing, base / "new", base / "questions.jsonl")
    outcome = invoke(args, env, stdin)
    if command == "ingest":  # the one command that creates a store
        assert outcome.code == 0 and (missing / "chroma.sqlite3").is_file(), outcome.err
        shutil.rmtree(missing)
        return
    if command == "feedback":  # the bot has not run there: its state file is named
        assert_one_line(outcome, 4, f"there is no bot state at {missing / 'newsbot-bot.sqlite'}", "point --store")
        assert not missing.exists()
        return
    assert_one_line(outcome, 4, f"there is no store at {missing}", "newsbot ingest")
    assert not missing.exists()  # a command that reads never creates one


@pytest.mark.parametrize("command", COMMANDS)
def test_store_path_is_a_file(command: str, base: Path, env: dict[str, str]) -> None:
    path = base / "a-file"
    path.write_text("not a store\n", encoding="utf-8")
    before = snapshot(path)
    args, stdin = command_args(command, path, base / "new", base / "questions.jsonl")
    outcome = invoke(args, env, stdin)
    assert_one_line(outcome, 4, f"the store path {path} is a file, not a folder", "point --store")
    assert snapshot(path) == before


# --- a store that cannot be written: a read-only bind mount in a namespace of its own -----------
def run_cells(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run each cell (args, stdin) in this process; their outcomes (for the namespace runner)."""
    return [asdict(invoke(cell["args"], cell["env"], cell["stdin"])) for cell in cells]


def can_mount_read_only() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "mount", "--bind", "/tmp", "/tmp"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_mount_read_only(), reason="needs `unshare -rm` (user and mount namespaces)")
def test_unwritable_store(base: Path, store: Path, env: dict[str, str]) -> None:
    before = snapshot(store)
    cells = []
    for command in COMMANDS:
        args, stdin = command_args(command, store, base / "new", base / "questions.jsonl")
        cells.append({"args": args, "stdin": stdin, "env": env})
    script = "import json, sys; from tests.test_error_paths import run_cells; print(json.dumps(run_cells(json.load(sys.stdin))))"
    mount = f"mount --bind {store} {store} && mount -o remount,ro,bind {store} && exec {sys.executable} -c '{script}'"
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", mount], input=json.dumps(cells), capture_output=True, text=True,
        cwd=base, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = [Outcome(**o) for o in json.loads(done.stdout.splitlines()[-1])]
    for command, outcome in zip(COMMANDS, outcomes, strict=True):
        print(command, outcome.code, outcome.error_lines)
        assert_one_line(outcome, 4, f"the store {store} cannot be written (read-only)", "check its permissions")
    assert snapshot(store) == before


# --- a Chroma server: down from the start, and going down once the command has connected ---------
class CuttableProxy:
    """An HTTP proxy in front of a Chroma server that forwards the first `cut_after` requests
    and then drops every connection without an answer, as a server that died does."""

    def __init__(self, target: str) -> None:
        import httpx

        self.target = httpx.Client(base_url=target, timeout=30)
        self.cut_after: int | None = None
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests += 1
                if proxy.cut_after is not None and proxy.requests > proxy.cut_after:
                    self.close_connection = True  # down: no answer at all
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = proxy.target.request(self.command, self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                for k, v in answer.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.target.close()


@pytest.fixture(scope="module")
def server_store(base: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChromaServer, dict[str, str], Path]]:
    """A Chroma server holding the three articles, its settings, and newsbot's state folder."""
    server = ChromaServer(tmp_path_factory.mktemp("error-paths-chroma") / "data")
    server.start()
    state = base / "server-state"
    server_env = {**env, "CHROMA_URL": server.url, "COLLECTION": "error-paths"}
    built = invoke(["ingest", str(base / "corpus"), "--store", str(state)], server_env)
    assert built.code == 0, built.err
    add_bot_state(state)
    yield server, server_env, state
    server.stop()


def chunk_count(server: ChromaServer) -> int:
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=server.port)
    return client.get_collection("error-paths").count()


@pytest.mark.parametrize("command", COMMANDS)
def test_chroma_server_down(command: str, base: Path, server_store: tuple[ChromaServer, dict[str, str], Path]) -> None:
    server, server_env, state = server_store
    down = f"http://127.0.0.1:{free_port()}"
    before = snapshot(state)
    args, stdin = command_args(command, state, base / "new", base / "questions.jsonl")
    outcome = invoke(args, {**server_env, "CHROMA_URL": down}, stdin)
    if command == "feedback":  # the votes are in the bot's state file, not on the server
        assert outcome.code == 0 and not outcome.error_lines and not outcome.crashed, outcome.err
        assert "0 votes on 0 answers" in outcome.out, outcome.out
    else:
        assert_one_line(outcome, 4, f"the Chroma server at {down} cannot be reached", "check that it is running")
    assert snapshot(state) == before


# What each command shows when the server dies under it. `chat` names the failed question's
# error and goes on to the next prompt (the session ends at /quit, exit 0); `feedback` reads
# only the bot's own state, never the server, so it finishes.
MID_COMMAND_CODE = {"chat": 0, "feedback": 0}


@pytest.mark.parametrize("command", COMMANDS)
def test_chroma_server_goes_down_mid_command(
    command: str, base: Path, server_store: tuple[ChromaServer, dict[str, str], Path]
) -> None:
    from bot.app import build_app
    from retrieval.settings import Settings

    server, server_env, state = server_store
    proxy = CuttableProxy(server.url)
    try:
        proxied = {**server_env, "CHROMA_URL": proxy.url}
        # How many requests opening the app takes: the server dies right after them.
        from langchain_core.embeddings import DeterministicFakeEmbedding

        settings = Settings(store_dir=state, chroma_url=proxy.url, collection="error-paths", _env_file=None)  # type: ignore[call-arg]
        build_app(settings, embeddings=DeterministicFakeEmbedding(size=8)).open().close()
        proxy.cut_after, proxy.requests = proxy.requests, 0
        chunks = chunk_count(server)
        args, stdin = command_args(command, state, base / "new", base / "questions.jsonl")
        outcome = invoke(args, proxied, stdin)
    finally:
        proxy.close()
    assert proxy.requests > proxy.cut_after or command == "feedback", "the command reached the server after it died"
    if command == "feedback":
        assert outcome.code == 0 and not outcome.error_lines and not outcome.crashed, outcome.err
    else:
        assert_one_line(outcome, MID_COMMAND_CODE.get(command, 4), f"the Chroma server at {proxy.url} cannot be reached")
    assert chunk_count(server) == chunks


# --- usage errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [["search", "oil", "--k", "0"], ["search", "oil", "--k", "-1"], ["eval", "--questions", "q.jsonl", "--k", "-5"]],
)
def test_a_depth_below_one_is_a_usage_error(args: list[str], base: Path, env: dict[str, str]) -> None:
    """`--k 0` used to print nothing and exit 0: it is refused, naming the option (before any
    store is looked at)."""
    outcome = invoke([*args, "--store", str(base / "no-such-store")], env)
    assert outcome.code == 2 and not outcome.crashed
    assert "--k" in outcome.err and "greater than or equal to 1" in outcome.err
    assert outcome.out == ""


@pytest.mark.skipif(not can_mount_read_only(), reason="needs `unshare -rm` (user and mount namespaces)")
def test_a_read_only_catalog_names_the_store(tmp_path: Path) -> None:
    """newsbot's own SQLite files beside the store (what a Chroma server setup writes locally)
    on a read-only folder: the store and the fix are named, not sqlite3.OperationalError."""
    from ingest.catalog import Catalog

    catalog = Catalog(tmp_path / "newsbot-catalog.sqlite")
    catalog.set_meta("last_refresh", "yesterday")
    catalog.close()
    script = (
        "import sys; from pathlib import Path; from ingest.catalog import Catalog; "
        "from retrieval.errors import StoreUnusableError\n"
        "try:\n    Catalog(Path(sys.argv[1]) / 'newsbot-catalog.sqlite').set_meta('last_refresh', 'today')\n"
        "except StoreUnusableError as e:\n    print(e)"
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c",
         f'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec {sys.executable} -c "$2" "$1"',
         "sh", str(tmp_path), script],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stdout.startswith(f"the store {tmp_path} cannot be written (")
    assert done.stdout.strip().endswith("check its permissions")


def test_a_state_folder_that_is_a_file_beside_a_server(base: Path, env: dict[str, str]) -> None:
    """With CHROMA_URL the store path holds newsbot's own files: a file there is named as
    such, before the server is even tried."""
    path = base / "state-file"
    path.write_text("not a folder\n", encoding="utf-8")
    outcome = invoke(["stats", "--store", str(path)], {**env, "CHROMA_URL": f"http://127.0.0.1:{free_port()}"})
    assert_one_line(outcome, 4, f"the store path {path} is a file, not a folder")
