"""Run the Discord bot: `python -m bot`, `newsbot serve` or `make bot`.

Everything the bot depends on is built here, from the settings, and passed in.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import discord

from retrieval.settings import Settings

log = logging.getLogger("bot")


async def run(settings: Settings) -> int:
    """Build the bot and run it until it is stopped. Returns the process exit code."""
    from bot.client import NewsBot
    from bot.endpoints import apply_endpoints
    from bot.state import BotState
    from ingest.indexer import Indexer
    from retrieval.conversation import SQLiteHistory
    from retrieval.embeddings import LocalEmbeddings
    from retrieval.service import build_engine
    from retrieval.store import open_client

    token = settings.discord_token.get_secret_value().strip()
    if not token:
        log.error("DISCORD_TOKEN is not set: put the bot's token in .env (see the README)")
        return 2
    restore = apply_endpoints(settings)
    embeddings = LocalEmbeddings(settings.embedding_model, batch_size=settings.embedding_batch_size)
    client = await asyncio.to_thread(open_client, settings)
    history = SQLiteHistory(settings.state_dir / "newsbot-conversations.sqlite", settings.history_tokens)
    engine = build_engine(settings, embeddings=embeddings, client=client, history=history)
    indexer = Indexer(settings, embeddings=embeddings, client=client)
    indexer.on_change(engine.retriever.index_changed)  # type: ignore[attr-defined]
    state = BotState(settings.state_dir / "newsbot-bot.sqlite")
    await asyncio.to_thread(engine.retriever.warm_up)  # type: ignore[attr-defined]
    try:
        async with NewsBot(
            settings=settings, engine=engine, indexer=indexer, retriever=engine.retriever, state=state
        ) as bot:
            await bot.start(token)
    except discord.LoginFailure:
        log.error("Discord rejected the token in DISCORD_TOKEN: reset it in the developer portal and update .env")
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("enable the Message Content intent for the bot in the developer portal (Bot > Privileged Gateway Intents)")
        return 2
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
