"""What a background loop tells whoever waits on it (the demo, an operator): a small JSON file,
replaced whole after each pass, so that it is never read half-written."""

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Replace `path` with `doc` in one step (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True))
    tmp.replace(path)


def write_progress(path: Path, started: float, fields: Mapping[str, Any]) -> None:
    """A loop's last pass: when it started and ended (epoch seconds), and what it counted."""
    write_json(path, {"started_at": started, "pass_at": time.time(), **fields})
