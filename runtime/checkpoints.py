"""Per-shard stream checkpoints in one JSON file, replaced atomically: a restarted reader resumes
after the last record it finished, so nothing is lost (and at most a batch is read twice)."""

import json
from pathlib import Path
from typing import Any


class CheckpointStore:
    """Per-shard checkpoints in one JSON file, replaced atomically, so a restart resumes without loss."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}

    def sequence(self, shard_id: str) -> str | None:
        return self._state.get(shard_id, {}).get("sequence_number")

    def finished(self, shard_id: str) -> bool:
        return bool(self._state.get(shard_id, {}).get("finished"))

    def save(self, shard_id: str, sequence_number: str | None = None, finished: bool | None = None) -> None:
        entry = self._state.setdefault(shard_id, {})
        if sequence_number is not None:
            entry["sequence_number"] = sequence_number
        if finished is not None:
            entry["finished"] = finished
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        tmp.replace(self.path)
