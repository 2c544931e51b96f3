"""Property tests of dates: a date the loaders cannot read is no date, never an error; one they
can read is the instant it names, in UTC. Regression tests follow the properties.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ingest.cleaning import parse_date
from ingest.loaders import iter_articles
from ingest.models import Article
from tests.support.hostile_input import (
    FAST,
    FOLDERS,
    STORY,
    assert_valid_date,
    example_folder,
    folder_settings,
    plain_datetimes,
    read_folder_with,
    scratch,  # noqa: F401 - a fixture
    zones,
)

@FOLDERS
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.lists(st.text(max_size=10), max_size=3),
            st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=2),
            # Well-formed timestamps, in any zone.
            st.builds(
                lambda dt, zone: dt.replace(tzinfo=zone).isoformat(), plain_datetimes, zones
            ),
            # Dates out of range, half-formed or not dates at all.
            st.sampled_from((
                "2024-13-01", "2024-02-30", "2024-01-01T25:61:00", "2024-01-01T00:00:00+23:59",
                "0000-00-00 2024", "99999-01-01 2024", "31/31/2024", "2024", "1e400", "NaN",
                "Mon, 32 Jan 2024 99:99:99 GMT", "2024-01-01T00:00:00 -2359", "yesterday 2024",
                "2024-01-01" + "0" * 4000, "December 2024 " * 200,
            )),
            st.builds(
                lambda a, y, b: f"{a}{y}{b}",
                st.text("0123456789-:+T ./,WZ", max_size=15),
                st.integers(1800, 2199),
                st.text("0123456789-:+T ./,GMTUC", max_size=15),
            ),
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(
        ("published", "published_at", "publishedAt", "date", "pubDate", "datePublished")
    ),
)
def test_bad_dates_give_no_date_never_an_error(scratch: Path, values: list, key: str) -> None:
    with example_folder(scratch) as root:
        records = [{"title": f"Story {n}", "body": STORY, key: v} for n, v in enumerate(values)]
        (root / "dates.jsonl").write_text(
            "\n".join(json.dumps(r, allow_nan=True) for r in records), encoding="utf-8"
        )
        (root / "dates.json").write_text(json.dumps(records, allow_nan=True), encoding="utf-8")
        items = list(iter_articles(str(root), settings=folder_settings(root)))
        assert all(isinstance(item, Article) for item in items), items
        assert len(items) == 2 * len(values)
        for item in items:
            assert_valid_date(item.published_at)


@FAST
@given(
    st.one_of(
        st.text(),
        st.integers(),
        st.floats(),
        st.none(),
        plain_datetimes,
        st.dates(),
        st.builds(lambda dt, zone: dt.replace(tzinfo=zone), plain_datetimes, zones),
    )
)
def test_parse_date_returns_utc_or_none(value: object) -> None:
    parsed = parse_date(value)
    assert_valid_date(parsed)
    if isinstance(value, datetime) and value.tzinfo is not None:
        assert parsed == value, "an aware datetime keeps its instant"


@FAST
@given(plain_datetimes, zones)
def test_an_iso_timestamp_is_read_as_the_instant_it_names(moment: datetime, zone: timezone) -> None:
    aware = moment.replace(tzinfo=zone)
    assert parse_date(aware.isoformat()) == aware.astimezone(UTC)


@pytest.mark.parametrize(
    "date",
    [
        "2024-01-01T00:00:00+99:00",
        "Mon, 01 Jan 2024 10:00:00 +2400",
        "2000:0B0:0-3000",  # found by hypothesis
        "9999-12-31T23:00:00-2000",
        "0001-01-01T00:00:00+1900",
    ],
)


def test_a_date_with_an_impossible_zone_is_no_date(scratch: Path, date: str) -> None:
    record = json.dumps({"title": "Edge", "body": STORY, "published": date}).encode()
    items = read_folder_with(scratch, "edge.json", record)
    edge = [i for i in items if isinstance(i, Article) and i.source_id == "edge"]
    assert edge, items
    assert_valid_date(edge[0].published_at)
