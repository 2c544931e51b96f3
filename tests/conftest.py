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
