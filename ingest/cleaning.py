"""Turn captured article text into clean text, and raw field values into clean values.

A scraper's capture of a news page carries the story wrapped in page chrome: the site banner,
share buttons, photo captions and credits, a copyright line, and a block of teasers for other
stories at the end. `clean_text` removes that chrome with rules written for news pages in
general (not for one outlet), normalises unicode and whitespace, and keeps paragraph breaks as
one blank line. `split_headline` then takes a plain-text headline off the top.
"""

from __future__ import annotations

import html
import logging
import re
import time
import unicodedata
import warnings
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import lxml.html
from dateutil import parser as dateparser
from lxml import etree

log = logging.getLogger(__name__)

# Control characters other than tab and newline, C1 controls, zero-width characters and BOMs.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
_SPACES_RE = re.compile(r"[^\S\n]+")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")

# News agencies that appear in photo credits, and (after a slash only) other picture desks:
# "Jason Armond/Los Angeles Times/Getty Images", "Paulo Lagos/Adobe Stock".
_NAMED_AGENCY = (
    r"(?:AP(?: Photo)?|AFP|Reuters|Getty Images?|EPA(?:-EFE)?|Shutterstock|Alamy"
    r"|PA(?: Media| Wire)|Associated Press|NurPhoto|SOPA Images|LightRocket|Xinhua"
    r"|Anadolu Agency|ZUMA(?: Press| Wire)|Sipa USA|AAP)"
)
_AGENCY = (
    rf"(?:{_NAMED_AGENCY}|POOL|Pool|PA|Bloomberg|Corbis|Archive Photos|Imagn"
    r"|[A-Z][\w.&\- ]{0,30} (?:Images|Photos?|Pool|Stock|Wire))"
)
# "Alex Brandon/AP", "Kirill Kudryavtsev/AFP/Getty Images": names joined by slashes, ending in
# an agency, so that "O'Driscoll/Gregan lead Aid stars" or "Luton v Hinckley/Brentford" are not
# credits.
_SLASH_CREDIT = rf"[A-Z][\w.'’\- ]{{0,40}}(?:\s?/\s?[A-Z][\w.'’&\- ]{{0,40}})*\s?/\s?{_AGENCY}"

_SOCIAL_TOKEN = (
    r"(?:share(?: this)?(?: (?:article|story|page|post|video))?|share (?:on|via) \w+"
    r"|tweet|email|e-mail|facebook|twitter|x|whatsapp|linkedin|pinterest|reddit|flipboard"
    r"|messenger|telegram|print|copy link(?: to clipboard)?|link copied|comments?|save)"
)

_CHROME_LINE_RES = [
    # Site banners: "Your NPR news source", "Your source for local news".
    re.compile(r"^your\b.{0,40}\bsource\b.{0,30}$", re.IGNORECASE),
    # Share bars: "SHARE <headline>" in capitals, or a line made only of social buttons.
    re.compile(r"^SHARE\b"),
    re.compile(rf"^(?:{_SOCIAL_TOKEN}\s*[|•·,/]?\s*)+$", re.IGNORECASE),
    # Photo credits on a line of their own.
    re.compile(
        rf"^\(?(?i:photo(?:graph)?|image|picture|credit)s?\s*(?i:by\b|:).{{0,60}}\b{_AGENCY}\)?$"
    ),
    re.compile(rf"^\(?{_SLASH_CREDIT}\)?$"),
    re.compile(rf"^{_NAMED_AGENCY}$"),
    # A caption that ends in its credit: "... in Colombo on July 13. Jane Doe/AFP/Getty Images".
    re.compile(rf"[.!?][\"”’)]?\s+\(?(?:{_SLASH_CREDIT}|Getty Images|Shutterstock)\)?$"),
    # Caption and picture labels: "Image caption, ...", "Media caption ...", "Image source, ...".
    re.compile(r"^(?:image|media|video) caption\b", re.IGNORECASE),
    re.compile(r"^(?:image source|image copyright|photo credit)\b.{0,80}$", re.IGNORECASE),
    # Copyright and syndication footers.
    re.compile(r"^(?:copyright|\(c\))\s*(?:©\s*)?(?:\d{4}|©)", re.IGNORECASE),
    re.compile(r"^©"),
    re.compile(r"^all rights reserved\.?$", re.IGNORECASE),
    re.compile(r"\bto see more,? visit\b", re.IGNORECASE),
    # Advertising slots and ad-feedback widgets.
    re.compile(r"^(?:\d+\.\s*)?how relevant is this ad to you\?$", re.IGNORECASE),
    re.compile(r"^video player was slow to load content\b", re.IGNORECASE),
    re.compile(
        r"^(?:advertisement|ad feedback|sponsored|story continues below(?: advertisement)?)$",
        re.IGNORECASE,
    ),
    # A single teaser link inside the story: "Read more: Why the vote matters".
    re.compile(
        r"^(?:read more|read also|also read|related|see also|more on this)\s*:.{0,150}$",
        re.IGNORECASE,
    ),
]

# Headings that introduce a trailing block of teasers for other stories.
_TEASER_HEADING_RE = re.compile(
    r"^(?:the latest|latest (?:news|stories|headlines)|related(?: (?:stories|articles|content|"
    r"coverage|links|news|topics|reading))?|more (?:stories|news|headlines)|read more"
    r"|most (?:popular|read|viewed|shared)|you (?:may|might) also like"
    r"|recommended(?: for you| stories)?"
    r"|top stories|trending(?: now)?|further reading|see also|what to read next"
    r"|more on this (?:story|topic)"
    r"|around the web|(?:sponsored|promoted) (?:content|stories))\s*:?$",
    re.IGNORECASE,
)
# A teaser heading only ends the story when it comes after this share of the text.
_TEASER_MIN_POSITION = 1 / 3

# A paragraph seen twice is a photo caption (pages print it under the photo and in the
# slideshow); longer ones are more likely a story paragraph scraped twice, so one copy stays.
_CAPTION_MIN_WORDS = 6
_CAPTION_MAX_CHARS = 300

_HEADLINE_MAX_CHARS = 200

# What a page that is only site furniture is made of: navigation crumbs ("Home / News / Sport"),
# menus and calls to action ("Subscribe now!", "Sign up for our newsletter"). A text with such a
# line and no line that reads as prose has no article in it. Checked on the 2,225 BBC, 106 CNN
# and the NPR articles of ../shared/data and the pages in tests/data: none cleans differently.
_CRUMB_SEPARATOR_RE = re.compile(r"\s+[/|•·»›>]\s+")
_CRUMB_MAX_WORDS = 4
_WORD_RE = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_END_RE = re.compile(r"[.!?…:;。！？][\"”’)]*$")
_PROSE_MIN_WORDS = 3
_FURNITURE_WORDS = frozenset(
    "home news sport sports weather business politics world local opinion culture arts "
    "entertainment tech technology science health travel style food video videos audio podcast "
    "podcasts live latest more menu search subscribe subscribers subscription sign log login "
    "logout register account my in up out now today here free newsletter newsletters contact "
    "about us privacy policy terms conditions of use service cookie cookies settings "
    "preferences accept advertise advertising careers jobs help faq faqs follow donate support "
    "shop store skip to main content navigation sitemap site map rss app apps download the our "
    "and for a on with get join read watch listen click back top next previous page share print "
    "email".split()
)

_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt figure footer h1 h2 h3 h4 h5 h6 header hr "
    "li main nav ol p pre section table tbody thead tfoot tr ul".split()
)
_DROPPED_TAGS = ("script", "style", "noscript", "figcaption", "iframe", "form", "button")

_HAS_YEAR_RE = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")
# Zone abbreviations common in feeds; dateutil knows none of them by itself.
_TZINFOS = {
    name: timezone(timedelta(hours=hours))
    for name, hours in {
        "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "BST": 1, "CET": 1, "CEST": 2,
        "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    }.items()
}


def normalise(text: str) -> str:
    """Return `text` in NFC with control and zero-width characters removed and `\\n` line ends.

    Runs of spaces and tabs become one space and lines are stripped; line breaks are kept.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2029", "\n\n")
    text = text.replace("\u2028", "\n").replace("\t", " ")
    # Strip before composing: a zero-width character between a letter and its accent would
    # otherwise keep them apart. Lone surrogates (from JSON escapes) are not text: they go too.
    text = _SURROGATE_RE.sub("", _CONTROL_RE.sub("", text))
    text = unicodedata.normalize("NFC", text)
    return "\n".join(_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))


def clean_inline(text: str) -> str:
    """Return a one-line field value (title, author, outlet) normalised, on a single line."""
    return " ".join(normalise(text).split())


def clean_text(text: str) -> str:
    """Return the story in `text` without page chrome, paragraphs separated by one blank line.

    Drops site banners, share lines, photo credits and captions (a paragraph that appears twice
    is a caption: all copies go), caption labels, copyright and "to see more, visit" footers,
    ad widgets, and a trailing block of teasers introduced by a heading such as "The Latest" or
    "Related" in the later part of the text. Lines inside a paragraph stay on their own lines.
    Returns "" when nothing of the story is left, and also when all that is left is site
    furniture (navigation crumbs, menus, "Subscribe now!"): see `has_article_text`.
    """
    lines = [line for line in normalise(text).split("\n") if not _is_chrome_line(line)]
    lines = _cut_teaser_block(lines)
    lines = _drop_repeated_lines(lines)
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    cleaned = "\n\n".join(paragraphs)
    if cleaned and not has_article_text(cleaned):
        log.debug("only site furniture left: %r", cleaned[:80])
        return ""
    return cleaned


def has_article_text(text: str) -> bool:
    """Return False when `text` is only site furniture, True otherwise.

    Site furniture is navigation crumbs ("Home / News / Sport") and lines made only of menu
    and call-to-action words ("Subscribe now!", "Sign up for our newsletter"). A text is only
    furniture when some line is furniture and no line reads as prose: at least three words
    with a lowercase one or sentence punctuation at its end (a menu of capitalised names has
    neither), or a line in a script without case. So a page that is only its headline ("Ford
    recall") keeps its text, and so does text with no furniture in it at all.
    """
    lines = [line for line in text.split("\n") if line.strip()]
    if any(_reads_as_prose(line) for line in lines):
        return True
    return not any(_is_furniture(line) for line in lines)


def _is_furniture(line: str) -> bool:
    words = _WORD_RE.findall(line)
    if not words:
        return False  # "2-1", "***": not a story by itself, but not a site's furniture either
    if all(word.casefold() in _FURNITURE_WORDS for word in words):
        return True
    segments = _CRUMB_SEPARATOR_RE.split(line)
    return len(segments) > 1 and all(
        len(_WORD_RE.findall(segment)) <= _CRUMB_MAX_WORDS for segment in segments
    )


def _reads_as_prose(line: str) -> bool:
    words = _WORD_RE.findall(line)
    if not words or _is_furniture(line):
        return False
    if not any(char.lower() != char.upper() for char in line):
        return True  # Chinese, Arabic, Hindi...: no case to read the shape from
    shaped = any(word.islower() for word in words) or bool(_SENTENCE_END_RE.search(line))
    return len(words) >= _PROSE_MIN_WORDS and shaped


def clean_extracted(text: str) -> str:
    """Return text from an HTML extractor cleaned like `clean_text`, one paragraph per line.

    Extractors such as trafilatura print one paragraph a line with no blank line between them.
    """
    return clean_text(normalise(text).replace("\n", "\n\n"))


def html_to_text(markup: str) -> str:
    """Return the text of an HTML fragment with block elements as paragraphs.

    Scripts, styles and figure captions are dropped; `<br>` becomes a line break. The result
    is normalised but not chrome-cleaned (pass it to `clean_text` for that).
    """
    if "<" not in markup:
        return normalise(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        # Markup lxml will not take (an XML declaration in a str, say): keep the words.
        return normalise(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    for element in list(root.iter(*_DROPPED_TAGS)):
        element.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif element.tag in _BLOCK_TAGS:
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    return normalise(root.text_content())


def split_headline(text: str) -> tuple[str, str]:
    """Return `(headline, body)`: the first line is a headline when a blank line follows it.

    A Markdown heading marker (`# `) is removed from the headline. A first line that is too
    long for a headline, or reads as a sentence (ends in a single full stop), stays in the body
    and the headline is "".
    """
    first, separator, rest = text.partition("\n\n")
    first = first.strip()
    if not separator or not rest.strip() or "\n" in first:
        return "", text
    headline = re.sub(r"^#{1,6}\s+", "", first).strip()
    reads_as_sentence = headline.endswith(".") and not headline.endswith("...")
    if len(headline) > _HEADLINE_MAX_CHARS or reads_as_sentence:
        return "", text
    return headline, rest.strip()


def parse_date(value: object) -> datetime | None:
    """Return `value` (a date string, datetime, date, epoch seconds or struct_time) as an aware
    datetime in UTC; a value with no zone is taken as UTC. Returns None for anything that is not
    a recognisable date, never raises.
    """
    parsed = _to_datetime(value)
    if parsed is None:
        return None
    try:
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as e:  # a zone of 24 h or more; a date off the calendar in UTC
        log.debug("not a date: %r (%s)", value, e)
        return None


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, time.struct_time):  # feedparser's *_parsed fields are in UTC
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch seconds, within a sane range; anything else is not a date.
        return datetime.fromtimestamp(value, tz=UTC) if 0 < value < 4_102_444_800 else None
    if isinstance(value, str):
        return _parse_date_string(value.strip())
    return None


def _parse_date_string(value: str) -> datetime | None:
    # dateutil fills missing parts from today ("5" is the 5th of this month): demand a year.
    if not _HAS_YEAR_RE.search(value):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown zone names: read as UTC below
            parsed: datetime = dateparser.parse(value, tzinfos=_TZINFOS)
            return parsed
    except (ValueError, OverflowError, TypeError) as e:
        log.debug("not a date: %r (%s)", value, e)
        return None


def _is_chrome_line(line: str) -> bool:
    if not line or len(line) > 400:
        return False
    return any(pattern.search(line) for pattern in _CHROME_LINE_RES)


def _cut_teaser_block(lines: list[str]) -> list[str]:
    total = sum(len(line) for line in lines)
    seen = 0
    for index, line in enumerate(lines):
        if line and seen >= total * _TEASER_MIN_POSITION and _TEASER_HEADING_RE.match(line):
            log.debug("cutting trailing teaser block from %r", line)
            return lines[:index]
        seen += len(line)
    return lines


def _drop_repeated_lines(lines: list[str]) -> list[str]:
    # Short repeated lines (list items, names, subheads) are content and all stay.
    counts = Counter(line for line in lines if len(line.split()) >= _CAPTION_MIN_WORDS)
    first_line = next((line for line in lines if line), "")
    kept: list[str] = []
    emitted: set[str] = set()
    for line in lines:
        if counts[line] > 1:
            # A headline printed twice is still the headline, and a long paragraph printed
            # twice is a scraping accident: one copy of each stays.
            if line == first_line or len(line) > _CAPTION_MAX_CHARS:
                if line in emitted:
                    continue
                emitted.add(line)
            else:
                continue
        kept.append(line)
    return kept
