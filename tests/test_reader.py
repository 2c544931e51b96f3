"""The reader on real BBC sentences (copied from ../shared/data/bbc): a price against "not
disclosed", a sentence handed down against a sentence one "could face", and the short answer's
offsets pointing at the text it quotes."""

from __future__ import annotations

import pytest

from retrieval.models import Passage
from retrieval.reader import Reader
from retrieval.sentence_analysis import SentenceCache

pytest.importorskip("spacy")

# business/470 (the Savoy sale): the buyer is named, the price is not.
SAVOY = (
    "London's famous Savoy hotel has been sold to a group combining Saudi billionaire investor Prince "
    "Alwaleed bin Talal and a unit of HBOS bank. Financial details of the deal, which includes the nearby "
    "Simpson's in the Strand restaurant, were not disclosed."
)
# A BBC business sentence on Ukraine's Krivorizhstal steel mill: the price is given.
MILL = "The mill, Krivorizhstal, was sold in June 2004 for $800m (£424m) - well below other offers."
# business (WorldCom): the trial is under way; the sentence is only what he could face.
EBBERS = (
    "Mr Ebbers is on trial for fraud and conspiracy in relation to WorldCom's collapse in 2002. "
    "Mr Ebbers could face a jail sentence of up to 85 years if convicted of all the charges he is facing."
)
# entertainment/258: the sentence handed down.
LOVE = (
    "Singer Courtney Love has been spared jail for assault and drug offences, but must serve three years "
    "probation. In a separate case relating to the same incident, Ms Love was sentenced to 18 months in "
    "drug rehabilitation for being under the influence of cocaine and opiates."
)


def passage(text: str, source_id: str, n: int = 0) -> Passage:
    return Passage(chunk_id=f"{source_id}#{n}", text=text, source_id=source_id, story_id=source_id)


@pytest.fixture(scope="module")
def reader() -> Reader:
    try:
        return Reader()
    except OSError as e:  # pragma: no cover - the model package is a dependency
        pytest.skip(f"spaCy model missing: {e}")


def test_a_stated_price_is_the_short_answer_with_offsets_into_its_passage(reader: Reader) -> None:
    passages = [passage(MILL, "business/mill")]
    reading = reader.read("How much was the Krivorizhstal mill sold for?", passages)
    assert reading.answer is not None
    assert reading.answer.text == "$800m"
    assert passages[reading.answer.passage_index].text[reading.answer.start : reading.answer.end] == "$800m"
    assert reading.features["answer_type_found"] == 1.0
    assert reading.features["undisclosed"] == 0.0


def test_a_price_not_disclosed_gives_no_money_answer(reader: Reader) -> None:
    reading = reader.read("How much did Prince Alwaleed's group pay for the Savoy hotel?", [passage(SAVOY, "business/470")])
    assert reading.answer is None or reading.answer.label != "MONEY"
    assert reading.features["answer_type_found"] == 0.0
    assert reading.features["undisclosed"] == 1.0


def test_the_buyer_is_found_where_the_price_is_not(reader: Reader) -> None:
    reading = reader.read("Who bought the Savoy hotel?", [passage(SAVOY, "business/470")])
    assert reading.answer is not None
    assert "Alwaleed" in reading.answer.text


def test_a_sentence_he_could_face_is_not_the_sentence_he_was_given(reader: Reader) -> None:
    announced = reader.read("What sentence was Bernie Ebbers given?", [passage(EBBERS, "business/403")])
    handed_down = reader.read("What sentence was Courtney Love given for assault?", [passage(LOVE, "entertainment/258")])
    assert announced.features["outcome_only_announced"] == 1.0
    assert announced.features["best_sentence_announced"] == 1.0
    assert handed_down.features["outcome_only_announced"] == 0.0
    assert handed_down.answer is not None and not handed_down.answer.announced
    assert handed_down.answer.score > announced.features["best_candidate_score"]


def test_a_span_from_the_question_is_not_an_answer(reader: Reader) -> None:
    reading = reader.read("Who owns the Savoy hotel now that Prince Alwaleed bin Talal has bought it?", [passage(SAVOY, "business/470")])
    assert all("Alwaleed" not in c.text for c in reading.candidates)


def test_another_article_giving_the_same_span_counts_as_support(reader: Reader) -> None:
    passages = [passage(MILL, "business/mill"), passage("Krivorizhstal went for $800m in 2004.", "business/other")]
    reading = reader.read("How much was the Krivorizhstal mill sold for?", passages)
    assert reading.answer is not None and reading.answer.text == "$800m"
    assert reading.answer.support == 1


def test_a_sentence_is_analysed_once() -> None:
    reader = Reader(cache=SentenceCache(size=100))
    passages = [passage(MILL, "business/mill")]
    first = reader.read("How much was the Krivorizhstal mill sold for?", passages)
    again = reader.read("When was the Krivorizhstal mill sold?", passages)
    assert first.analysed == 1
    assert again.analysed == 0
    assert again.answer is not None and "June 2004" in again.answer.text
