"""A follow-up question rewritten to stand alone against the conversation's history.

"What did he say about it?" cannot be searched: `standalone_question` rewrites it with the chat
model when one is configured (`condense`), else offline (`retrieval.followups`: pronouns and
"that survey" resolved, the previous question's names carried). `same_story_first` puts the
articles the previous answer cited first when the follow-up stays with that story.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.messages import HumanMessage, SystemMessage

from retrieval.followups import is_followup, rewrite_offline
from retrieval.history import Turn
from retrieval.models import Passage
from retrieval.text import entities

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

CONDENSE_SYSTEM_PROMPT = (
    "Rewrite the user's last message as one standalone question that can be understood without "
    "the conversation: replace pronouns and references with the names and things they refer to. "
    "Keep names, dates and numbers. Do not answer it. Reply with the question only."
)
CONDENSE_TURNS = 3  # previous turns shown to the chat model when condensing
CONDENSE_ANSWER_CHARS = 400


async def standalone_question(
    question: str, history: Sequence[Turn], *, chat_model: BaseChatModel | None, timeout: float
) -> str:
    """Return `question` rewritten to stand alone: with `chat_model` when there is one (falling
    back to the offline rewrite when it fails or takes over `timeout` seconds), else offline.
    A question that is not a follow-up, or has no history, comes back unchanged."""
    if not history or not is_followup(question):
        return question
    if chat_model is not None:
        condensed = await condense(chat_model, question, history, timeout=timeout)
        if condensed:
            return condensed
    return await asyncio.to_thread(rewrite_offline, question, history)  # spaCy: not on the loop


async def condense(chat_model: BaseChatModel, question: str, history: Sequence[Turn], *, timeout: float) -> str:
    """The chat model's standalone version of `question`, or "" when the model fails, takes
    over `timeout` seconds or replies with something that is not one question. Never raises."""
    lines = []
    for turn in history[-CONDENSE_TURNS:]:
        lines.append(f"User: {turn.standalone or turn.question}")
        lines.append(f"Assistant: {turn.answer[:CONDENSE_ANSWER_CHARS]}")
    prompt = "Conversation:\n" + "\n".join(lines) + f"\n\nLast message: {question}\n\nStandalone question:"
    messages = [SystemMessage(content=CONDENSE_SYSTEM_PROMPT), HumanMessage(content=prompt)]
    try:
        async with asyncio.timeout(timeout):
            reply = await chat_model.ainvoke(messages)
    except Exception as e:  # a model that is down must not stop the answer
        log.warning("condensing the follow-up with the chat model failed (%s); rewriting offline", type(e).__name__)
        return ""
    text = reply.text.strip().strip('"').strip()
    text = re.sub(r"^(?:standalone question|question)\s*:\s*", "", text, flags=re.I)
    first = text.splitlines()[0].strip() if text else ""
    if not first or len(first) > max(300, 4 * len(question)):
        return ""
    return first


def same_story_first(question: str, passages: Sequence[Passage], previous: Sequence[str]) -> list[Passage]:
    """`passages` with those of the `previous` answer's articles first, when the follow-up
    `question` stays with that story: every name it adds ("Steve Borthwick") appears in those
    articles' passages. A follow-up naming something they do not mention ("What about
    Heineken?") keeps the retriever's order."""
    wanted = set(previous)
    same = [p for p in passages if p.source_id in wanted]
    if not same:
        return list(passages)
    text = " ".join(p.title + " " + p.text for p in same).lower()
    if any(name.lower() not in text for name in entities(question)):
        return list(passages)
    return same + [p for p in passages if p.source_id not in wanted]
