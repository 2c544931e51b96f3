"""Typed values that cross package borders on the ingest side: `Article` and `Chunk`."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, Field


def content_hash(text: str) -> str:
    """Return the SHA-256 of an article's cleaned text: the key for exact-duplicate detection."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Article(BaseModel):
    """One cleaned article, ready to chunk.

    `source_id` is the URL for web and feed items, and for files the path relative to the folder
    given to `ingest`, without extension (`business/001`). A feed entry without a link is
    `<feed>#<guid>`, or `<feed>#<content hash>` without a guid (`feeds/alpha.rss#3f2a9c0b1d4e`). `published_at` is None when the source
    gives no date: the crawl time is never passed off as a publish date.
    """

    source_id: str
    title: str = ""
    text: str
    url: str = ""
    outlet: str = ""
    author: str = ""
    published_at: datetime | None = None
    fetched_at: datetime = Field(default_factory=lambda: datetime.now().astimezone())
    origin: str = Field("", description="The input this came from (file path, feed or page URL).")

    @property
    def content_hash(self) -> str:
        """Hash of headline and text: the same article under two names shares it. (The same body
        under two headlines is a re-run of the story: a near-duplicate, not an exact one.)"""
        return content_hash(f"{self.title}\n\n{self.text}")

    @property
    def fingerprint(self) -> str:
        """Hash of the text and the metadata that goes into the index: unchanged means skip."""
        published = self.published_at.isoformat() if self.published_at else ""
        fields = [self.text, self.title, self.url, self.outlet, self.author, published]
        return content_hash("\x1f".join(fields))


class Chunk(BaseModel):
    """A token-bounded passage of an article, with its character span in `Article.text`."""

    source_id: str
    index: int
    text: str
    char_start: int
    char_end: int
    tokens: int
