"""A real Chroma server for the server-mode tests: `chroma run` on 127.0.0.1, offline.

`ChromaServer(data_dir).start()` runs the `chroma` command that chromadb installs beside the
Python interpreter, in its own process group, and returns once `/api/v2/heartbeat` answers.
`stop()` ends the whole group; `start()` again (or `restart()`) brings it back on the same data
folder and port, which is what fault tests need. Its output goes to `<data_dir>.log`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from retrieval.settings import Settings

HOST = "127.0.0.1"

# Nothing may reach the internet: chromadb's product telemetry off, no OpenTelemetry export.
OFFLINE_ENV = {
    "ANONYMIZED_TELEMETRY": "False",
    "CHROMA_ANONYMIZED_TELEMETRY": "False",
    "OTEL_SDK_DISABLED": "true",
}


def chroma_command() -> str:
    """The `chroma` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "chroma"
    if beside.exists():
        return str(beside)
    found = shutil.which("chroma")
    if found is None:
        raise RuntimeError("the `chroma` command is missing: install chromadb in this environment")
    return found


def _die_with_parent() -> None:
    """In the child before exec (Linux): end the server if the test run itself is killed, so no
    orphan keeps the port. (The signal follows the thread that started the server: start it
    from the main thread.) Elsewhere `stop()` at teardown is all there is."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """One `chroma run --path DATA --host 127.0.0.1 --port PORT` process."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What CHROMA_URL is set to for this server."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def heartbeat(self) -> bool:
        """True when the server answers its heartbeat."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.url}/api/v2/heartbeat", timeout=1) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def start(self, timeout: float = 60.0) -> ChromaServer:
        """Start the server and wait for its heartbeat. Raises RuntimeError (with the end of its
        log) when it exits or does not answer within `timeout` seconds."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **OFFLINE_ENV}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [chroma_command(), "run", "--path", str(self.data_dir), "--host", HOST, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, so stop() ends every child
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"`chroma run` exited at start:\n{self.log_tail()}")
            if self.heartbeat():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"`chroma run` did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """End the server's process group (SIGTERM, then SIGKILL) and wait until the port is
        closed, so a search right after sees a server that is down."""
        process = self._process
        self._process = None
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + timeout
        while self._port_open() and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, timeout: float = 60.0) -> ChromaServer:
        """Stop the server and start it again on the same data folder and port."""
        self.stop()
        return self.start(timeout)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def _port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            return s.connect_ex((HOST, self.port)) == 0

    def __enter__(self) -> ChromaServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def server_settings(server: ChromaServer, store_dir: Path, **overrides: object) -> Settings:
    """Settings on `server`, in a collection no other test uses; newsbot's own state files
    (catalog, record manager, keyword index) in `store_dir`."""
    import uuid

    return Settings(  # type: ignore[call-arg]
        store_dir=store_dir,
        chroma_url=server.url,
        collection=f"test-{uuid.uuid4().hex[:16]}",
        _env_file=None,
        **overrides,
    )


NEWSBOT = [sys.executable, "-m", "bot.cli"]


def newsbot_env(settings: Settings) -> dict[str, str]:
    """The environment of a `newsbot` process configured as a user would: through the
    environment only (the store, the server, the collection), offline."""
    return {
        **os.environ,
        **OFFLINE_ENV,
        "CHROMA_URL": settings.chroma_url,
        "COLLECTION": settings.collection,
        "STORE_DIR": str(settings.store_dir),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


def newsbot(*args: str, settings: Settings, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the `newsbot` command with `args` to completion, configured by `settings`."""
    return subprocess.run(
        [*NEWSBOT, *args], env=newsbot_env(settings), cwd=cwd, capture_output=True, text=True, timeout=300
    )
