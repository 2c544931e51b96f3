"""Run the Discord bot: `python -m bot`, `newsbot serve` or `make bot`.

Everything the bot depends on is built by `bot.app.build_app`, from the settings, and passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import TYPE_CHECKING

import discord

from bot.app import build_app
from bot.logs import configure_logging
from retrieval.errors import RetrievalError
from retrieval.settings import Settings

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger("bot")

BAD_TOKEN = "Discord rejected the token in DISCORD_TOKEN: reset it in the developer portal and update .env"


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
    async with contextlib.AsyncExitStack() as stack:
        try:
            app = await stack.enter_async_context(build_app(settings, embeddings=embeddings))
        except RetrievalError as e:
            log.error("cannot open the news index: %s", e)
            return 1
        stack.callback(apply_endpoints(settings))  # undone before the app closes
        return await _serve(NewsBot(settings=settings, engine=app.engine, indexer=app.indexer, state=app.state), token)


async def _serve(bot: discord.Client, token: str) -> int:
    """Run `bot` until it stops; return the exit code (see `run`)."""
    try:
        async with bot:
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
    return 0


def main() -> None:
    configure_logging(verbose=True)
    try:
        sys.exit(asyncio.run(run(Settings())))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
