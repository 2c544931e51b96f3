"""`newsbot sync`: register the slash commands globally, once, outside the running bot."""

from __future__ import annotations

import logging

import discord

from retrieval.settings import Settings

log = logging.getLogger(__name__)


async def sync_global(settings: Settings) -> int:
    """Log in, sync the command tree globally, log out. Returns an exit code."""
    from bot.client import NewsBot
    from bot.endpoints import apply_endpoints

    token = settings.discord_token.get_secret_value().strip()
    if not token:
        log.error("DISCORD_TOKEN is not set: put the bot's token in .env (see the README)")
        return 2
    restore = apply_endpoints(settings)
    # The commands only need to be declared: no store, model or engine is opened for a sync.
    bot = NewsBot(settings=settings, engine=None, indexer=None, retriever=None, state=None)  # type: ignore[arg-type]
    try:
        await bot.login(token)  # runs setup_hook, which loads the cogs and so declares the commands
        synced = await bot.tree.sync()
        log.info("synced %d global commands: %s", len(synced), ", ".join(c.name for c in synced))
        print(f"synced {len(synced)} global commands: {', '.join('/' + c.name for c in synced)}")
        return 0
    except discord.LoginFailure:
        log.error("Discord rejected the token in DISCORD_TOKEN")
        return 2
    finally:
        await bot.close()
        restore()
