"""Typed values that leave `retrieval/`: `Passage`, `Citation`, `Answer`, `SearchFilters`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from retrieval.schema import ChunkMeta


class Passage(ChunkMeta):
    """A retrieved chunk: its stored metadata (`ChunkMeta`: article, outlet, date, place in the
    article), its id and text, and its retrieval scores."""

    model_config = ConfigDict(frozen=False)

    chunk_id: str
    text: str
    score: float = 0.0
    dense_rank: int | None = None
    keyword_rank: int | None = None
    dense_score: float | None = Field(
        None, description="Cosine similarity of the chunk to the question (None when not computed)."
    )
    keyword_score: float | None = Field(
        None, description="BM25 score of the chunk for the question (None when it did not match)."
    )


class SearchFilters(BaseModel):
    """Restrictions on what may be retrieved. Dates are inclusive; `prefer_recent` boosts newer
    articles ("latest ...")."""

    outlets: list[str] = Field(default_factory=list)
    since: date | None = None
    until: date | None = None
    prefer_recent: bool = False
    soft_dates: bool = Field(
        False,
        description="since/until rank articles of that period first instead of excluding the "
        "rest: for dates a question mentions ('in 1995', 'in January'), which usually describe "
        "the event rather than the article.",
    )

    def is_empty(self) -> bool:
        return not (self.outlets or self.since or self.until or self.prefer_recent)


class Citation(BaseModel):
    """`[n]` in an answer: the passage it points at, with where that passage comes from."""

    n: int
    passage: Passage
    quote: str = Field("", description="The sentence(s) of the passage the claim rests on.")

    @property
    def title(self) -> str:
        return self.passage.title

    @property
    def outlet(self) -> str:
        return self.passage.outlet

    @property
    def url(self) -> str:
        return self.passage.url

    @property
    def published_at(self) -> datetime | None:
        return self.passage.published_at


class Answer(BaseModel):
    """What the user sees: text with `[n]` markers, the citations behind them, and the closest
    articles when the answer abstains."""

    question: str
    standalone_question: str = ""
    text: str
    citations: list[Citation] = Field(default_factory=list)
    as_of: date | None = None
    abstained: bool = False
    notice: str = Field("", description="e.g. why the LLM answer was replaced by the extractive one.")
    answerer: str = "extractive"
    closest: list[Passage] = Field(default_factory=list)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    evidence_score: float = Field(
        0.0,
        description="The abstention policy's confidence that the passages answer the question "
        "(retrieval.policy.AbstentionPolicy.confidence); under its threshold the answer abstains.",
    )
    short_answer: str = Field(default="", description="The short answer the text leads with, if any (a span of a cited passage).")
    features: dict[str, float] = Field(
        default_factory=dict, description="The abstention policy's features for this answer, by name."
    )
