"""Answers as Discord messages: `[n]` markers, a short sources list, 2,000-character pieces."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from retrieval.models import Answer, Citation, Passage

MESSAGE_LIMIT = 2000
MAX_SOURCES = 5

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")


def when(value: date | datetime | None) -> str:
    """`2 Mar 2017`, or '' for no date."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def escape_markdown_link_text(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("\n", " ").strip()


def source_line(n: int | None, passage: Passage) -> str:
    """`[1] [Title](<url>) - Outlet, 2 Mar 2017`: angle brackets stop link previews."""
    title = escape_markdown_link_text(passage.title or passage.source_id)
    label = f"[{title}](<{passage.url}>)" if passage.url.startswith(("http://", "https://")) else f"**{title}**"
    details = ", ".join(x for x in (passage.outlet, when(passage.published_at)) if x)
    prefix = f"[{n}] " if n is not None else ""
    return f"{prefix}{label}" + (f" - {details}" if details else "")


def sources_block(citations: Sequence[Citation]) -> str:
    """The sources list under an answer: at most five, one line each."""
    lines = [source_line(c.n, c.passage) for c in citations[:MAX_SOURCES]]
    if len(citations) > MAX_SOURCES:
        lines.append(f"... and {len(citations) - MAX_SOURCES} more (`/sources`)")
    return "\n".join(lines)


def render_answer(answer: Answer) -> str:
    """The whole reply as one text (split it with `split_message`)."""
    parts = []
    if answer.notice:
        parts.append(f"*{answer.notice}*")
    parts.append(answer.text.strip())
    if answer.citations:
        parts.append("**Sources**\n" + sources_block(answer.citations))
    elif answer.abstained and answer.closest:
        closest = "\n".join(source_line(None, p) for p in answer.closest[:MAX_SOURCES])
        parts.append("**Closest articles**\n" + closest)
    return "\n\n".join(p for p in parts if p)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split `text` into pieces of at most `limit` characters, on paragraph boundaries, else
    sentence boundaries, else spaces; a word is never cut unless it alone exceeds the limit."""
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    current = ""
    for unit in _units(text, limit):
        joiner = unit[0]
        body = unit[1]
        candidate = f"{current}{joiner}{body}" if current else body
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = body
    if current:
        pieces.append(current)
    return pieces


def _units(text: str, limit: int) -> list[tuple[str, str]]:
    """(joiner, piece) pairs, each piece within `limit`."""
    units: list[tuple[str, str]] = []
    for para in text.split("\n\n"):
        if len(para) <= limit:
            units.append(("\n\n", para))
            continue
        first = True
        for sentence in _SENTENCE_END.split(para):
            for piece in _by_words(sentence, limit):
                units.append(("\n\n" if first else " ", piece))
                first = False
    return units


def _by_words(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    out: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > limit:  # a single enormous "word": cut it, nothing else is possible
            if current:
                out.append(current)
                current = ""
            out.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out


def sources_detail(answer: Answer, limit: int = 300) -> str:
    """The `/sources` reply: each passage behind the answer with its cited text."""
    if not answer.citations:
        return "The last answer cited no passages."
    blocks = []
    for c in answer.citations:
        quote = (c.quote or c.passage.text).strip().replace("\n", " ")
        if len(quote) > limit:
            quote = quote[: limit - 1].rsplit(" ", 1)[0] + "…"
        blocks.append(f"{source_line(c.n, c.passage)}\n> {quote}")
    return "\n\n".join(blocks)
