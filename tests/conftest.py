"""Shared fixtures: settings on a temporary store, the shared data folder, a fake embedder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from retrieval.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, which CI puts beside the clone."""
    assert SHARED.is_dir(), f"../shared/data is missing (looked in {SHARED})"
    return SHARED


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a fresh temporary store, ignoring any `.env` in the working tree."""
    monkeypatch.chdir(tmp_path)
    return Settings(store_dir=tmp_path / "store", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def fake_embeddings() -> DeterministicFakeEmbedding:
    return DeterministicFakeEmbedding(size=32)


@pytest.fixture(scope="session")
def local_embeddings() -> Iterator[object]:
    """The real all-MiniLM-L6-v2 model, loaded once per test session."""
    from retrieval.embeddings import LocalEmbeddings

    yield LocalEmbeddings("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def llama_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp serving gemma-3-270m on a free port (one per session, for the LLM and the bot
    tests): 2048 tokens of context, 2 threads."""
    from tests.support.llm_server import assemble_model, start_llama_server

    model = assemble_model(tmp_path_factory.mktemp("gguf"))
    server = start_llama_server(model, n_ctx=2048, threads=2)
    yield server.base_url
    server.close()


# Fixtures of the bot's end-to-end tests (shared so the session-scoped store is built once).
from tests.support.bot_fixtures import news_stack, state  # noqa: E402,F401
from tests.support.fake_discord import fake_discord  # noqa: E402,F401


# --- Chroma server mode: a real `chroma run`, and store tests over both backends ----------------
from tests.support.chroma_server import ChromaServer, server_settings  # noqa: E402


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One Chroma server on 127.0.0.1 for the whole session (tests keep apart by collection
    name). Don't stop it in a test: use `own_chroma_server` for that."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A Chroma server of this test alone, free to `stop()` and `start()` (or `restart()`)."""
    server = ChromaServer(tmp_path / "chroma-server" / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a fresh store, once embedded and once on the session's Chroma server (which
    starts only when a server test runs). A drop-in for `settings` in store tests."""
    monkeypatch.chdir(tmp_path)
    if request.param == "embedded":
        return Settings(store_dir=tmp_path / "store", chroma_url="", _env_file=None)  # type: ignore[call-arg]
    return server_settings(request.getfixturevalue("chroma_server"), tmp_path / "store")
