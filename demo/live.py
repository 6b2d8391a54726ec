"""The consumer's figures as CloudWatch would show them, read from its own log: the EMF metric lines
the handler prints (the same ones the production dashboard is built from) and its reload events."""

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts import metrics
from contracts.verdict import Action, Stage

COUNTS = (
    *(metrics.verdicts(action) for action in Action),
    *(metrics.stage(stage) for stage in Stage),
    metrics.DEAD_LETTERS,
    metrics.RETRIED_RECORDS,
    metrics.MODEL_RELOADS,
    metrics.MODEL_RELOAD_FAILURES,
    metrics.SINK_ERRORS,
    metrics.BATCHES_WITHOUT_MODEL,
    *(metrics.signal(name) for name in metrics.SIGNALS),
    metrics.WINDOWS_CLOSED,
)


@dataclass
class ConsumerFigures:
    """Running totals over every EMF line seen so far."""

    counts: Counter[str] = field(default_factory=Counter)
    champion_version: int | None = None
    durations_ms: list[float] = field(default_factory=list)
    batches: int = 0
    reload_failures: list[str] = field(default_factory=list)

    @property
    def verdicts(self) -> int:
        return sum(self.counts[metrics.verdicts(action)] for action in Action)

    @property
    def handler_p50_ms(self) -> float | None:
        return statistics.median(self.durations_ms) if self.durations_ms else None

    def ingest(self, line: str) -> None:
        """Fold one log line in; lines that are not EMF or reload events are ignored."""
        if not line.startswith("{"):
            return
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            return
        if not isinstance(doc, dict):
            return
        if "_aws" in doc:
            self._ingest_emf(doc)
            return
        message = doc.get("message")
        if (
            isinstance(message, dict)
            and message.get("event") == "champion_reload"
            and message.get("outcome") == "failed"
        ):
            self.reload_failures.append(str(message.get("detail", "")))

    def _ingest_emf(self, doc: dict[str, Any]) -> None:
        declared = {
            m["Name"]
            for d in doc["_aws"].get("CloudWatchMetrics", [])
            if d.get("Namespace") == metrics.NAMESPACE
            for m in d.get("Metrics", [])
        }
        for name in declared:
            values = doc.get(name)
            values = values if isinstance(values, list) else [values]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            if name in COUNTS:
                self.counts[name] += int(sum(numbers))
            elif name == metrics.HANDLER_DURATION:
                self.batches += len(numbers)
                self.durations_ms.extend(numbers)
            elif name == metrics.CHAMPION_VERSION and numbers:
                self.champion_version = int(numbers[-1])


class LogFollower:
    """Reads the lines appended to a file since the last call (the file may not exist yet)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = b""

    def new_lines(self) -> list[str]:
        try:
            with self._path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]
