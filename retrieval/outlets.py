"""Outlet names compared tolerantly: "BBC", "the BBC" and "bbc.co.uk" all match the outlet
"BBC News", "NPR" matches "National Public Radio". The question parser (`retrieval.query`) uses
them to read "according to the BBC"; the retriever and briefings to resolve an outlet option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that say nothing about which outlet is meant ("BBC News" is the BBC).
_GENERIC_OUTLET_WORDS = frozenset({"the", "news", "online", "com", "co", "uk", "org", "net", "www"})


def outlet_words(text: str) -> list[str]:
    """The lower-case words of an outlet name, without "the"."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w for w in words if w != "the"]


def _core(words: list[str]) -> list[str]:
    return [w for w in words if w not in _GENERIC_OUTLET_WORDS]


def _acronym(words: list[str]) -> str:
    return "".join(w[0] for w in words) if len(words) >= 3 else ""


def outlet_matches(requested: str, outlet: str) -> bool:
    """True when `requested` (as a user writes it) names `outlet` (as the store holds it).

    Case, "the", punctuation and generic words ("News", ".com") are ignored; a name matches a
    longer name it starts ("BBC" matches "BBC Sport"), and an acronym matches its words ("NPR",
    "National Public Radio")."""
    r, o = outlet_words(requested), outlet_words(outlet)
    if not r or not o:
        return False
    if r == o:
        return True
    core_r, core_o = _core(r) or r, _core(o) or o
    if core_r == core_o or "".join(core_r) == "".join(core_o):
        return True
    if core_o[: len(core_r)] == core_r:
        return True
    joined_r, joined_o = "".join(core_r), "".join(core_o)
    return joined_r in (_acronym(o), _acronym(core_o)) or joined_o in (_acronym(r), _acronym(core_r))


def resolve_outlets(requested: Iterable[str], known: Iterable[str]) -> list[str]:
    """Return the known outlets (store spelling, sorted) that any of `requested` names."""
    known = list(known)
    return sorted({o for o in known for r in requested if outlet_matches(r, o)})


def _outlet_aliases(outlet: str) -> set[str]:
    """Ways a question may name `outlet`: its words, its core words, its acronym."""
    words = outlet_words(outlet)
    aliases = {" ".join(words)} if words else set()
    core = _core(words)
    if core:
        aliases.add(" ".join(core))
    for acronym in (_acronym(words), _acronym(core)):
        if len(acronym) >= 3:
            aliases.add(acronym)
    # "BBC Sport", "CNN Business": the leading acronym names the outlet on its own.
    first = re.findall(r"[A-Za-z0-9]+", re.sub(r"^\s*the\s+", "", outlet, flags=re.IGNORECASE))
    if len(first) >= 2 and first[0].isupper() and 2 <= len(first[0]) <= 5:
        aliases.add(first[0].lower())
    return {a for a in aliases if a}


def outlet_pattern(known_outlets: list[str]) -> tuple[str, dict[str, list[str]]]:
    """Regex alternation over every alias of the known outlets, longest first, and alias ->
    the outlets it names ("BBC" names both "BBC News" and "BBC Sport")."""
    by_alias: dict[str, list[str]] = {}
    for outlet in sorted(known_outlets):
        for alias in _outlet_aliases(outlet):
            by_alias.setdefault(alias, []).append(outlet)
    aliases = sorted(by_alias, key=len, reverse=True)
    pieces = [r"[\s.\-]*".join(re.escape(w) for w in alias.split()) for alias in aliases]
    return r"(?:" + "|".join(rf"\b{p}\b" for p in pieces) + r")", by_alias
