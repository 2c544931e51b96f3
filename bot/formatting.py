"""Answers as Discord messages: `[n]` markers, a short sources list, 2,000-character pieces, and
the draft shown while a language model writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from typing import TYPE_CHECKING

from retrieval.models import Answer, Citation, Passage
from retrieval.text import MARKER, format_date

if TYPE_CHECKING:
    from retrieval.briefing import Briefing, Story
    from retrieval.watches import WatchMatch

MESSAGE_LIMIT = 2000
MAX_SOURCES = 5
DRAFT_MARK = "…"  # ends a draft: the text is still being written and not yet checked


def when(value: date | datetime | None) -> str:
    """The date as answers write it (`format_date`: '2 March 2017'), or '' for no date."""
    return format_date(value) if value is not None else ""


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


def render_draft(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The answer written so far as one message: at most `limit` characters (the rest waits for
    the verified answer), ending in `DRAFT_MARK`, without sources (nothing is verified yet)."""
    shown = split_message(text, limit - len(DRAFT_MARK) - 1)
    return f"{shown[0]} {DRAFT_MARK}" if shown else DRAFT_MARK


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Return `text` as pieces of at most `limit` characters. Each cut falls at the last
    paragraph break that leaves the piece at least half full, else the last line break, else the
    last sentence end, else the last space: a word is cut only when it alone exceeds `limit`.
    The text between cuts is kept exactly (line breaks included)."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        end, resume = _cut(text, limit)
        pieces.append(text[:end].rstrip())
        text = text[resume:].lstrip()
    if text:
        pieces.append(text)
    return pieces


# Where a message may be cut, best first; group 1 is the whitespace dropped at the cut.
_BREAKS = (
    re.compile(r"\S(\s*\n[ \t]*\n\s*)"),  # paragraphs
    re.compile(r"\S(\s*\n\s*)"),  # lines
    re.compile(r"[.!?…][\"'”’)\]*_]*(\s+)"),  # sentences, after closing quotes
    re.compile(r"\S(\s+)"),  # words
)


def _cut(text: str, limit: int) -> tuple[int, int]:
    """(end of this piece, start of the next) for a `text` longer than `limit`."""
    window = text[: limit + 1]  # whitespace right after the limit still ends a full piece
    for level, pattern in enumerate(_BREAKS):
        best: re.Match[str] | None = None
        for match in pattern.finditer(window):
            if match.start(1) > limit:
                break
            best = match
        is_words = level == len(_BREAKS) - 1
        if best is not None and (is_words or best.start(1) >= limit // 2):
            return best.start(1), best.end(1)
    return limit, limit  # one word longer than a message: nothing else is possible


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


MAX_STORY_SOURCES = 3


def render_briefing(briefing: Briefing) -> str:
    """The briefing as one text (split it with `split_message`): a heading, then each story as
    one paragraph (its summary or lead sentence with `[n]` markers) over the links to its articles, at most
    `MAX_STORY_SOURCES` a story. A blank line separates stories, so a split never cuts one."""
    since, until = when(briefing.since), when(briefing.until)
    span = f"{since} to {until}" if since and until and since != until else since or until
    if since and not until:
        span = f"since {since}"
    about = f" on {briefing.topic}" if briefing.topic else ""
    source = f" from {', '.join(briefing.outlets)}" if briefing.outlets else ""
    if not briefing.stories:
        where = f" of {span}" if span else ""
        return f"No indexed article{about}{source}{where} to brief on."
    blocks = [f"**Briefing{about}{source}: {span}** ({_count(len(briefing.stories), 'story', 'stories')}, {_count(briefing.articles, 'article', 'articles')})"]
    n = 0
    for i, story in enumerate(briefing.stories, start=1):
        shown = story.articles[:MAX_STORY_SOURCES]
        numbers = list(range(n + 1, n + len(shown) + 1))
        n += len(shown)
        lines = [f"**{i}.** {story_text(story, numbers)}"]
        lines += [source_line(k, p) for k, p in zip(numbers, shown, strict=True)]
        if len(story.articles) > len(shown):
            lines.append(f"… and {_count(len(story.articles) - len(shown), 'more article', 'more articles')}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def story_text(story: Story, numbers: Sequence[int]) -> str:
    """A story's paragraph: its summary (its `[k]` markers, which number the story's articles,
    become the briefing's `numbers`), or its lead sentence followed by all the `numbers`."""
    if not story.summary:
        return f"{escape_markdown_link_text(story.lead)} {''.join(f'[{k}]' for k in numbers)}"
    summary = " ".join(story.summary.split())
    out: list[str] = []
    last = 0
    for marker in MARKER.finditer(summary):
        text = summary[last:marker.start()].replace("[", "(").replace("]", ")")
        local = [int(k) for k in re.split(r"\s*[,;]\s*", marker.group(1))]
        shown = "".join(f"[{numbers[k - 1]}]" for k in local if 1 <= k <= len(numbers))
        out.append(f"{text} {shown}" if text and shown else text or shown)
        last = marker.end()
    out.append(summary[last:].replace("[", "(").replace("]", ")"))
    return "".join(out).strip()


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def render_watch_posts(watch_id: int, topic: str, matches: Sequence[WatchMatch], digest_over: int) -> list[str]:
    """The messages a watch posts for one ingest's matches: one message a story (its title as a
    link, outlet, date and lead sentence), or, for more than `digest_over` stories, one digest
    (split at Discord's limit between stories)."""
    name = escape_markdown_link_text(topic)

    def entry(match: WatchMatch) -> str:
        return f"{source_line(None, match.article)}\n> {escape_markdown_link_text(match.lead)}"

    if len(matches) <= digest_over:
        return [f"**New on {name}** (watch {watch_id})\n{entry(m)}" for m in matches]
    heading = f"**{len(matches)} new stories on {name}** (watch {watch_id})"
    return split_message("\n\n".join([heading, *(entry(m) for m in matches)]))
