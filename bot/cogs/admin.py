"""Admin commands: `/reindex`, `/remove`, and the scheduled refresh of the configured feeds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.client import send_ephemeral
from bot.errors import friendly_message

if TYPE_CHECKING:
    from bot.client import NewsBot
    from ingest.indexer import IngestReport

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
PROGRESS_EVERY_S = 1.5

T = TypeVar("T")


def is_admin(interaction: discord.Interaction) -> bool:
    """Manage Server, or one of the roles in ADMIN_ROLE_IDS. Never true in DMs."""
    member = interaction.user
    if interaction.guild is None or not isinstance(member, discord.Member):
        return False
    if member.guild_permissions.manage_guild:
        return True
    allowed = set(interaction.client.settings.admin_role_ids)  # type: ignore[attr-defined]  # a NewsBot
    return any(role.id in allowed for role in member.roles)


def admin_only() -> Callable[[T], T]:
    """Enforced at run time too: `default_permissions` only hides the command, and server
    admins can change who sees it."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if is_admin(interaction):
            return True
        log.warning("refused %s to %s (%s)", interaction.command and interaction.command.name,
                    interaction.user, interaction.user.id)
        raise app_commands.CheckFailure("admins only")

    return app_commands.check(predicate)


def report_table(report: IngestReport) -> str:
    counts = report.counts()
    header = " ".join(f"{k:>10}" for k in counts)
    values = " ".join(f"{v:>10}" for v in counts.values())
    lines = [f"```\n{header}\n{values}\n```"]
    for failure in report.failed[:10]:
        lines.append(f"- failed `{failure.source}`: {failure.reason}")
    if len(report.failed) > 10:
        lines.append(f"- ... and {len(report.failed) - 10} more failures (see the log)")
    if report.dry_run:
        lines.insert(0, "Dry run: nothing was written.")
    return "\n".join(lines)


class Admin(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        minutes = self.bot.settings.refresh_minutes
        if minutes > 0 and self.bot.settings.feeds:
            self.refresh.change_interval(minutes=minutes)
            self.refresh.start()

    async def cog_unload(self) -> None:
        self.refresh.cancel()

    async def run_ingest(
        self,
        targets: Sequence[str],
        *,
        prune: bool,
        dry_run: bool,
        on_progress: Callable[[int, int], object] | None = None,
    ) -> IngestReport:
        """Run the ingest in a worker thread (it embeds and writes: never on the event loop)."""
        loop = asyncio.get_running_loop()

        def progress(done: int, total: int) -> None:
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, done, total)

        return await asyncio.to_thread(
            self.bot.indexer.ingest, list(targets), prune=prune, dry_run=dry_run, progress=progress
        )

    @app_commands.command(name="reindex", description="Re-ingest a feed, page or folder (or all configured sources).")
    @app_commands.describe(
        target="A feed URL, page URL or folder; empty = the configured FEEDS",
        prune="Delete articles that disappeared from the source",
        dry_run="Only report what would change",
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def reindex(
        self, interaction: discord.Interaction, target: str | None = None, prune: bool = False, dry_run: bool = False
    ) -> None:
        targets = [target] if target else list(self.bot.settings.feeds)
        if not targets:
            await send_ephemeral(interaction, "No target given and no FEEDS configured.")
            return
        if self.bot.reindex_lock.locked():
            await send_ephemeral(interaction, "A re-index is already running; try again when it has finished.")
            return
        async with self.bot.reindex_lock:
            log.info("reindex %s (prune=%s, dry_run=%s) by %s (%s)", targets, prune, dry_run,
                     interaction.user, interaction.user.id)
            await interaction.response.send_message(
                f"Re-indexing {', '.join(targets)}…", ephemeral=True, allowed_mentions=NONE
            )
            last_edit = 0.0
            pending: list[asyncio.Task[object]] = []

            def on_progress(done: int, total: int) -> None:
                nonlocal last_edit
                now = time.monotonic()
                if total and (now - last_edit >= PROGRESS_EVERY_S or done == 0):
                    last_edit = now
                    text = f"Re-indexing {', '.join(targets)}: {done}/{total} articles embedded…"
                    pending.append(asyncio.create_task(interaction.edit_original_response(content=text)))

            try:
                report = await self.run_ingest(targets, prune=prune, dry_run=dry_run, on_progress=on_progress)
            except Exception as e:
                await asyncio.gather(*pending, return_exceptions=True)
                await interaction.edit_original_response(content=friendly_message(e))
                return
            await asyncio.gather(*pending, return_exceptions=True)
            log.info("reindex by %s (%s) done: %s", interaction.user, interaction.user.id, report.counts())
            await interaction.edit_original_response(content=f"Re-index finished.\n{report_table(report)}")

    @app_commands.command(name="remove", description="Remove one article from the index (retractions).")
    @app_commands.describe(id_or_url="The article's source id or URL")
    @app_commands.rename(id_or_url="id-or-url")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def remove(self, interaction: discord.Interaction, id_or_url: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.reindex_lock:
            removed = await asyncio.to_thread(self.bot.indexer.remove, id_or_url.strip())
        log.info("remove %r by %s (%s): %s", id_or_url, interaction.user, interaction.user.id, removed or "not found")
        text = f"Removed `{removed[0]}`." if removed else f"No indexed article has the id or URL {id_or_url!r}."
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)

    @tasks.loop(minutes=60)
    async def refresh(self) -> None:
        """Re-ingest the configured feeds, under the same lock as /reindex."""
        if self.bot.reindex_lock.locked():
            log.info("scheduled refresh skipped: a re-index is running")
            return
        async with self.bot.reindex_lock:
            try:
                report = await self.run_ingest(self.bot.settings.feeds, prune=False, dry_run=False)
            except Exception:
                log.exception("scheduled refresh failed")
                return
        log.info("scheduled refresh: %s", report.counts())
        for failure in report.failed:
            log.warning("refresh failed %s: %s", failure.source, failure.reason)

    @refresh.before_loop
    async def before_refresh(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Admin(bot))
