"""One answer's messages in Discord, shown while the language model writes it.

The first draft becomes a message; later drafts edit it at most once per `EDIT_INTERVAL`; the
verified answer replaces the draft (its first 2,000-character piece edits the message, the rest
follow as new messages). Without drafts (the extractive answerer) every piece is simply sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from bot.formatting import render_draft, split_message

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
# Discord allows about five edits per five seconds in a channel, and the answers of several
# users share that budget; llmcord edits its streamed replies once a second for the same reason.
EDIT_INTERVAL = 1.0

# Posts a new message (text, the view under it or None) where the answer goes and returns it.
Send = Callable[[str, discord.ui.View | None], Awaitable[discord.Message]]


class StreamedReply:
    """The messages of one answer, posted with `send` (in a channel, thread or DM, or as an
    interaction's follow-ups). Every edit and send mentions nobody."""

    def __init__(
        self, send: Send, *, interval: float = EDIT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._send = send
        self.interval = interval
        self._clock = clock
        self.message: discord.Message | None = None  # the draft, once one was shown
        self._shown_at = 0.0

    async def draft(self, text: str) -> None:
        """Show the answer written so far (unverified): the first draft as a new message, later
        ones as an edit of it once `interval` has passed since the last request. A draft that
        comes sooner is skipped: the next one holds its text too."""
        if self.message is None:
            self.message = await self._send(render_draft(text), None)
            self._shown_at = self._clock()
            return
        if self._clock() - self._shown_at < self.interval:
            return
        try:
            await self.message.edit(content=render_draft(text), allowed_mentions=NONE)
        except discord.HTTPException as e:  # a lost draft edit costs nothing: the answer follows
            log.warning("could not update the draft answer (%s)", e)
        self._shown_at = self._clock()

    async def finish(self, text: str, view: discord.ui.View | None = None) -> None:
        """Show `text`, cut into 2,000-character pieces, with `view` under the last piece. With a
        draft shown, its message becomes the first piece (no sooner than `interval` after the
        last edit); the other pieces are new messages."""
        pieces = split_message(text)
        last = len(pieces) - 1
        if self.message is not None and pieces:
            if await self._replace_draft(pieces[0], view if last == 0 else None):
                pieces = pieces[1:]
                last -= 1
        for i, piece in enumerate(pieces):
            await self._send(piece, view if i == last else None)

    async def _replace_draft(self, text: str, view: discord.ui.View | None) -> bool:
        """Edit the draft to `text`; False when it is gone (deleted by someone)."""
        assert self.message is not None
        wait = self._shown_at + self.interval - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await self.message.edit(content=text, view=view, allowed_mentions=NONE)
        except discord.NotFound:
            log.warning("the draft answer was deleted; sending the answer as a new message")
            self.message = None
            return False
        self._shown_at = self._clock()
        return True
