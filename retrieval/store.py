"""The one vector-store factory: embedded Chroma by default, a Chroma server with `CHROMA_URL`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from filelock import FileLock, Timeout

from retrieval.errors import StoreLockedError, StoreUnavailableError
from retrieval.settings import Settings

if TYPE_CHECKING:
    import chromadb
    import chromadb.config
    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)


# A Chroma server that accepts a connection but does not answer (overloaded, paused) must not
# hang a search or an ingest forever: chromadb's own HTTP session has no timeout.
SERVER_CONNECT_TIMEOUT = 5.0
SERVER_TIMEOUT = 60.0


def open_client(settings: Settings) -> ClientAPI:
    """Return a Chroma client: `HttpClient` when `chroma_url` is set, else `PersistentClient`.

    A server client raises StoreUnavailableError, naming the URL, whenever the server cannot be
    reached: here (chromadb connects at once) and on any later call while the server is down.
    It needs no reopening: the first call after the server is back works again.

    Raises StoreUnavailableError when the server cannot be reached or refuses the token.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        return _open_server(settings, chroma_settings)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)


def _open_server(settings: Settings, chroma_settings: chromadb.config.Settings) -> ClientAPI:
    import chromadb
    from chromadb.errors import AuthorizationError, ChromaAuthError

    url = urlparse(settings.chroma_url)
    shown = display_url(settings.chroma_url)
    headers: dict[str, str] = {}
    token = settings.chroma_token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            headers=headers or None,
            settings=chroma_settings,
        )
    except (ChromaAuthError, AuthorizationError) as e:
        raise StoreUnavailableError(
            f"the Chroma server at {shown} refused newsbot's credentials: check CHROMA_TOKEN"
        ) from e
    except Exception as e:
        raise server_unavailable(shown, e) from e
    _raise_unavailable_when_down(client, shown)
    return client


def display_url(url: str) -> str:
    """`url` without any user:password part, fit for messages and logs."""
    parsed = urlparse(url)
    if "@" not in parsed.netloc:
        return url
    return parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]).geturl()


def server_unavailable(shown_url: str, error: BaseException) -> StoreUnavailableError:
    """The error for a Chroma server that cannot be reached: the URL and the network reason
    (found in the exception chain: chromadb re-raises connection failures as ValueError)."""
    import httpx

    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, httpx.TransportError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, httpx.TimeoutException):
        reason = "it did not answer in time"
    elif cause is not None:
        reason = str(cause) or type(cause).__name__
    else:
        reason = str(error) or type(error).__name__
    return StoreUnavailableError(
        f"the Chroma server at {shown_url} cannot be reached ({reason}); "
        "check that it is running and that CHROMA_URL points to it"
    )


def _raise_unavailable_when_down(client: ClientAPI, shown_url: str) -> None:
    """Make every request of `client` time out and fail with StoreUnavailableError when the
    server is unreachable, instead of hanging or raising httpx's errors from deep in chromadb.

    chromadb sends every request of a server client through one method of its HTTP API object;
    it is wrapped on this client's instance only (each `HttpClient` gets its own)."""
    import httpx

    server = getattr(client, "_server", None)
    send = getattr(server, "_make_request", None)
    if server is None or send is None:
        log.warning("this chromadb version is not the one newsbot knows: a Chroma server that "
                    "goes down will raise chromadb's own errors")
        return
    timeout = httpx.Timeout(SERVER_TIMEOUT, connect=SERVER_CONNECT_TIMEOUT)

    def make_request(method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        try:
            return send(method, path, **kwargs)
        except httpx.TransportError as e:
            raise server_unavailable(shown_url, e) from e

    setattr(server, "_make_request", make_request)  # noqa: B010 - an instance attribute


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
    lock = FileLock(str(settings.writer_lock_path))
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
