"""Watch matching: an article that only mentions a watch's topic in passing (one paragraph of a
roundup) does not fire it; an article about the topic does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from bot.app import App, build_app
from retrieval.settings import Settings
from retrieval.watches import MIN_TOPIC_SHARE, ChunkRelevance, match_new, topic_share

TOPIC = "floods in Quillbury"
FLOODS_URL = "https://gazette.example/quillbury-floods"
ROUNDUP_URL = "https://gazette.example/week-in-the-borders"

FLOODS = (
    "Floods have closed every road into Quillbury for a third day, and the council says the water may not "
    "go down before the weekend. Army lorries brought drinking water to the town on Tuesday after the "
    "pumping station failed. Forty homes near the river were evacuated, and the school is shut.\n\n"
    "The Environment Agency said the river reached its highest level since records began in 1948, after a "
    "month of rain fell in two days. Residents criticised the flood defences, which were finished only "
    "last year at a cost of 4 million pounds."
)
# A weekly roundup: many subjects, Quillbury's floods in one short paragraph.
TOWNS = ("Ludlow", "Leominster", "Knighton", "Presteigne", "Kington", "Bromyard", "Clun", "Hay")
ERRANDS = (
    ("parish council", "voted to repaint the war memorial railings before Remembrance Sunday"),
    ("cricket club", "appointed a new groundsman after forty years of the same one"),
    ("primary school", "won a regional prize for its vegetable garden and beehives"),
    ("bus company", "added a Saturday evening service to the market towns"),
    ("choir", "will sing carols at the railway station to raise money for the lifeboats"),
    ("farmers' market", "moved to the castle square while the town hall is repaired"),
)
ROUNDUP_PARAGRAPHS = [
    f"In {town}, the {who} {what}. Members said the decision was taken at a packed meeting on "
    f"{day}, and thanked the volunteers who had organised it."
    for town, (who, what), day in zip(
        TOWNS * 5, ERRANDS * 7, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday") * 8, strict=False
    )
][:40] + [
    "The county council approved its budget for next year on Wednesday, with a rise of 4% in council tax "
    "and new money for social care. Opposition councillors said the rise would hurt pensioners most.",
    "Hereford United won their third league match in a row on Saturday, beating Kidderminster 2-0 with two "
    "second-half goals from their new striker. The manager praised a young defence.",
    "A new bakery has opened on Broad Street in Ludlow, run by two sisters who trained in Lyon. Queues "
    "formed before dawn on its first morning, and the croissants sold out by nine.",
    "Roadworks on the A49 near Leominster will last until March, the highways agency said, with overnight "
    "closures on four weekends. Drivers are advised to use the Bromyard road.",
    "Floods in Quillbury closed roads for a third day.",
    "The borders' oldest cinema will show silent films with live piano music every Sunday this winter. "
    "Volunteers restored the projector, which dates from 1931, over two years.",
    "Birdwatchers reported the first waxwings of the winter in Presteigne, where flocks of the Scandinavian "
    "visitors stripped rowan trees of berries in a morning.",
    "The Ludlow food festival announced its dates for next September and said it would add a second "
    "marquee for local cheesemakers after record crowds this year.",
    "A charity walk along Offa's Dyke raised 12,000 pounds for the hospice in Knighton. More than two "
    "hundred walkers took part, the oldest of them 91.",
    "The library in Kington will open on Saturday afternoons from January, after a campaign by parents "
    "who said children had nowhere quiet to study at weekends.",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, local_embeddings: Embeddings) -> Iterator[App]:
    root = tmp_path_factory.mktemp("watches")
    corpus = root / "corpus"
    corpus.mkdir()
    rows = [
        {"title": "Quillbury cut off as floods close every road", "text": FLOODS, "url": FLOODS_URL,
         "published": "2005-03-15", "outlet": "Border Gazette"},
        {"title": "The week in the borders", "text": "\n\n".join(ROUNDUP_PARAGRAPHS), "url": ROUNDUP_URL,
         "published": "2005-03-15", "outlet": "Border Gazette"},
    ]
    (corpus / "news.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    settings = Settings(store_dir=root / "store", _env_file=None)  # type: ignore[call-arg]
    built = build_app(settings, embeddings=local_embeddings).open()
    report = built.indexer.ingest([str(corpus)])
    assert len(report.added) == 2, report
    yield built
    built.close()


async def test_a_roundup_mentioning_the_topic_in_one_paragraph_does_not_fire_a_watch(app: App) -> None:
    new = {FLOODS_URL, ROUNDUP_URL}
    fired = await match_new(app.retriever, TOPIC, new)
    unbarred = await match_new(app.retriever, TOPIC, new, min_share=0.0)

    assert [m.article.url for m in fired] == [FLOODS_URL]
    # Without the share bar the roundup's one paragraph is enough: the bar is what stops it.
    assert {m.article.url for m in unbarred} == {FLOODS_URL, ROUNDUP_URL}
    roundup = next(m for m in unbarred if m.article.url == ROUNDUP_URL)
    assert roundup.share() < MIN_TOPIC_SHARE <= next(m for m in fired).share()


def test_topic_share_counts_only_chunks_with_a_topic_word_and_enough_similarity() -> None:
    chunks = [
        ChunkRelevance(chars=100, similarity=0.7, has_topic_word=True),   # about the topic
        ChunkRelevance(chars=100, similarity=0.7, has_topic_word=False),  # similar, no topic word
        ChunkRelevance(chars=200, similarity=0.1, has_topic_word=True),   # the word, in passing
    ]
    assert topic_share(chunks, 0.4) == pytest.approx(0.25)
    assert topic_share(chunks, 0.05) == pytest.approx(0.75)
    assert topic_share([], 0.4) == 0.0
