"""The one vector-store factory: embedded Chroma by default, a Chroma server with `CHROMA_URL`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from filelock import FileLock, Timeout

from retrieval.errors import StoreLockedError, StoreUnavailableError
from retrieval.settings import Settings

if TYPE_CHECKING:
    import chromadb
    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)


def open_client(settings: Settings) -> ClientAPI:
    """Return a Chroma client: `HttpClient` when `chroma_url` is set, else `PersistentClient`.

    Raises StoreUnavailableError when the server cannot be reached.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        headers = {}
        token = settings.chroma_token.get_secret_value()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=headers or None,
                settings=chroma_settings,
            )
        except Exception as e:
            raise StoreUnavailableError(
                f"the Chroma server at {settings.chroma_url} cannot be reached ({type(e).__name__})"
            ) from e
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)


def get_collection(client: ClientAPI, settings: Settings) -> chromadb.Collection:
    """Return the collection named after the embedding model, created with cosine distance."""
    return client.get_or_create_collection(
        settings.collection_name,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedding_model": settings.embedding_model},
    )


def open_vectorstore(settings: Settings, embeddings: Embeddings, client: ClientAPI | None = None) -> Chroma:
    """Return the LangChain `Chroma` vector store over the configured collection."""
    from langchain_chroma import Chroma

    client = client or open_client(settings)
    get_collection(client, settings)
    return Chroma(
        collection_name=settings.collection_name,
        embedding_function=embeddings,
        client=client,
    )


@contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the embedded store for writing, or raise StoreLockedError at once.

    Two processes writing one embedded Chroma folder corrupt it or hang (chroma issues #421,
    #7040), so a second writer is refused with a message that names the way out. A Chroma server
    serialises writers itself, so no lock is taken in server mode.
    """
    if settings.chroma_url:
        yield
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.state_dir / "newsbot-writer.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as e:
        raise StoreLockedError(
            f"the store {settings.store_dir} is being written by another newsbot process; "
            "wait for it to finish, or run a Chroma server and set CHROMA_URL so several "
            "processes can share the index"
        ) from e
    try:
        yield
    finally:
        lock.release()


VERSION_KEY = "newsbot_version"


def read_version(collection: chromadb.Collection) -> str:
    """Return the index version: it changes whenever any process adds or removes articles.

    It lives in the collection's metadata, so every process sharing a Chroma server sees it.
    """
    client_collection = collection
    metadata = client_collection.metadata or {}
    return str(metadata.get(VERSION_KEY, ""))


def bump_version(client: ClientAPI, settings: Settings) -> str:
    """Record that the index changed; return the new version."""
    import uuid

    collection = get_collection(client, settings)
    version = uuid.uuid4().hex
    metadata = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    metadata[VERSION_KEY] = version
    collection.modify(metadata=metadata)
    return version
