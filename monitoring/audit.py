"""Telling the audit trail (read by `runtime.audit`): one message's story or one model version's life.

- `message_story`: a message's arrival and verdict (from the archive, which is the verdict's record)
  followed by every audit record about it, in time order, a repeated event (a writer's retry) once;
- `model_life`: a model version's promotion or rollback and every action taken in its name.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.audit import AuditEvent, AuditKind
from contracts.review import model_decider
from contracts.storage import ArchivedMessage
from runtime.audit import Trail, once_each


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
    steps += [_step(r) for r in once_each(r for r in trail.records() if r.message_id == message_id)]
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
    steps = [_step(r) for r in once_each(mine)]
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
