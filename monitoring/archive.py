"""Read the consumer's S3 archive: every archived message once, whatever retries wrote twice.

The archive is at-least-once (a retried or bisected batch writes again), so lines are deduplicated
by (shard, sequence number). A corrupt or truncated object, or a bad line, is skipped with a counted,
logged reason — never a crash, never silent.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from contracts.categories import Category
from contracts.statement import AppealOutcome, StatementOfReasons
from contracts.storage import (
    ArchivedMessage,
    ModeratorDecision,
    appeal_outcomes_prefix,
    is_appeal_outcome_key,
    parse_object,
)
from runtime.errors import AwsError
from runtime.logs import structured_logger
from runtime.objects import list_keys, read_objects

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("monitoring", to_stderr=True)


@dataclass
class ArchiveWindow:
    """Deduplicated archived messages (in arrival order) and what had to be skipped."""

    messages: list[ArchivedMessage] = field(default_factory=list)
    objects: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def read_archive(
    s3: "S3Client",
    bucket: str,
    prefix: str,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> ArchiveWindow:
    """Messages archived under `prefix`: those sent in [since, until), or the `last` N of them."""
    window = ArchiveWindow()
    seen: dict[tuple[str, str], ArchivedMessage] = {}
    for key, body in read_objects(s3, bucket, list_keys(s3, bucket, prefix, "archive")):
        if isinstance(body, AwsError):
            window.skipped["unreadable_object"] += 1
            log.warning({"event": "archive_skip", "key": key, "reason": body.code})
            continue
        window.objects += 1
        lines, skipped = parse_object(body)
        if skipped:
            log.warning({"event": "archive_skip", "key": key, "reasons": dict(skipped)})
        window.skipped.update(skipped)
        for m in lines:
            message_key = (m.shard_id, m.sequence_number)
            if message_key in seen:
                window.duplicates += 1
                continue
            seen[message_key] = m
    ordered = sorted(seen.values(), key=lambda m: (m.approximate_arrival, m.shard_id, int(m.sequence_number)))
    window.messages = select(ordered, since, until, last)
    return window


def select(
    messages: list[ArchivedMessage],
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> list[ArchivedMessage]:
    """A window of archived messages (in arrival order): sent in [since, until), then the `last` N."""
    kept = [
        m
        for m in messages
        if not (since and m.message.sent_at < since) and not (until and m.message.sent_at >= until)
    ]
    return kept[-last:] if last else kept


@dataclass
class Feedback:
    """Moderator decisions read from the feedback prefix, and what had to be skipped."""

    decisions: list[ModeratorDecision] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def parse_decision(line: str) -> ModeratorDecision | str:
    """One line of a feedback object: the decision, or why it cannot be learnt from
    (`malformed_decision`, or `unknown_category` for a category no model scores: one such line must
    not fail every later retraining)."""
    try:
        decision = ModeratorDecision.model_validate_json(line)
    except ValidationError:
        return "malformed_decision"
    return decision if decision.category in Category else "unknown_category"


def read_feedback(s3: "S3Client", bucket: str, prefix: str) -> Feedback:
    """Every moderator decision under `prefix`; malformed lines are counted and logged, not fatal."""
    out = Feedback()
    for key, body in read_objects(s3, bucket, list_keys(s3, bucket, prefix, "feedback")):
        try:
            if isinstance(body, AwsError):
                raise body
            text = body.decode("utf-8")
        except (AwsError, UnicodeDecodeError) as err:
            out.skipped["unreadable_object"] += 1
            log.warning({"event": "feedback_skip", "key": key, "reason": type(err).__name__})
            continue
        for line in text.splitlines():
            if not line.strip():
                continue
            decision = parse_decision(line)
            if isinstance(decision, str):
                out.skipped[decision] += 1
            else:
                out.decisions.append(decision)
    if out.skipped:
        log.warning({"event": "feedback_skipped", "reasons": dict(out.skipped)})
    return out


def _read_statements[T: BaseModel](
    s3: "S3Client", bucket: str, prefix: str, kind: type[T], outcomes: bool
) -> list[T]:
    """Every `kind` under `prefix` — in the objects that hold appeals' outcomes, or (with `outcomes`
    False) in those that hold statements of reasons; an unreadable object or a line that does not parse
    is logged and skipped."""
    out: list[T] = []
    keys = [k for k in list_keys(s3, bucket, prefix, "statements") if is_appeal_outcome_key(k) is outcomes]
    for key, body in read_objects(s3, bucket, keys):
        if isinstance(body, AwsError):
            log.warning({"event": "statements_skip", "key": key, "reason": type(body).__name__})
            continue
        for line in body.splitlines():
            try:
                out.append(kind.model_validate_json(line))
            except ValidationError:
                log.warning({"event": "statements_skip", "key": key, "reason": "malformed"})
    return out


def read_outcomes(s3: "S3Client", bucket: str, statements_prefix: str) -> list[AppealOutcome]:
    """Every appeal's outcome under the statements prefix."""
    return _read_statements(
        s3, bucket, appeal_outcomes_prefix(statements_prefix), AppealOutcome, outcomes=True
    )


def read_statements(s3: "S3Client", bucket: str, statements_prefix: str) -> list[StatementOfReasons]:
    """Every statement of reasons under the statements prefix."""
    return _read_statements(s3, bucket, statements_prefix, StatementOfReasons, outcomes=False)
