"""Looking things up: `/search`, `/article`, `/stats`, `/help`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import send_ephemeral
from bot.formatting import source_line, split_message, when
from bot.options import OUTLET_HELP, SINCE_HELP, outlets_option, since_option
from retrieval.models import Passage, SearchFilters

if TYPE_CHECKING:
    from bot.client import NewsBot

NONE = discord.AllowedMentions.none()

HELP = """**newsbot** answers questions about the news and cites the passages it used.
- Mention me with a question: I answer in a thread, where follow-ups need no mention. DMs work too.
- `/ask question [outlet] [since]` asks here. `/sources` shows the passages behind the last answer.
- `/search query [outlet] [since] [order]` lists matching articles; `/article id-or-url` shows one.
- `/forget` clears this conversation's memory; `/stats` shows what is indexed.
- `/brief now [topic] [since] [outlet]` briefs on the top stories; `/brief schedule time` posts one daily.
- `/watch topic [outlet] [channel]` posts new stories about a topic (`/watches` lists them, `/unwatch id`
  stops one).
- Admins: `/reindex [target] [prune] [dry_run]`, `/remove id-or-url`."""


def snippet(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def article_results(passages: list[Passage], order: str, limit: int = 8) -> list[Passage]:
    """One passage per article (the best), best first or newest first."""
    best: dict[str, Passage] = {}
    for p in passages:
        best.setdefault(p.story_id or p.source_id, p)
    results = list(best.values())
    if order == "newest":
        results.sort(key=lambda p: (p.published_at is not None, p.published_at), reverse=True)
    return results[:limit]


class Lookup(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="search", description="Find articles matching a query.")
    @app_commands.describe(
        query="What to look for",
        outlet=OUTLET_HELP,
        since=SINCE_HELP,
        order="best: most relevant first; newest: most recent first",
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: str,
        outlet: str | None = None,
        since: str | None = None,
        order: Literal["best", "newest"] = "best",
    ) -> None:
        day = since_option(since, self.bot.engine.today())
        await interaction.response.defer(thinking=True)
        filters = SearchFilters(outlets=outlets_option(outlet), since=day)
        passages = await self.bot.retriever.asearch(query, k=20, filters=filters)
        results = article_results(passages, order)
        if not results:
            await interaction.followup.send(f"No indexed article matches {query!r}.", allowed_mentions=NONE)
            return
        entries = [f"{source_line(None, p)}\n> {snippet(p.text)}" for p in results]
        for piece in split_message("\n\n".join(entries)):  # a blank line keeps each entry whole
            await interaction.followup.send(piece, allowed_mentions=NONE)

    @app_commands.command(name="article", description="Show one indexed article by its id or URL.")
    @app_commands.describe(id_or_url="The article's source id (e.g. business/001) or its URL")
    @app_commands.rename(id_or_url="id-or-url")
    async def article(self, interaction: discord.Interaction, id_or_url: str) -> None:
        entry = await asyncio.to_thread(self.bot.indexer.article, id_or_url.strip())
        if entry is None:
            await send_ephemeral(interaction, f"No indexed article has the id or URL {id_or_url!r}.")
            return
        if entry.duplicate_of:
            original = await asyncio.to_thread(self.bot.indexer.article, entry.duplicate_of)
            entry = original or entry
        a = entry.article
        copies = await asyncio.to_thread(self.bot.indexer.catalog.duplicates_of, a.source_id)
        opening = a.text.split("\n\n", 1)[0]
        lines = [
            f"**{a.title or a.source_id}**",
            " - ".join(x for x in (a.outlet, when(a.published_at), a.author) if x) or "(no outlet or date)",
            f"<{a.url}>" if a.url else f"id: `{a.source_id}`",
            f"{entry.n_chunks} chunks indexed"
            + (f"; also found at {', '.join(f'`{c.source_id}`' for c in copies)}" if copies else ""),
            "",
            snippet(opening, 1200),
        ]
        for piece in split_message("\n".join(lines)):
            await self._reply(interaction, piece)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        if interaction.response.is_done():
            await interaction.followup.send(text, allowed_mentions=NONE)
        else:
            await interaction.response.send_message(text, allowed_mentions=NONE)

    @app_commands.command(name="stats", description="What is indexed, and when it was last refreshed.")
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        data = await asyncio.to_thread(self.bot.indexer.stats)
        outlets = ", ".join(f"{k or '(none)'} ({v})" for k, v in list(data["outlets"].items())[:8]) or "-"
        text = "\n".join(
            [
                f"**{data['articles']}** articles ({data['stories']} stories), **{data['chunks_in_store']}** passages",
                f"Outlets: {outlets}",
                f"Published: {data['oldest'] or '?'} to {data['newest'] or '?'}",
                f"Last refreshed: {data['last_refresh'] or 'never'}",
                f"Embedding model: {data['embedding_model']}",
            ]
        )
        await interaction.followup.send(text, allowed_mentions=NONE)

    @app_commands.command(name="help", description="How to use newsbot.")
    async def help(self, interaction: discord.Interaction) -> None:
        await send_ephemeral(interaction, HELP)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Lookup(bot))
