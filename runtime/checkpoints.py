"""Per-shard stream checkpoints in one JSON file, replaced atomically: a restarted reader resumes
after the last record it finished, so nothing is lost (and at most a batch is read twice). With
tumbling windows, a shard's open window and its state are saved in the same write as its position."""

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

    def window(self, shard_id: str) -> dict[str, Any] | None:
        """The shard's open tumbling window (start, end, state) at its checkpoint, if any."""
        window: dict[str, Any] | None = self._state.get(shard_id, {}).get("window")
        return window

    def closed_until(self, shard_id: str) -> float:
        """The end of the shard's last closed tumbling window (0: none)."""
        return float(self._state.get(shard_id, {}).get("closed_until", 0.0))

    def save(
        self,
        shard_id: str,
        sequence_number: str | None = None,
        finished: bool | None = None,
        window: dict[str, Any] | None = None,
        windowed: bool = False,
        closed_until: float = 0.0,
    ) -> None:
        """Record a shard's position (and, when `windowed`, its open window: None = none open)."""
        entry = self._state.setdefault(shard_id, {})
        if sequence_number is not None:
            entry["sequence_number"] = sequence_number
        if finished is not None:
            entry["finished"] = finished
        if windowed:
            entry["window"] = window
            entry["closed_until"] = closed_until
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        tmp.replace(self.path)
