"""The audit trail: one record per action — a hide, a queueing, a claim, a decision, an appeal, a restore, a
promotion, a rollback, an erasure — naming who acted (a model version
or a moderator), when, on what (ids and versions) and why. Never the message's text: ids and hashes only,
so an erasure rewrites nothing here.

Tamper evidence: each writer's records of one day form a hash chain. A record's `hash` is the SHA-256 of
the previous record's hash and its own canonical JSON; the day's first record follows
`genesis:<writer>:<day>`. Records go to S3 in segments (one object per append, JSON Lines) at
deterministic keys — `<prefix>dt=<day>/<writer>/<first seq, 12 digits>.jsonl` — created only if absent,
under S3 Object Lock in AWS. `verify` finds an edited record (its hash), a deleted or reordered one (the
chain's links and sequence numbers), and a segment written twice at one place (refused by the condition).
"""

import hashlib
import json
from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AUDIT_SCHEMA_VERSION = 1


class AuditKind(StrEnum):
    VERDICT = "verdict"  # the consumer's verdict (read from the archive, which is its record)
    HIDE = "hide"  # the bot hid a message the model removed
    QUEUE = "queue"  # the bot left a message to the review queue
    CLAIM = "claim"  # a moderator took (or renewed) an item's claim: opened it to decide
    DECISION = "decision"  # a moderator decided an item (or an appeal)
    APPEAL = "appeal"  # a user appealed a restriction
    RESTORE = "restore"  # the bot showed a message again after its appeal overturned the restriction
    PROMOTION = "promotion"  # a model version became champion
    ROLLBACK = "rollback"  # the champion moved back to an earlier version
    SHADOW = "shadow"  # a version became the challenger the consumer shadow-scores with, or stopped being it
    CANARY = "canary"  # a version began serving a share of channels, widened, completed or was rolled back
    ERASURE = "erasure"  # a user's data was erased
    STRIKES_CLEARED = "strikes_cleared"  # a moderator cleared a user's strikes in a channel


class AuditEvent(BaseModel):
    """What happened, before it is chained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AuditKind
    actor: str  # `model:<version>`, a moderator's account, `bot`, `user:<id hash>`, `training`, …
    at: AwareDatetime
    message_id: UUID | None = None
    channel_id: str | None = None
    model_version: str | None = None
    policy_version: str | None = None
    reason: str = Field(default="", max_length=500)  # a category, a label, a gate: never message text
    refs: dict[str, str] = {}  # other ids: a statement, a decision's label, a subject's hash


class AuditRecord(AuditEvent):
    """An event in its writer's chain for the day."""

    schema_version: int = Field(default=AUDIT_SCHEMA_VERSION, ge=1)
    writer: str
    day: date
    seq: int = Field(ge=0)
    prev: str
    hash: str


def subject_refs(user_id: str) -> dict[str, str]:
    """A user named in a record's refs: by a hash of their id (the trail holds no personal data)."""
    return {"subject_sha256": hashlib.sha256(user_id.encode()).hexdigest()[:32]}


def genesis(writer: str, day: date) -> str:
    return f"genesis:{writer}:{day.isoformat()}"


def _digest(prev: str, event: AuditEvent, writer: str, day: date, seq: int) -> str:
    body = event.model_dump(mode="json") | {"writer": writer, "day": day.isoformat(), "seq": seq}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


def chain(
    events: list[AuditEvent], writer: str, day: date, head: tuple[int, str] | None
) -> list[AuditRecord]:
    """The events as records following `head` (the day's last (seq, hash) of this writer; None: the
    day's first)."""
    seq, prev = (head[0] + 1, head[1]) if head is not None else (0, genesis(writer, day))
    out = []
    for event in events:
        digest = _digest(prev, event, writer, day, seq)
        out.append(AuditRecord(**event.model_dump(), writer=writer, day=day, seq=seq, prev=prev, hash=digest))
        seq, prev = seq + 1, digest
    return out


def verify(records: list[AuditRecord]) -> list[str]:
    """What is wrong with one writer's chain for one day, its records in stored order (empty: intact)."""
    if not records:
        return []
    return verify_after(records, (-1, genesis(records[0].writer, records[0].day)))[0]


def verify_after(records: list[AuditRecord], head: tuple[int, str]) -> tuple[list[str], tuple[int, str]]:
    """What is wrong with records that continue a chain whose last (seq, hash) is `head` ((-1, genesis)
    before the day's first), and the head they leave: a chain checked in parts reads as one."""
    problems: list[str] = []
    if not records:
        return problems, head
    writer, day = records[0].writer, records[0].day
    expected_seq, expected_prev = head[0] + 1, head[1]
    for r in records:
        event = AuditEvent(**r.model_dump(include=set(AuditEvent.model_fields)))
        where = f"{writer} {day} seq {r.seq}"
        if (r.writer, r.day) != (writer, day):
            problems.append(f"{where}: a record of another chain ({r.writer} {r.day})")
        if r.seq != expected_seq:
            problems.append(f"{where}: expected seq {expected_seq} (a record deleted or moved)")
        if r.prev != expected_prev:
            problems.append(f"{where}: does not follow the record before it (deleted, reordered or edited)")
        if _digest(r.prev, event, r.writer, r.day, r.seq) != r.hash:
            problems.append(f"{where}: its content does not match its hash (edited)")
        expected_prev, expected_seq = r.hash, r.seq + 1
    return problems, (expected_seq - 1, expected_prev)


def segment_folder(prefix: str, writer: str, day: date) -> str:
    """Where a writer's segments of one day go."""
    return f"{prefix}dt={day.isoformat()}/{writer}/"


def segment_key(prefix: str, writer: str, day: date, first_seq: int) -> str:
    """Where one append's records go: sorted by day, writer and sequence."""
    return f"{segment_folder(prefix, writer, day)}{first_seq:012d}.jsonl"
