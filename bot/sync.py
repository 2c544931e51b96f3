"""`newsbot sync`: register the slash commands globally, once, outside the running bot.

Syncing only sends the commands' declarations, so nothing is built for it: the commands are
read from the cog classes (no store, model, engine or bot state is opened) and sent through a
bare client logged in with the token.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import COGS
from retrieval.settings import Settings

log = logging.getLogger(__name__)


def declared_commands() -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """The top-level slash commands the cogs in `COGS` declare, read from their classes."""
    declared: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    for name in COGS:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, commands.Cog) and value.__module__ == name:
                declared.extend(c for c in value.__cog_app_commands__ if c.parent is None)
    return declared


async def sync_global(settings: Settings) -> int:
    """Log in, sync the command tree globally, log out. Returns an exit code: 0 when synced, 2
    when the token is missing or rejected."""
    from bot.endpoints import apply_endpoints

    token = settings.discord_token.get_secret_value().strip()
    if not token:
        log.error("DISCORD_TOKEN is not set: put the bot's token in .env (see the README)")
        return 2
    restore = apply_endpoints(settings)
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=discord.AllowedMentions.none())
    tree = app_commands.CommandTree(client)
    for command in declared_commands():
        tree.add_command(command)
    try:
        await client.login(token)
        synced = await tree.sync()
        log.info("synced %d global commands: %s", len(synced), ", ".join(c.name for c in synced))
        print(f"synced {len(synced)} global commands: {', '.join('/' + c.name for c in synced)}")
        return 0
    except discord.LoginFailure:
        log.error("Discord rejected the token in DISCORD_TOKEN")
        return 2
    finally:
        await client.close()
        restore()
