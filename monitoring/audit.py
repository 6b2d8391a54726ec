"""Reading the audit trail (`contracts/audit.py`): check every chain, and tell one message's story or one
model version's life.

- `read_trail`: every writer's chain per day, records in stored order (segments by key, lines in order);
- `verify_trail`: what is wrong with each chain (an edited, deleted or reordered record), plus what did
  not parse;
- `message_story`: a message's arrival and verdict (from the archive, which is the verdict's record)
  followed by every audit record about it, in time order, a repeated event (a writer's retry) once;
- `model_life`: a model version's promotion or rollback and every action taken in its name.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import ValidationError

from contracts.audit import AuditEvent, AuditKind, AuditRecord, verify
from contracts.review import model_decider
from contracts.storage import ArchivedMessage
from runtime.errors import aws_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class Trail:
    """Every chain read, by (writer, day), and the lines that did not parse (by key)."""

    chains: dict[tuple[str, date], list[AuditRecord]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def records(self) -> list[AuditRecord]:
        return [r for chain in self.chains.values() for r in chain]


def read_trail(s3: "S3Client", bucket: str, prefix: str) -> Trail:
    """The whole trail under `prefix`."""
    trail = Trail()
    paginator = s3.get_paginator("list_objects_v2")
    with aws_errors("ListObjectsV2 audit"):
        keys = sorted(
            o["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        )
    for key in keys:
        with aws_errors("GetObject audit"):
            lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
        for n, line in enumerate(lines):
            try:
                record = AuditRecord.model_validate_json(line)
            except ValidationError:
                trail.unreadable.append(f"{key} line {n + 1}")
                continue
            trail.chains.setdefault((record.writer, record.day), []).append(record)
    return trail


def verify_trail(trail: Trail) -> list[str]:
    """Every problem of every chain, and every unreadable line (empty: the trail is intact)."""
    problems = [f"{where}: not an audit record" for where in trail.unreadable]
    for _, chain in sorted(trail.chains.items()):
        problems += verify(chain)
    return problems


@dataclass(frozen=True)
class Step:
    """One line of a story: when, what, who, and the details."""

    at: datetime
    kind: str
    actor: str
    detail: str


def _step(e: AuditEvent) -> Step:
    refs = " ".join(f"{k}={v}" for k, v in sorted(e.refs.items()))
    versions = f"model {e.model_version}" if e.model_version else ""
    return Step(e.at, e.kind.value, e.actor, " ".join(x for x in (e.reason, versions, refs) if x))


def _once(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """A writer's retry repeats an event: keep one of each (kind, actor, time, message)."""
    seen: set[tuple[str, str, datetime, UUID | None]] = set()
    out = []
    for r in records:
        key = (r.kind.value, r.actor, r.at, r.message_id)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def message_story(trail: Trail, archived: Iterable[ArchivedMessage], message_id: UUID) -> list[Step]:
    """A message from its arrival to its last action, in time order."""
    steps: list[Step] = []
    for line in archived:
        if line.message.message_id != message_id:
            continue
        v = line.verdict
        steps.append(Step(line.message.sent_at, "arrival", f"user in {line.message.channel_id}", ""))
        detail = f"{v.action.value} {v.category or ''} policy {v.policy_version}".replace("  ", " ")
        steps.append(Step(v.processed_at, AuditKind.VERDICT.value, model_decider(v.model_version), detail))
        break
    steps += [_step(r) for r in _once(r for r in trail.records() if r.message_id == message_id)]
    return sorted(steps, key=lambda s: s.at)


def model_life(trail: Trail, archived: Iterable[ArchivedMessage], version: str) -> list[Step]:
    """A model version's life: its promotion (the gates it passed) or rollback, the verdicts it served
    (from the archive: how many, of which actions, first and last), the bot's actions in its name and
    the appeals of its removals."""
    acting = (AuditKind.PROMOTION, AuditKind.ROLLBACK, AuditKind.HIDE, AuditKind.QUEUE)
    mine = [
        r
        for r in trail.records()
        if (r.model_version == version and r.kind in acting)
        or r.refs.get("restricted_by") == model_decider(version)
    ]
    steps = [_step(r) for r in _once(mine)]
    served = [m.verdict for m in archived if m.verdict.model_version == version]
    if served:
        actions = Counter(v.action.value for v in served)
        mix = ", ".join(f"{n} {a}" for a, n in sorted(actions.items()))
        first, last = min(v.processed_at for v in served), max(v.processed_at for v in served)
        steps.append(
            Step(
                first,
                "served",
                model_decider(version),
                f"{len(served)} verdicts ({mix}) until {last.isoformat()}",
            )
        )
    return sorted(steps, key=lambda s: s.at)


def render(steps: list[Step]) -> str:
    return "\n".join(f"{s.at.isoformat()}  {s.kind:<10} {s.actor:<24} {s.detail}" for s in steps)
