"""Run the Discord bot: `python -m bot`, `newsbot serve` or `make bot`.

Everything the bot depends on is built here, from the settings, and passed in.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

import discord

from retrieval.errors import RetrievalError
from retrieval.settings import Settings

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from bot.state import BotState
    from ingest.indexer import Indexer
    from retrieval.conversation import ConversationEngine

log = logging.getLogger("bot")

BAD_TOKEN = "Discord rejected the token in DISCORD_TOKEN: reset it in the developer portal and update .env"


def build_parts(
    settings: Settings, embeddings: Embeddings | None = None
) -> tuple[ConversationEngine, Indexer, BotState]:
    """Open the store and build the engine, the indexer and the bot's state (blocking: opens
    Chroma and SQLite files; run it in a thread). Raises StoreUnavailableError."""
    from bot.state import BotState, state_path
    from ingest.indexer import Indexer
    from retrieval.conversation import SQLiteHistory
    from retrieval.embeddings import LocalEmbeddings
    from retrieval.service import build_engine
    from retrieval.store import open_client

    embeddings = embeddings or LocalEmbeddings(settings.embedding_model, batch_size=settings.embedding_batch_size)
    client = open_client(settings)
    history = SQLiteHistory(settings.state_dir / "newsbot-conversations.sqlite", settings.history_tokens)
    engine = build_engine(settings, embeddings=embeddings, client=client, history=history)
    indexer = Indexer(settings, embeddings=embeddings, client=client)
    indexer.on_change(engine.retriever.index_changed)  # type: ignore[attr-defined]
    state = BotState(state_path(settings))
    return engine, indexer, state


async def run(settings: Settings, *, embeddings: Embeddings | None = None) -> int:
    """Build the bot and run it until it is stopped. Returns the process exit code: 0 after a
    clean stop, 2 when the configuration is wrong (one line in the log says what to fix), 1 when
    the store or Discord failed. `embeddings` replaces the configured model (tests pass theirs)."""
    from bot.client import NewsBot
    from bot.endpoints import apply_endpoints

    token = settings.discord_token.get_secret_value().strip()
    if not token:
        log.error("DISCORD_TOKEN is not set: put the bot's token in .env (see the README)")
        return 2
    try:
        engine, indexer, state = await asyncio.to_thread(build_parts, settings, embeddings)
    except RetrievalError as e:
        log.error("cannot open the news index: %s", e)
        return 1
    restore = apply_endpoints(settings)
    try:
        async with NewsBot(
            settings=settings, engine=engine, indexer=indexer, retriever=engine.retriever, state=state
        ) as bot:
            await bot.start(token)
    except discord.LoginFailure:
        log.error(BAD_TOKEN)
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("enable the Message Content intent for the bot in the developer portal (Bot > Privileged Gateway Intents)")
        return 2
    except discord.ConnectionClosed as e:
        if e.code == 4004:  # the gateway refused the token the REST API accepted
            log.error(BAD_TOKEN)
            return 2
        log.error("Discord closed the connection (code %s: %s)", e.code, e.reason or "no reason given")
        return 1
    finally:
        restore()
        engine.close()
        indexer.close()
        state.close()
    return 0


def main() -> None:
    from bot.cli import configure_logging

    configure_logging(verbose=True)
    try:
        sys.exit(asyncio.run(run(Settings())))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
