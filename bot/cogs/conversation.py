"""Questions and follow-ups: mentions, threads, DMs and `/ask`; `/sources`, `/forget`, feedback.

A conversation is a thread the bot opened or a DM (everyone in it shares the history), or, for
`/ask` anywhere else in a server, one member in one channel: a member's follow-up must never be
read against another member's question.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import send_ephemeral
from bot.errors import friendly_message
from bot.formatting import render_answer, sources_detail, split_message
from bot.options import OUTLET_HELP, SINCE_HELP, outlets_option, since_option
from bot.streaming import StreamedReply
from retrieval.models import Answer, SearchFilters

if TYPE_CHECKING:
    from bot.client import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
THREAD_TYPES = {
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
}


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"newsbot:fb:(?P<vote>up|down):(?P<answer>[0-9a-f]+)"):
    """Helpful / not helpful, under each answer. The custom_id carries the answer id, so votes
    are recorded even after a restart."""

    def __init__(self, vote: str, answer_id: str) -> None:
        helpful = vote == "up"
        super().__init__(
            discord.ui.Button(
                label="Helpful" if helpful else "Not helpful",
                emoji="👍" if helpful else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"newsbot:fb:{vote}:{answer_id}",
            )
        )
        self.vote = vote
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[discord.ui.View], match: re.Match[str]
    ) -> FeedbackButton:
        return cls(match["vote"], match["answer"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: NewsBot = interaction.client  # type: ignore[assignment]  # the one client
        recorded = await asyncio.to_thread(
            bot.state.record_feedback, self.answer_id, interaction.user.id, self.vote == "up", interaction.id
        )
        text = "Thanks for the feedback." if recorded else "That answer is too old to rate."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)


def feedback_view(answer_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("up", answer_id))
    view.add_item(FeedbackButton("down", answer_id))
    return view


def is_thread(channel: object) -> bool:
    """Test the channel type, not the class: an uncached thread arrives as a PartialMessageable."""
    return getattr(channel, "type", None) in THREAD_TYPES


def thread_name(question: str) -> str:
    name = re.sub(r"\s+", " ", question).strip() or "question"
    return name if len(name) <= 90 else name[:89].rsplit(" ", 1)[0] + "…"


class Conversation(commands.Cog):
    """Answers questions wherever they are asked, keeping each thread's or DM's history."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    # --- shared checks ----------------------------------------------------------------------
    def refusal(self, user_id: int, question: str) -> str | None:
        """A polite refusal when the question is too long or the user asks too fast, else None."""
        limit = self.bot.settings.max_question_chars
        if len(question) > limit:
            return f"That question is {len(question)} characters long; please keep it to {limit} or fewer."
        if not self.bot.rate_limiter.allow(user_id):
            wait = self.bot.rate_limiter.retry_after(user_id)
            return f"You're asking quickly: please wait {wait} s before the next question."
        return None

    async def rateable(self, answer: Answer) -> str:
        """Keep what a vote on `answer` records; return the id its feedback buttons carry."""
        answer_id = uuid.uuid4().hex[:16]
        await asyncio.to_thread(self.bot.state.save_rateable, answer_id, answer)
        return answer_id

    async def show(self, items: AsyncGenerator[str | Answer, None], reply: StreamedReply) -> None:
        """Show the engine's drafts in `reply` as they come, then the verified answer with its
        sources and feedback buttons in their place. Raises what the engine raises, except once
        a draft is shown: then the error's friendly sentence replaces the draft."""
        answer: Answer | None = None
        try:
            async with aclosing(items):
                async for item in items:
                    if isinstance(item, Answer):
                        answer = item  # the last item
                    else:
                        await reply.draft(item)
        except Exception as e:
            if reply.message is None:
                raise
            await reply.finish(friendly_message(e))  # no half-written draft left standing
            return
        assert answer is not None, "the engine's stream ended without an answer"
        answer_id = await self.rateable(answer)
        await reply.finish(render_answer(answer), feedback_view(answer_id))

    async def conversations(self, interaction: discord.Interaction) -> list[str]:
        """The conversations a slash command speaks for, its own first. In a DM or a thread the
        bot opened: that channel's. Elsewhere in a server: the member's `/ask` conversation in
        the channel, then the channel's own (answers to mentions given inline)."""
        channel_id = interaction.channel_id or interaction.user.id
        shared = str(channel_id)
        if interaction.guild_id is None or await asyncio.to_thread(self.bot.state.is_our_thread, channel_id):
            return [shared]
        return [f"{channel_id}/{interaction.user.id}", shared]

    # --- messages -----------------------------------------------------------------------------
    def addressed(self, message: discord.Message) -> bool:
        """The message names the bot: a user mention, or its role (Discord often completes
        "@NewsBot" to the bot's managed role). "@everyone" does not count."""
        me = self.bot.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        own_role = message.guild.self_role if message.guild is not None else None
        return own_role is not None and own_role in message.role_mentions

    def question_from(self, message: discord.Message) -> str:
        """The message text without the mentions of the bot."""
        text = message.content
        me = self.bot.user
        if me is not None:
            text = re.sub(rf"<@!?{me.id}>", " ", text)
        own_role = message.guild.self_role if message.guild is not None else None
        if own_role is not None:
            text = text.replace(f"<@&{own_role.id}>", " ")
        return re.sub(r"\s+", " ", text).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return  # never answer itself or other bots (or webhooks posing as them)
        channel = message.channel
        in_dm = message.guild is None
        mentioned = not in_dm and self.addressed(message)
        in_thread = is_thread(channel)
        our_thread = in_thread and await asyncio.to_thread(self.bot.state.is_our_thread, channel.id)
        if not (in_dm or mentioned or our_thread):
            return
        question = self.question_from(message)
        if not question:
            if in_dm or mentioned:
                await channel.send(
                    "Ask me a question about the news, e.g. *what did the BBC report about Ofcom?*",
                    allowed_mentions=NONE,
                )
            return
        refusal = self.refusal(message.author.id, question)
        if refusal:
            await message.reply(refusal, allowed_mentions=NONE, mention_author=False)
            return

        target: discord.abc.Messageable = channel
        if mentioned and not in_thread and self.bot.settings.answer_in_thread:
            try:
                thread = await message.create_thread(name=thread_name(question))
            except discord.HTTPException as e:
                log.warning("could not open a thread in %s (%s); answering inline", channel.id, e)
            else:
                # Follow-ups there need no mention: only in threads the bot opened itself, never
                # in a user's thread where it was mentioned once.
                await asyncio.to_thread(self.bot.state.add_thread, thread.id)
                target = thread
        target_id: int = target.id  # type: ignore[attr-defined]  # a channel or thread

        async def send(text: str, view: discord.ui.View | None) -> discord.Message:
            if view is None:
                return await target.send(text, allowed_mentions=NONE)
            return await target.send(text, allowed_mentions=NONE, view=view)

        try:
            async with target.typing():
                await self.show(self.bot.engine.stream_ask(str(target_id), question, today=message.created_at.date()), StreamedReply(send))
        except Exception as e:  # one friendly sentence, the traceback in the log
            await target.send(friendly_message(e), allowed_mentions=NONE)

    # --- slash commands -----------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask a question about the news; the answer cites its sources.")
    @app_commands.describe(
        question="Your question, e.g. 'What did the BBC report about broadband prices?'",
        outlet=OUTLET_HELP,
        since=SINCE_HELP,
    )
    async def ask(
        self, interaction: discord.Interaction, question: str, outlet: str | None = None, since: str | None = None
    ) -> None:
        refusal = self.refusal(interaction.user.id, question)
        if refusal:
            await send_ephemeral(interaction, refusal)
            return
        # "last week" means the week before the user asked, whatever the bot's clock says.
        asked_on = interaction.created_at.date()
        day = since_option(since, asked_on)
        await interaction.response.defer(thinking=True)
        filters = SearchFilters(outlets=outlets_option(outlet), since=day)
        [conversation, *_] = await self.conversations(interaction)

        async def send(text: str, view: discord.ui.View | None) -> discord.Message:
            # The first follow-up takes the place of the deferred "thinking..." response.
            if view is None:
                return await interaction.followup.send(text, allowed_mentions=NONE, wait=True)
            return await interaction.followup.send(text, allowed_mentions=NONE, view=view, wait=True)

        # Errors before the first draft reach the tree's handler: a private friendly sentence.
        items = self.bot.engine.stream_ask(conversation, question, filters=filters, today=asked_on)
        await self.show(items, StreamedReply(send))

    @app_commands.command(name="sources", description="Show the passages behind the last answer in this channel.")
    async def sources(self, interaction: discord.Interaction) -> None:
        answer = None
        for conversation in await self.conversations(interaction):
            answer = await self.bot.engine.last_answer(conversation)
            if answer is not None:
                break
        if answer is None:
            await send_ephemeral(interaction, "There is no answer in this channel yet.")
            return
        for piece in split_message(sources_detail(answer)):
            await send_ephemeral(interaction, piece)

    @app_commands.command(name="forget", description="Clear this conversation's memory.")
    async def forget(self, interaction: discord.Interaction) -> None:
        for conversation in await self.conversations(interaction):
            await self.bot.engine.forget(conversation)
        await send_ephemeral(interaction, "Done: I've forgotten this conversation.")


async def setup(bot: NewsBot) -> None:
    bot.add_dynamic_items(FeedbackButton)
    await bot.add_cog(Conversation(bot))
