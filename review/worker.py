"""The review queue's background work: items from the archive, and feedback from decisions.

- `follow_archive`: every archive object not read yet (the consumer writes one per batch, message and
  verdict together) gives an item for each verdict that is not allow. The table's condition makes this
  idempotent: an object read twice, a batch archived again after a retry, a replayed dead letter or a
  re-scored message finds its message's item and changes nothing (a human decision stays the last word).
  In AWS the archive bucket's object-created notifications drive the same function.
- `flush_feedback`: decisions whose undo window has passed become `ModeratorDecision`s in the feedback
  prefix, where the drift loop's retraining reads labels; one object per message (a repeated write
  replaces it), then the item leaves the pending index. A moderator's removal comes with the user's
  statement of reasons (under the statements prefix, `contracts.statement.moderator_statement`). A
  decision on an appeal is a label with its
  provenance (`decision_source: appeal`, later than the decision it contests, so it is the one a
  retraining learns) and an `AppealOutcome` under the statements prefix: the user's statement of the
  outcome, and the bot's instruction to restore a message whose restriction was overturned.
"""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from contracts import metrics as emf
from contracts.policy import PolicyBook
from contracts.review import QueueEntry, decider_model
from contracts.statement import AppealOutcome, AppealResult
from contracts.storage import (
    APPEAL_SOURCE,
    QUEUE_SOURCE,
    ArchivedMessage,
    ModeratorDecision,
    appeal_outcome_key,
    feedback_key,
    json_lines,
    parse_object,
)
from review.core import audit_events, item_of, outcome_of, queue_removal_statement
from review.store import ReviewStore
from runtime.audit import AuditLog
from runtime.errors import aws_errors
from runtime.logs import structured_logger
from runtime.objects import ReadKeys, list_keys

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("review")


# Writes a pass makes at once: each is one conditional write of its own item (or one object of its own),
# so they may go in any order, and a pass that fails part-way makes the rest on its retry.
WRITERS = 8


def _at_once[T, R](write: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`write` each item, `WRITERS` at a time; the answers in the items' order (the first error raised)."""
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(write, items))


def enqueue_all(
    store: ReviewStore, archived: Iterable[ArchivedMessage], book: PolicyBook, now: datetime
) -> tuple[int, int]:
    """Enqueue what needs a moderator, several items at once; (written, already there)."""
    items = [made for line in archived if (made := item_of(line, book, now)) is not None]
    fresh = _at_once(lambda made: store.enqueue(*made), items)
    return sum(fresh), len(fresh) - sum(fresh)


class ArchiveFollower:
    """Reads each archive object once (the keys read are kept in a state file; reading one again
    would change nothing but costs a GET)."""

    def __init__(
        self,
        s3: "S3Client",
        bucket: str,
        prefix: str,
        store: ReviewStore,
        policies: Callable[[], PolicyBook],
        state_file: Path,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix
        self._store = store
        self._policies = policies
        self._read = ReadKeys(state_file)
        self._now = now

    def poll(self) -> dict[str, int]:
        """One pass: list the archive, read what is new; counts of objects, items written and found."""
        counts = {"objects": 0, "written": 0, "present": 0, "unreadable_lines": 0}
        for key in self._read.new(list_keys(self._s3, self._bucket, self._prefix, "archive")):
            with aws_errors("GetObject archive"):
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            lines, skipped = parse_object(body)
            written, present = enqueue_all(self._store, lines, self._policies(), self._now())
            counts["objects"] += 1
            counts["written"] += written
            counts["present"] += present
            counts["unreadable_lines"] += sum(skipped.values())
            self._read.finished([key])
        if counts["objects"]:
            log.info({"event": "review_followed", **counts})
        return counts


def appeal_metrics(outcome: AppealOutcome) -> None:
    """The decided appeal as EMF metrics (`contracts.metrics`): decided and overturned, by category, and
    by category, the restriction's model version (or `moderator`) and channel."""
    version = decider_model(outcome.original_by) or "moderator"
    dimension_sets = [
        {"service": emf.REVIEW_SERVICE, "category": outcome.category},
        {
            "service": emf.REVIEW_SERVICE,
            "category": outcome.category,
            "model_version": version,
            "channel": outcome.channel_id,
        },
    ]
    overturned = float(outcome.result is AppealResult.RESTORED)
    for dimensions in dimension_sets:
        for name, value in ((emf.APPEALS_DECIDED, 1.0), (emf.OVERTURNED, overturned)):
            with single_metric(
                name, MetricUnit.Count, value, namespace=emf.NAMESPACE, default_dimensions=dimensions
            ):
                pass


@dataclass(frozen=True)
class Outputs:
    """Where a decision's records go: the bucket, the feedback prefix (labels), the statements prefix
    (the users' statements: a moderator's removal, an appeal's outcome) and the appeal address the
    statements give."""

    bucket: str
    feedback_prefix: str
    statements_prefix: str
    appeal_url: str
    audit: AuditLog | None = None  # the decisions' and appeals' chain in the audit trail (None: not kept)


class Flushed(NamedTuple):
    """A feedback pass: the decisions it wrote, and those still waiting (inside their undo window, or
    passed by)."""

    written: int
    pending: int


def flush_feedback(
    store: ReviewStore, s3: "S3Client", outputs: Outputs, book: PolicyBook, now: datetime
) -> Flushed:
    """Write the feedback of every decision past its undo window — with, first, the user's statement
    of a moderator's removal or of an appeal's outcome (the item leaves the pending index only when
    every record exists)."""

    def written(entry: QueueEntry) -> tuple[QueueEntry, AppealOutcome | None] | None:
        """The entry's statement or appeal outcome, then its feedback, written; the outcome (None: an
        entry without a whole decision, passed by)."""
        if entry.decided_by is None or entry.label is None or entry.decided_at is None:
            return None
        outcome = outcome_of(entry)
        source = APPEAL_SOURCE if outcome is not None else QUEUE_SOURCE
        decision = ModeratorDecision(
            message_id=entry.item.message_id,
            label=entry.label,
            decided_by=entry.decided_by,
            decided_at=entry.decided_at,
            category=entry.decided_category or "removal",
            decision_source=source,
            channel_id=entry.item.channel_id,
            user_id=entry.item.user_id,
            sent_at=entry.item.sent_at,
        )
        mid = str(entry.item.message_id)
        if outcome is not None:
            key = appeal_outcome_key(outputs.statements_prefix, entry.decided_at, mid)
            with aws_errors("PutObject appeal outcome"):
                s3.put_object(Bucket=outputs.bucket, Key=key, Body=json_lines([outcome]))
        elif (
            statement := queue_removal_statement(
                entry, book.appeal_window(entry.item.channel_id), outputs.appeal_url
            )
        ) is not None:
            key = feedback_key(outputs.statements_prefix, entry.decided_at, QUEUE_SOURCE, mid)
            with aws_errors("PutObject statement"):
                s3.put_object(Bucket=outputs.bucket, Key=key, Body=json_lines([statement]))
        key = feedback_key(outputs.feedback_prefix, entry.decided_at, source, mid)
        with aws_errors("PutObject feedback"):
            s3.put_object(Bucket=outputs.bucket, Key=key, Body=json_lines([decision]))
        return entry, outcome

    # each decision's objects are its own (named after its message): written several at once
    due, pending = store.pending_feedback(now)
    done = [d for d in _at_once(written, due) if d is not None]
    flushed = [entry for entry, _ in done]
    outcomes = [outcome for _, outcome in done if outcome is not None]
    # the pass's decisions (and the appeals they decided) in the audit trail, before they leave the
    # pending index: a crash in between writes them again (the same events: readers count them once)
    if outputs.audit is not None:
        outputs.audit.append([e for entry in flushed for e in audit_events(entry)], now)
    _at_once(lambda entry: store.feedback_written(entry.item.message_id), flushed)
    # counted once written: a pass that failed before writes its outcomes again, and would count them twice
    for outcome in outcomes:
        log.info({"event": "review_appeal_outcome", "channel": outcome.channel_id, "result": outcome.result})
        appeal_metrics(outcome)
    if flushed:
        log.info({"event": "review_feedback_written", "decisions": len(flushed)})
    return Flushed(len(flushed), pending - len(flushed))
