"""What the bot tests read from the bot's requests to the fake Discord, and the asks they make:
the sources list of an answer, its buttons, the mention that opens a thread, the long answer
that must be split, and the check that the fake Discord saw nothing it would refuse."""

from __future__ import annotations

import re
from typing import Any

from retrieval.models import Answer, Citation, Passage
from tests.support.bot_fixtures import LONG_TITLE
from tests.support.fake_discord import FakeDiscord, RecordedRequest

T = 30.0  # generous: the first answers embed with the real model on a slow CI machine
SOURCE_LINE = re.compile(r"^\[(\d+)\] \[([^\]\n]+)\]\(<(https?://[^>\s]+)>\)(?: - (.*))?$", re.MULTILINE)
EPHEMERAL = 64  # the message flag of a reply only its asker sees

BROWN = "How many civil service jobs has Gordon Brown cut?"
CARLSBERG = "How many jobs is Carlsberg planning to cut in Sweden?"


def sources_of(content: str) -> list[tuple[int, str, str]]:
    """(n, title, url) of each `[n] [title](<url>) - outlet, date` line under **Sources**."""
    _, found, block = content.partition("**Sources**\n")
    assert found, f"no sources list in {content!r}"
    return [(int(n), title, url) for n, title, url, _ in SOURCE_LINE.findall(block)]


def urls_in(content: str) -> set[str]:
    return set(re.findall(r"<(https?://[^>\s]+)>", content))


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row.get("components") or []]


def is_final(rec: RecordedRequest) -> bool:
    """The last piece of an answer carries the feedback buttons."""
    return any(cid.startswith("newsbot:fb:") for cid in custom_ids(rec.json or {}))


async def answer_in(fake: FakeDiscord, channel_id: int, timeout: float = T) -> RecordedRequest:
    """The POST that completed the bot's next answer in `channel_id` (its last piece)."""
    return await fake.wait_for_request("POST", rf"/channels/{channel_id}/messages", predicate=is_final, timeout=timeout)


async def mention(fake: FakeDiscord, question: str, **options: Any) -> int:
    """Ask by mentioning the bot in the channel; return the id of the thread it opened."""
    message = await fake.user_message(f"{fake.bot_user.mention} {question}", **options)
    created = await fake.wait_for_request(
        "POST", rf"/channels/{message['channel_id']}/messages/{message['id']}/threads", timeout=T
    )
    assert created.status == 201
    return int(created.response["id"])


def assert_clean(fake: FakeDiscord) -> None:
    assert fake.unhandled == []
    assert fake.rejected == [], [(r.method, r.path, r.response) for r in fake.rejected]


def long_answer() -> Answer:
    """About 6,500 characters of cited sentences in paragraphs, with seven sources."""
    citations = [
        Citation(
            n=i,
            passage=Passage(
                chunk_id=f"inquiry#{i}", text=f"Chapter {i} of the inquiry report.", source_id=f"inquiry/{i}",
                story_id=f"inquiry/{i}", title=f"{LONG_TITLE}, part {i}", url=f"https://harbour.example/inquiry/{i}",
                outlet="Harbour Times",
            ),
        )
        for i in range(1, 8)
    ]
    paragraphs = []
    for p in range(14):
        sentences = [
            f"The panel said the {word} decisions of {1990 + p} were taken without a proper review [{1 + (p + s) % 7}]."
            for s, word in enumerate(("harbour", "tender", "budget", "safety", "lighting"))
        ]
        paragraphs.append(" ".join(sentences))
    return Answer(question="", text="\n\n".join(paragraphs), citations=citations)


def assert_split_well(pieces: list[str], whole: str) -> None:
    assert len(pieces) >= 4
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == whole.split()  # nothing lost, and no word cut in two
    for piece in pieces[:-1]:
        assert piece.rstrip()[-1] in ".!?)", piece[-40:]  # cut at a sentence or paragraph end
