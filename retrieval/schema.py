"""The metadata stored with each chunk in Chroma: the one place that writes and reads it.

Ingest writes `ChunkMeta.to_metadata()`; retrieval reads `ChunkMeta.from_metadata` (the whole
record, for a passage) or `ChunkInfo.from_metadata` (what ranking and filters need). The key
names below are used nowhere else. Stores written before this module keep reading: the keys
and value types are the ones ingest always wrote (scalars only, as Chroma requires).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

SOURCE_ID = "source_id"
STORY_ID = "story_id"
TITLE = "title"
URL = "url"
OUTLET = "outlet"
AUTHOR = "author"
PUBLISHED_AT = "published_at"  # ISO 8601, "" = no date
PUBLISHED_TS = "published_ts"  # epoch seconds, NO_DATE = no date: what date filters compare
CHUNK_INDEX = "chunk_index"
CHAR_START = "char_start"
CHAR_END = "char_end"

NO_DATE = -1

Metadata = Mapping[str, Any]


@dataclass(frozen=True)
class ChunkInfo:
    """What ranking needs of a chunk: its article, its story, its outlet and its date."""

    source_id: str
    story_id: str
    outlet: str
    published_ts: int  # epoch seconds, NO_DATE = no date

    @classmethod
    def from_metadata(cls, chunk_id: str, meta: Metadata | None) -> ChunkInfo:
        """Read a chunk's stored metadata. A chunk without a source_id is its own article, an
        article without a story_id its own story; a missing date is NO_DATE."""
        meta = meta or {}
        source_id = str(meta.get(SOURCE_ID) or chunk_id)
        return cls(
            source_id=source_id,
            story_id=str(meta.get(STORY_ID) or source_id),
            outlet=str(meta.get(OUTLET) or ""),
            published_ts=_int(meta, PUBLISHED_TS, NO_DATE),
        )


class ChunkMeta(BaseModel):
    """Everything stored with a chunk: where it comes from and where it sits in its article.
    A retrieved `retrieval.models.Passage` is one of these with its id, text and scores."""

    model_config = ConfigDict(frozen=True)

    source_id: str
    story_id: str
    title: str = ""
    url: str = ""
    outlet: str = ""
    author: str = ""
    published_at: datetime | None = None
    chunk_index: int = 0
    char_start: int = 0
    char_end: int = 0

    def to_metadata(self) -> dict[str, str | int]:
        """The metadata ingest writes to Chroma for this chunk (scalars only)."""
        published = self.published_at
        return {
            SOURCE_ID: self.source_id,
            STORY_ID: self.story_id,
            TITLE: self.title,
            URL: self.url,
            OUTLET: self.outlet,
            AUTHOR: self.author,
            PUBLISHED_AT: published.isoformat() if published else "",
            PUBLISHED_TS: int(published.timestamp()) if published else NO_DATE,
            CHUNK_INDEX: self.chunk_index,
            CHAR_START: self.char_start,
            CHAR_END: self.char_end,
        }

    @classmethod
    def from_metadata(cls, chunk_id: str, meta: Metadata | None) -> ChunkMeta:
        """Read a chunk's stored metadata; a missing or malformed value reads as its default
        (`ChunkInfo.from_metadata` says how the ids fall back)."""
        meta = meta or {}
        info = ChunkInfo.from_metadata(chunk_id, meta)
        return cls(
            source_id=info.source_id,
            story_id=info.story_id,
            title=_text(meta, TITLE),
            url=_text(meta, URL),
            outlet=_text(meta, OUTLET),
            author=_text(meta, AUTHOR),
            published_at=_datetime(meta.get(PUBLISHED_AT)),
            chunk_index=_int(meta, CHUNK_INDEX, 0),
            char_start=_int(meta, CHAR_START, 0),
            char_end=_int(meta, CHAR_END, 0),
        )


def title_of(meta: Metadata | None) -> str:
    """The chunk's article title ("" when there is none): BM25 indexes it with the text."""
    return str((meta or {}).get(TITLE) or "")


def where(outlets: Sequence[str] | None, since_ts: int | None, until_ts: int | None) -> dict[str, Any] | None:
    """The Chroma `where` that keeps chunks of these outlets published in these inclusive epoch
    bounds; None when there are no filters. With an upper bound only, undated chunks do not
    pass (with a lower bound, NO_DATE fails it anyway)."""
    clauses: list[dict[str, Any]] = []
    if outlets is not None:
        clauses.append({OUTLET: {"$in": list(outlets)}})
    if since_ts is not None:
        clauses.append({PUBLISHED_TS: {"$gte": since_ts}})
    if until_ts is not None:
        clauses.append({PUBLISHED_TS: {"$lte": until_ts}})
        if since_ts is None:
            clauses.append({PUBLISHED_TS: {"$ne": NO_DATE}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(
    outlet: str, published_ts: int, outlets: Sequence[str] | None, since_ts: int | None, until_ts: int | None
) -> bool:
    """Whether a chunk of this outlet and date passes the filters, as `where` has it in Chroma."""
    if outlets is not None and outlet not in outlets:
        return False
    if since_ts is not None and published_ts < since_ts:
        return False
    return until_ts is None or (published_ts != NO_DATE and published_ts <= until_ts)


def first_chunks(
    outlets: Sequence[str] | None, since_ts: int | None, until_ts: int | None, *, dated: bool = False
) -> dict[str, Any]:
    """The Chroma `where` that keeps each article's first chunk (its title, link and lead) of
    these outlets published in these inclusive epoch bounds (only dated ones with `dated`)."""
    clauses: list[dict[str, Any]] = [{CHUNK_INDEX: 0}]
    if dated:
        clauses.append({PUBLISHED_TS: {"$ne": NO_DATE}})
    filters = where(outlets, since_ts, until_ts)
    if filters is not None:
        clauses.extend(filters["$and"] if "$and" in filters else [filters])
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def first_chunks_of(source_ids: Sequence[str]) -> dict[str, Any]:
    """The Chroma `where` that keeps the first chunk (title, link and lead) of these articles."""
    return {"$and": [of_articles(source_ids), {CHUNK_INDEX: 0}]}


def of_articles(source_ids: Sequence[str]) -> dict[str, Any]:
    """The Chroma `where` that keeps the chunks of these articles."""
    return {SOURCE_ID: {"$in": list(source_ids)}}


def _text(meta: Metadata, key: str) -> str:
    value = meta.get(key)
    return str(value) if value is not None else ""


def _int(meta: Metadata, key: str, default: int) -> int:
    value = meta.get(key)
    return int(value) if isinstance(value, int | float) else default


def _datetime(value: object) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
