"""What slash commands share about their options: the help text of the common ones, and reading
them (a value that cannot be used raises `BadOptionError`, which the bot's error handler turns
into a private reply naming the value)."""

from __future__ import annotations

from datetime import date

from discord import app_commands

from retrieval.query import parse_date_option

OUTLET_HELP = "Only articles from this outlet (e.g. BBC News)"
SINCE_HELP = "Only articles published since this date (2024-03-01, 'Monday', 'last week')"
TOPIC_HELP = "Only stories about this"


class BadOptionError(app_commands.AppCommandError):
    """An option the user gave that cannot be used; the message says why and names the value."""


def since_option(since: str | None, today: date) -> date | None:
    """The day a `since` option means ("last week" counts from `today`), None when not given.
    Raises BadOptionError naming the text when it is not a date."""
    if not since:
        return None
    try:
        return parse_date_option(since, today)
    except ValueError as e:
        raise BadOptionError(str(e)) from e


def outlets_option(outlet: str | None) -> list[str]:
    """The outlet filter an `outlet` option asks for ([] for all)."""
    return [outlet] if outlet else []
