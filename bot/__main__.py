"""Run the Discord bot: `python -m bot`, `newsbot serve` or `make bot`.

Everything the bot depends on is built by `bot.app.build_app`, from the settings, and passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.app import build_app
from bot.logs import configure_logging
from retrieval.errors import RetrievalError
from retrieval.settings import Settings

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger("bot")

BAD_TOKEN = "Discord rejected the token in DISCORD_TOKEN: reset it in the developer portal and update .env"


async def run(settings: Settings, *, embeddings: Embeddings | None = None, backoff: Backoff | None = None) -> int:
    """Build the bot and run it until it is stopped. Returns the process exit code: 0 after a
    clean stop, 2 when the configuration is wrong (one line in the log says what to fix), 1 when
    the store or Discord failed. While Discord cannot be reached at start-up the bot waits for
    it, retrying with `backoff` (default: 1 s doubling to 60 s) and logging one line per attempt.
    `embeddings` replaces the configured model (tests pass theirs)."""
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
        bot = NewsBot(
            settings=settings, engine=app.engine, indexer=app.indexer, state=app.state, summariser=app.summariser
        )
        return await _serve(bot, token, api_base=settings.discord_api_base, backoff=backoff)


@dataclass(frozen=True)
class Backoff:
    """How long to wait between attempts to reach Discord at start-up: `first` seconds, doubled
    after each failure up to `cap`."""

    first: float = 1.0
    cap: float = 60.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.cap)


# What a Discord that cannot be reached (down, a proxy or the network out) raises while logging in.
UNREACHABLE = (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError, discord.DiscordServerError)


async def _log_in(bot: discord.Client, token: str, api_base: str, backoff: Backoff) -> None:
    """Log `bot` in, trying again with `backoff` for as long as Discord cannot be reached and
    saying so in one warning line per attempt. Raises LoginFailure when the token is rejected.

    Only the first connection is newsbot's to retry: once logged in, discord.py reconnects to the
    gateway by itself."""
    for attempt, delay in enumerate(backoff.delays(), 1):
        try:
            await bot.login(token)
            if attempt > 1:
                log.info("reached Discord at %s after %d attempts", api_base, attempt)
            return
        except UNREACHABLE as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            log.warning("cannot reach Discord at %s (%s): waiting for it, next attempt in %g s (attempt %d)",
                        api_base, reason, delay, attempt)
            # Each login opens a new HTTP session on the client's connector; close this one and
            # let the next login make a fresh connector, so no unclosed session is left behind.
            await bot.http.close()
            bot.http.connector = discord.utils.MISSING
            await asyncio.sleep(delay)


async def _serve(
    bot: discord.Client,
    token: str,
    *,
    api_base: str = "",
    backoff: Backoff | None = None,
) -> int:
    """Run `bot` until it stops; return the exit code (see `run`). While Discord cannot be
    reached at start-up it keeps trying (see `_log_in`)."""
    try:
        async with bot:
            await _log_in(bot, token, api_base or discord.http.Route.BASE, backoff or Backoff())
            await bot.connect()
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
