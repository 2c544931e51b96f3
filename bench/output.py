"""A benchmark's result as JSON: the one way each bench writes its `--json` file."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(result: object, path: Path | None) -> str:
    """Return `result` as indented JSON; also write it (with a final newline) to `path` when
    one is given, creating its folder."""
    text = json.dumps(result, indent=2)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    return text
