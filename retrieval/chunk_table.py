"""`ChunkTable`: every chunk of the store at one version, one row a chunk, in columns (article,
story, outlet, date), and `ChunkTableBuilder`, which fills it during the keyword index's one pass
over the store. Filters, fusion and the store's date coverage read it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

import numpy as np

from retrieval.query import Coverage
from retrieval.schema import NO_DATE, ChunkInfo


@dataclass(frozen=True)
class ChunkTable:
    """Every chunk of the store at one version, one row a chunk, as ranking and filters need it
    (`ChunkInfo` in columns: 100k chunks take a few MB, and a filter is one numpy pass)."""

    ids: list[str]
    source_ids: list[str]
    story_ids: list[str]
    outlet_codes: np.ndarray  # int32: index into `outlet_names`
    outlet_names: list[str]
    published_ts: np.ndarray  # int64: epoch seconds, NO_DATE = no date

    @property
    def size(self) -> int:
        return len(self.ids)

    def info(self, row: int) -> ChunkInfo:
        """What the table knows of the chunk in `row`."""
        return ChunkInfo(
            source_id=self.source_ids[row],
            story_id=self.story_ids[row],
            outlet=self.outlet_names[int(self.outlet_codes[row])],
            published_ts=int(self.published_ts[row]),
        )

    @cached_property
    def rows(self) -> dict[str, int]:
        """Chunk id -> its row (built once per table, on first use)."""
        return {chunk_id: row for row, chunk_id in enumerate(self.ids)}

    @cached_property
    def outlets(self) -> list[str]:
        """Distinct non-empty outlets, sorted (computed once per table)."""
        used = np.unique(self.outlet_codes) if self.size else np.array([], dtype=np.int32)
        return sorted(self.outlet_names[int(i)] for i in used if self.outlet_names[int(i)].strip())

    @cached_property
    def coverage(self) -> Coverage:
        """The oldest and newest publish dates (UTC) of the dated chunks (computed once per
        table, so once per store version); both None when no chunk has a date."""
        dated = self.published_ts[self.published_ts != NO_DATE]
        if not dated.size:
            return Coverage()

        def day(ts: int) -> date:
            return datetime.fromtimestamp(ts, UTC).date()

        return Coverage(oldest=day(int(dated.min())), newest=day(int(dated.max())))

    def keep(self, outlets: Sequence[str] | None, since_ts: int | None, until_ts: int | None) -> np.ndarray | None:
        """Which rows pass the filters (a bool per row), as `retrieval.schema.where` has it in
        Chroma; None when there are no filters."""
        if outlets is None and since_ts is None and until_ts is None:
            return None
        keep = np.ones(self.size, dtype=bool)
        if outlets is not None:
            allowed = set(outlets)
            codes = [i for i, name in enumerate(self.outlet_names) if name in allowed]
            keep &= np.isin(self.outlet_codes, codes)
        if since_ts is not None:
            keep &= self.published_ts >= since_ts
        if until_ts is not None:
            keep &= (self.published_ts <= until_ts) & (self.published_ts != NO_DATE)
        return keep

    def columns(self) -> dict[str, list[Any]]:
        """The table as JSON-ready columns (`from_columns` reads them back)."""
        # The saved keyword index's file format (keyword.FORMAT), not chunk metadata: these
        # names stay put whatever retrieval.schema calls its keys.
        return {
            "ids": self.ids,
            "source_id": self.source_ids,
            "story_id": self.story_ids,
            "outlets": self.outlet_names,
            "outlet_code": self.outlet_codes.tolist(),
            "published_ts": self.published_ts.tolist(),
        }

    @classmethod
    def from_columns(cls, columns: dict[str, Any]) -> ChunkTable:
        """The table `columns()` wrote. Raises KeyError or ValueError when they are not whole."""
        table = cls(
            ids=list(columns["ids"]),
            source_ids=list(columns["source_id"]),
            story_ids=list(columns["story_id"]),
            outlet_codes=np.asarray(columns["outlet_code"], dtype=np.int32),
            outlet_names=list(columns["outlets"]),
            published_ts=np.asarray(columns["published_ts"], dtype=np.int64),
        )
        lengths = {len(table.source_ids), len(table.story_ids), len(table.outlet_codes), len(table.published_ts)}
        if lengths != {table.size}:
            raise ValueError("the chunk table's columns differ in length")
        return table


class ChunkTableBuilder:
    """Collects a `ChunkTable` row by row while the store is read."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._source_ids: list[str] = []
        self._story_ids: list[str] = []
        self._outlet_index: dict[str, int] = {}
        self._outlet_codes: list[int] = []
        self._published: list[int] = []

    def add(self, chunk_id: str, info: ChunkInfo) -> None:
        self._ids.append(chunk_id)
        self._source_ids.append(info.source_id)
        self._story_ids.append(info.story_id)
        self._outlet_codes.append(self._outlet_index.setdefault(info.outlet, len(self._outlet_index)))
        self._published.append(info.published_ts)

    def build(self) -> ChunkTable:
        return ChunkTable(
            ids=self._ids,
            source_ids=self._source_ids,
            story_ids=self._story_ids,
            outlet_codes=np.asarray(self._outlet_codes, dtype=np.int32),
            outlet_names=list(self._outlet_index),
            published_ts=np.asarray(self._published, dtype=np.int64),
        )
