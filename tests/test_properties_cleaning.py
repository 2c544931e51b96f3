"""Property tests of cleaning: any text a scraper hands over is cleaned without adding text, and
the story's sentences survive while the page chrome goes. Regression tests follow the properties.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, strategies as st

from ingest.cleaning import clean_text, normalise
from tests.support.hostile_input import CHROME_LINES, FAST, LINE_BREAKS, messy_text, sentence

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
# What `clean_text` takes for the heading of a trailing block of teasers ("The Latest").
_TEASER_HEADING = re.compile(
    r"^(?:the latest|latest \w+|related.*|more \w+|read more|most \w+|you (?:may|might) also like"
    r"|recommended.*|top stories|trending.*|further reading|see also|what to read next"
    r"|more on this \w+|around the web|(?:sponsored|promoted) \w+)\s*:?$",
    re.IGNORECASE,
)


def _is_subsequence(small: list[str], big: list[str]) -> bool:
    rest = iter(big)
    return all(any(item == candidate for candidate in rest) for item in small)


@FAST
@given(messy_text)
def test_clean_text_only_drops_whole_lines_of_the_normalised_text(text: str) -> None:
    cleaned = clean_text(text)
    normalised = normalise(text)
    assert len(cleaned) <= len(normalised), "cleaning never adds text"
    lines = cleaned.split("\n")
    kept = [line for line in lines if line]
    assert _is_subsequence(kept, normalised.split("\n")), "every line is a line of the input"
    assert "\n\n\n" not in cleaned and cleaned == cleaned.strip()
    assert all(line == line.strip() for line in lines)
    assert not _CONTROL.search(cleaned)


@FAST
@given(messy_text)
def test_clean_text_is_idempotent_up_to_the_teaser_cut(text: str) -> None:
    """A second pass changes nothing, except that it may cut a teaser block the first pass kept.

    `clean_text` is not idempotent in general, by design: a teaser heading ("Related") ends the
    story only after the first third of the text, and the first pass makes the text shorter, so a
    heading that sat in the first third can sit past it the second time. What holds is that the
    second pass only ever cuts the tail, and changes nothing when no teaser heading is left.
    """
    once = clean_text(text)
    twice = clean_text(once)
    once_lines, twice_lines = once.split("\n"), twice.split("\n")
    if not any(_TEASER_HEADING.match(line) for line in once_lines):
        assert twice == once
    else:
        assert once.startswith(twice), "the second pass only cuts a trailing block"
        assert twice_lines == once_lines[: len(twice_lines)] or twice == ""


def test_clean_text_is_not_idempotent_across_a_teaser_cut() -> None:
    """Why the property above is weaker than plain idempotence (a design consequence, not a bug)."""
    text = "\n".join(["A" * 20, "Related", "B" * 23, "The Latest", "Teaser text " * 7])
    once = clean_text(text)
    assert once == "\n".join(["A" * 20, "Related", "B" * 23])
    assert clean_text(once) == "A" * 20


@FAST
@given(
    st.lists(sentence, min_size=1, max_size=25, unique=True),
    st.lists(
        st.one_of(
            st.sampled_from(CHROME_LINES),
            # Noise with no letters: it cannot read as a teaser heading or repeat a sentence.
            st.text(st.characters(categories=("N", "P", "S")), max_size=40),
        ),
        max_size=25,
    ),
    st.lists(st.sampled_from(LINE_BREAKS), min_size=50, max_size=50),
    st.randoms(use_true_random=False),
)
def test_clean_text_keeps_every_story_sentence_and_drops_the_chrome(
    sentences: list[str], noise: list[str], breaks: list[str], rng
) -> None:
    lines = [*sentences, *noise]
    rng.shuffle(lines)
    # Keep the sentences in story order among the noise.
    order = iter(sentences)
    lines = [next(order) if line in sentences else line for line in lines]
    text = "".join(f" {line}\t{brk}" for line, brk in zip(lines, breaks, strict=False))
    out_lines = clean_text(text).split("\n")
    found = [line for line in out_lines if line in sentences]
    assert found == sentences, "every sentence survives, in order"
    for chrome in CHROME_LINES:
        assert chrome not in out_lines


def test_each_chrome_line_is_chrome_on_its_own() -> None:
    """The chrome fixtures above are chrome by themselves (else the test above proves nothing)."""
    story = "Officials said the council would raise fares after talks on Tuesday."
    for chrome in CHROME_LINES:
        assert clean_text(f"{story}\n\n{chrome}") == story, chrome


@pytest.mark.parametrize(
    "text", ["Cafe\u200b\u0301 opens", "Cafe\x01\u0301 opens", "Se\ufeff\u0301ance"]
)


def test_normalise_returns_nfc_text(text: str) -> None:
    once = normalise(text)
    assert unicodedata.is_normalized("NFC", once)
    assert clean_text(clean_text(text)) == clean_text(text)
