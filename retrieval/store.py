"""The store: the one vector-store factory (embedded Chroma by default, a Chroma server with
`CHROMA_URL`), the writer lock, the store version, and `ChunkStore`, through which retrieval
reads the chunks and what is known of them (`ChunkTable`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from filelock import FileLock, Timeout

from retrieval.chunk_table import ChunkTable
from retrieval.errors import StoreLockedError, StoreMissingError, StoreUnavailableError, StoreUnusableError
from retrieval.query import Coverage
from retrieval.schema import ChunkInfo, Metadata
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


# The file an embedded Chroma store always holds: a folder without it is not a store.
EMBEDDED_STORE_FILE = "chroma.sqlite3"


def open_client(settings: Settings, *, create: bool = True) -> ClientAPI:
    """Return a Chroma client: `HttpClient` when `chroma_url` is set, else `PersistentClient`.

    A server client raises StoreUnavailableError, naming the URL, whenever the server cannot be
    reached: here (chromadb connects at once) and on any later call while the server is down.
    It needs no reopening: the first call after the server is back works again.

    An embedded store is created when `create` is true; commands that only read pass false, so
    a mistyped path is refused instead of becoming an empty store.

    Raises StoreUnavailableError when the server cannot be reached or refuses the token,
    StoreMissingError when `create` is false and there is no embedded store, StoreUnusableError
    when the store path is a file or cannot be written.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        return _open_server(settings, chroma_settings)
    check_store(settings, create=create)
    store = settings.store_dir
    try:
        store.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(store), settings=chroma_settings)
    except Exception as e:
        _forget_failed_store(str(store))
        # chromadb writes (migrations, its system tables) on opening, so a read-only store fails
        # here: with an OSError, or chromadb's InternalError carrying SQLite's message.
        if isinstance(e, OSError) or "readonly database" in str(e) or "unable to open database" in str(e):
            raise store_unwritable(store, e) from e
        raise


def _forget_failed_store(path: str) -> None:
    """Drop chromadb's cached system for `path` after a failed open: chromadb keeps one per
    folder per process and would hand the half-started one to the next open (an AttributeError
    deep inside it instead of the store's real state)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    if isinstance(systems, dict):
        systems.pop(path, None)


def check_store(settings: Settings, *, create: bool) -> None:
    """Check the store's path before anything opens it: the folder of the embedded store, or of
    newsbot's own files beside a Chroma server.

    Raises StoreUnusableError when the path is not a folder, StoreMissingError when `create` is
    false and the folder holds no embedded store (a server's store is the server's to check)."""
    store = settings.store_dir
    if store.exists() and not store.is_dir():
        raise StoreUnusableError(
            f"the store path {store} is a file, not a folder: point --store (or STORE_DIR) at a folder"
        )
    if settings.chroma_url:
        return
    if not create and not (store / EMBEDDED_STORE_FILE).is_file():
        raise StoreMissingError(
            f"there is no store at {store}: create one with `newsbot ingest FILES... --store {store}`, "
            "or point --store (or STORE_DIR) at an existing one"
        )


def store_unwritable(path: Path, error: BaseException) -> StoreUnusableError:
    """The error for a store (or a file beside it) that newsbot may not write, naming `path`
    and the system's reason."""
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    elif "readonly database" in str(error) or _read_only_mount(path):  # SQLite's words, or the disk's
        reason = "read-only"
    else:
        reason = str(error)
    return StoreUnusableError(f"the store {path} cannot be written ({reason}): check its permissions")


def _read_only_mount(path: Path) -> bool:
    """Whether `path` is on a file system mounted read-only (False when that cannot be told)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False


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


class ChunkStore:
    """The chunk collection of the configured store, and what is known of its chunks.

    Reads go through here: the version, pages of chunks, the nearest chunks to a vector, chunks
    by id. The chunk table (`table`: every chunk's article, story, outlet and date) answers
    `outlets`, `share` and `describe` without a store round trip. The keyword index builds it in
    the same pass over the store as its BM25 index (one read of every chunk, not two), saves it
    with it, and hands each table it builds or loads to `adopt`; until then those answers come
    from the store itself or are unknown.
    """

    def __init__(self, settings: Settings, client: ClientAPI) -> None:
        self.settings = settings
        self.client = client
        self._collection: chromadb.Collection | None = None
        self._table: ChunkTable | None = None

    @property
    def collection(self) -> chromadb.Collection:
        """The collection as of the last `version()` (metadata included), opened on first use."""
        if self._collection is None:
            self._collection = get_collection(self.client, self.settings)
        return self._collection

    def version(self) -> str:
        """The store version now (another process may have changed it): see `read_version`."""
        collection = get_collection(self.client, self.settings)
        self._collection = collection
        return read_version(collection)

    def count(self) -> int:
        """How many chunks the store holds."""
        return self.collection.count()

    def scan(self, page_size: int) -> Iterator[tuple[str, str, Metadata]]:
        """Every chunk as (id, text, metadata), read `page_size` at a time so memory stays
        bounded. A chunk written or deleted meanwhile may be missed, never yielded twice."""
        collection = get_collection(self.client, self.settings)
        seen: set[str] = set()
        offset = 0
        while True:
            page = collection.get(include=["documents", "metadatas"], limit=page_size, offset=offset)
            page_ids = page["ids"]
            documents = page["documents"] or [""] * len(page_ids)
            metadatas = page["metadatas"] or [{}] * len(page_ids)
            for chunk_id, text, meta in zip(page_ids, documents, metadatas, strict=True):
                if chunk_id in seen:  # a concurrent delete shifted the pages
                    continue
                seen.add(chunk_id)
                yield chunk_id, text or "", meta or {}
            offset += len(page_ids)
            if len(page_ids) < page_size:
                return

    def nearest(self, vector: list[float], n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        """The `n` chunks nearest to `vector` that pass `where`, nearest first, as (id, cosine
        similarity)."""
        query: list[Sequence[float]] = [vector]
        result = self.collection.query(query_embeddings=query, n_results=n, where=where, include=["distances"])
        ids = result["ids"][0] if result["ids"] else []
        distances = (result.get("distances") or [[]])[0]
        return [(chunk_id, 1.0 - float(d)) for chunk_id, d in zip(ids, distances, strict=True)]

    def get(self, ids: Sequence[str], include: list[str]) -> dict[str, Any]:
        """Chroma's `get` of these chunks (those still stored) with `include`."""
        return dict(self.collection.get(ids=list(ids), include=include))  # type: ignore[arg-type]  # Chroma wants its Include literals

    # --- the chunk table ----------------------------------------------------------------------
    @property
    def table(self) -> ChunkTable | None:
        return self._table

    def adopt(self, table: ChunkTable) -> None:
        """Use `table` for `outlets`, `share` and `describe` (see the class docstring). Readers
        take `_table` once per call, so a swap mid-search never mixes two tables."""
        self._table = table

    def outlets(self) -> list[str]:
        """The distinct outlets of the stored chunks, sorted (as current as the table)."""
        table = self._table
        return list(table.outlets) if table else []

    def coverage(self) -> Coverage:
        """The publish dates the stored articles span (as current as the table; an undated
        `Coverage` before there is one)."""
        table = self._table
        return table.coverage if table else Coverage()

    def share(self, outlets: Sequence[str] | None, since_ts: int | None, until_ts: int | None) -> float | None:
        """The share of chunks that the filters keep (as current as the table; None before
        there is one)."""
        table = self._table
        if table is None or not table.size:
            return None
        keep = table.keep(outlets, since_ts, until_ts)
        return 1.0 if keep is None else float(np.count_nonzero(keep)) / table.size

    def describe(self, chunk_ids: Iterable[str]) -> dict[str, ChunkInfo]:
        """What ranking needs of these chunks: from the table, and from the store for chunks
        newer than the table. A chunk the store no longer has is left out."""
        table = self._table
        known: dict[str, ChunkInfo] = {}
        unknown: list[str] = []
        for chunk_id in chunk_ids:
            row = table.rows.get(chunk_id) if table is not None else None
            if table is not None and row is not None:
                known[chunk_id] = table.info(row)
            else:
                unknown.append(chunk_id)
        if unknown:
            got = self.collection.get(ids=unknown, include=["metadatas"])
            for chunk_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                known[chunk_id] = ChunkInfo.from_metadata(chunk_id, meta)
        return known
