"""Point discord.py at the configured REST and gateway endpoints (a REST proxy, or a test fake)."""

from __future__ import annotations

from collections.abc import Callable

import discord
import discord.gateway
import discord.http
import yarl

from retrieval.settings import Settings


def apply_endpoints(settings: Settings) -> Callable[[], None]:
    """Set discord.py's REST base and default gateway from settings; return a function that
    restores the previous values. Interaction replies and followups (discord.py's webhook
    adapter) build their URLs from the same REST base."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)

    def restore() -> None:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore
