"""Settings: every field documented in .env.example, and the defaults work offline."""

from __future__ import annotations

import re

import pytest

from retrieval.settings import Settings
from tests.conftest import ROOT


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    names = {m.group(1): i for i, line in enumerate(lines) if (m := re.match(r"^([A-Z_]+)=", line))}
    for field in Settings.model_fields:
        assert field.upper() in names, f"{field.upper()} is missing from .env.example"
        assert lines[names[field.upper()] - 1].startswith("#"), f"{field.upper()} has no comment"
    assert set(names) == {f.upper() for f in Settings.model_fields}, "stale entries in .env.example"


def test_every_field_has_a_description() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name


def test_env_example_values_are_the_defaults(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from_file = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_file.model_dump() == defaults.model_dump()


def test_feeds_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDS", "https://a.example/rss, ./articles")
    assert Settings(_env_file=None).feeds == ["https://a.example/rss", "./articles"]  # type: ignore[call-arg]
