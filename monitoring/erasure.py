"""Erase one user's data on request: their archived messages, the moderators' feedback on those
messages, and the dead letters that carry their messages.

What identifies the user where:

- archive objects (`archive/…jsonl.gz`): each line is an `ArchivedMessage` whose `message.user_id`
  (and `verdict.user_id`) is the user;
- feedback objects (`feedback/…jsonl`): a `ModeratorDecision` names only a `message_id`, so the user's
  feedback is the feedback on the message ids found in the user's archived lines;
- review items (the moderators' queue, a DynamoDB table): each names its `user_id` and holds the text;
- dead letters (SQS): the record's original payload (base64) is the chat message, `user_id` inside it
  (a truncated or non-JSON payload is searched for a `"user_id": "…"` pair; without one it cannot be
  attributed and is counted, not touched).

Every version of every object is scanned (the bucket is versioned): a current object holding the user
is rewritten without those lines, or deleted when nothing is left, and each version that held the user
is then deleted for good; an older version holding the user is deleted too. Other lines are kept byte
for byte. Feedback goes first and the archive last, so an interrupted run can simply be repeated: the
archive still links the user to the message ids until it is rewritten.

Not covered here (see docs/operating.md, "Operating it"): records still in the Kinesis streams (24 h
retention), drift reports, models trained on moderators' labels, and the simulator's local side files.

The core (`erase_archive_object`, `erase_feedback_object`, `dead_letter_match`) is pure; `erase_user`
is the thin S3/SQS adapter. Nothing here logs message text: logs name object keys and counts only.
"""

import binascii
import json
import re
from base64 import b64decode
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError, computed_field

from contracts.audit import AuditEvent, AuditKind, subject_refs
from contracts.dead_letter import DeadLetter
from contracts.storage import gunzip_text, gzip_lines
from runtime.logs import structured_logger
from runtime.queues import receive_all

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = structured_logger("monitoring", to_stderr=True)

_USER_ID_PAIR = re.compile(r'"user_id"\s*:\s*"((?:[^"\\]|\\.)*)"')


# --- pure core --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rewrite:
    """One object without the user's lines. `body` is None when no line is left (delete the object)."""

    body: bytes | None
    removed: int
    kept: int
    message_ids: frozenset[str] = frozenset()  # of the removed lines (archive objects only)
    unparsed_lines: int = 0  # lines that are not JSON objects: kept as they are, and counted


def _lines(text: str) -> Iterator[tuple[str, dict[str, Any] | None]]:
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            doc = None
        yield line, doc if isinstance(doc, dict) else None


def _canonical_id(value: object) -> str | None:
    """A message id in one spelling (UUIDs compare case- and hyphen-insensitively)."""
    if not isinstance(value, str):
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return value


def _archived_user(doc: dict[str, Any]) -> set[str]:
    ids = set()
    for part in ("message", "verdict"):
        inner = doc.get(part)
        if isinstance(inner, dict) and isinstance(inner.get("user_id"), str):
            ids.add(inner["user_id"])
    return ids


def erase_archive_object(body: bytes, user_id: str) -> Rewrite | None:
    """An archive object (gzip'd JSON Lines) without `user_id`'s lines; None when it cannot be read."""
    text = gunzip_text(body)
    if text is None:
        return None
    kept: list[str] = []
    ids: set[str] = set()
    removed = unparsed = 0
    for line, doc in _lines(text):
        if doc is None:
            unparsed += 1
            kept.append(line)
        elif user_id in _archived_user(doc):
            removed += 1
            message = doc.get("message")
            mid = _canonical_id(message.get("message_id") if isinstance(message, dict) else None)
            if mid:
                ids.add(mid)
        else:
            kept.append(line)
    new = gzip_lines(kept) if kept else None
    return Rewrite(new, removed, len(kept), frozenset(ids), unparsed)


def erase_feedback_object(body: bytes, message_ids: frozenset[str]) -> Rewrite | None:
    """A feedback object (JSON Lines) without the decisions on `message_ids`; None when unreadable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    kept: list[str] = []
    removed = unparsed = 0
    for line, doc in _lines(text):
        if doc is None:
            unparsed += 1
            kept.append(line)
        elif _canonical_id(doc.get("message_id")) in message_ids:
            removed += 1
        else:
            kept.append(line)
    new = ("\n".join(kept) + "\n").encode() if kept else None
    return Rewrite(new, removed, len(kept), frozenset(), unparsed)


class LetterMatch(StrEnum):
    USER = "user"  # the letter carries the user's message
    OTHER = "other"  # it carries another user's message
    UNATTRIBUTABLE = "unattributable"  # no user id could be read from it


def dead_letter_match(body: str, user_id: str) -> LetterMatch:
    """Whether a dead letter (the SQS message body) carries a message of `user_id`."""
    try:
        letter = DeadLetter.model_validate_json(body)
    except ValidationError:
        return LetterMatch.UNATTRIBUTABLE
    raw = letter.payload_b64
    try:
        text = b64decode(raw[: len(raw) - len(raw) % 4], validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        text = raw  # the record's data was not base64 to begin with
    found: set[str] = set()
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and isinstance(doc.get("user_id"), str):
            found.add(doc["user_id"])
    except json.JSONDecodeError:
        pass
    if not found:  # truncated or otherwise broken JSON: the pair may still be readable
        for m in _USER_ID_PAIR.finditer(text):
            try:
                found.add(json.loads(f'"{m.group(1)}"'))
            except json.JSONDecodeError:
                continue
    if not found:
        return LetterMatch.UNATTRIBUTABLE
    return LetterMatch.USER if user_id in found else LetterMatch.OTHER


# --- the report -------------------------------------------------------------------------------


class PrefixReport(BaseModel):
    """What an erasure did (or, in a dry run, would do) under one prefix."""

    objects_scanned: int = 0  # current objects
    older_versions_scanned: int = 0
    objects_rewritten: int = 0
    objects_deleted: int = 0
    records_removed: int = 0  # lines removed from current objects
    versions_purged: int = 0  # versions that held the user, deleted for good (older ones included)
    unreadable_objects: int = 0  # not gzip/UTF-8: left as they are
    unparsed_lines: int = 0  # not JSON: left as they are


class DeadLetterReport(BaseModel):
    scanned: int = 0
    matched: int = 0
    removed: int = 0
    unattributable: int = 0  # no user id readable (e.g. a non-JSON poison record): left in the queue
    in_flight_not_scanned: int = 0  # invisible (being received elsewhere) while this ran


class ReviewQueue(Protocol):
    """The review queue as erasure needs it (`review.store.ReviewStore`)."""

    def erase_user(self, user_id: str, dry_run: bool = False) -> int: ...


class Strikes(Protocol):
    """The strikes table as erasure needs it (`strikes.store.StrikeStore`)."""

    def erase_user(self, user_id: str, dry_run: bool = False) -> int: ...


class ErasureReport(BaseModel):
    user_id: str
    dry_run: bool
    message_ids_found: int = 0
    review_items: int = 0  # the user's items in the moderators' queue (erased, or found on a dry run)
    strikes: int = 0  # the user's strikes and clearings, in every channel (erased, or found)
    archive: PrefixReport = Field(default_factory=PrefixReport)
    feedback: PrefixReport = Field(default_factory=PrefixReport)
    dead_letters: DeadLetterReport = Field(default_factory=DeadLetterReport)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def complete(self) -> bool:
        """Everything that could hold the user was read: no unreadable object or line, no letter in flight."""
        return not (
            self.archive.unreadable_objects
            or self.archive.unparsed_lines
            or self.feedback.unreadable_objects
            or self.feedback.unparsed_lines
            or self.dead_letters.in_flight_not_scanned
        )


# --- the S3 / SQS adapter ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    key: str
    version_id: str  # "null" in a bucket that never had versioning
    latest: bool


def _versions(s3: "S3Client", bucket: str, prefix: str) -> Iterator[_Version]:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            yield _Version(v["Key"], v.get("VersionId") or "null", bool(v.get("IsLatest")))


def _get(s3: "S3Client", bucket: str, v: _Version) -> tuple[bytes, str]:
    """The version's body and content type (kept when the object is rewritten)."""
    if v.version_id == "null":
        resp = s3.get_object(Bucket=bucket, Key=v.key)
    else:
        resp = s3.get_object(Bucket=bucket, Key=v.key, VersionId=v.version_id)
    return resp["Body"].read(), resp.get("ContentType") or "binary/octet-stream"


def _purge(s3: "S3Client", bucket: str, v: _Version) -> None:
    """Delete one version for good (in an unversioned bucket: the object)."""
    if v.version_id == "null":
        s3.delete_object(Bucket=bucket, Key=v.key)
    else:
        s3.delete_object(Bucket=bucket, Key=v.key, VersionId=v.version_id)


@dataclass
class _Scan:
    matches: list[tuple[_Version, Rewrite, str]] = field(default_factory=list)  # version, rewrite, type
    message_ids: set[str] = field(default_factory=set)


def _scan(
    s3: "S3Client",
    bucket: str,
    prefix: str,
    erase: Callable[[bytes], Rewrite | None],
    report: PrefixReport,
    kind: str,
) -> _Scan:
    """Read every version under `prefix`; keep those holding the user, with their rewrite."""
    scan = _Scan()
    for v in _versions(s3, bucket, prefix):
        if v.latest:
            report.objects_scanned += 1
        else:
            report.older_versions_scanned += 1
        body, content_type = _get(s3, bucket, v)
        result = erase(body)
        if result is None:
            report.unreadable_objects += 1
            log.warning({"event": "erasure_unreadable", "kind": kind, "key": v.key})
            continue
        if v.latest:
            report.unparsed_lines += result.unparsed_lines
        if result.removed:
            scan.matches.append((v, result, content_type))
            scan.message_ids |= result.message_ids
    return scan


def _apply(s3: "S3Client", bucket: str, scan: _Scan, report: PrefixReport, dry_run: bool, kind: str) -> None:
    """Rewrite or delete the current objects that held the user, then purge every version that did."""
    for v, result, content_type in scan.matches:
        if v.latest:
            report.records_removed += result.removed
            if result.body is None:
                report.objects_deleted += 1
            else:
                report.objects_rewritten += 1
        versioned = v.version_id != "null"
        report.versions_purged += versioned
        if dry_run:
            continue
        if v.latest and result.body is not None:
            # a new version (or, unversioned, the overwrite)
            s3.put_object(Bucket=bucket, Key=v.key, Body=result.body, ContentType=content_type)
            if versioned:
                _purge(s3, bucket, v)
        elif v.latest and versioned:
            s3.delete_object(Bucket=bucket, Key=v.key)  # a delete marker: no older version resurfaces
            _purge(s3, bucket, v)
        else:
            _purge(s3, bucket, v)
        log.info(
            {
                "event": "erasure_object",
                "kind": kind,
                "key": v.key,
                "version_id": v.version_id,
                "records_removed": result.removed,
                "action": (
                    "purged_old_version"
                    if not v.latest
                    else "deleted"
                    if result.body is None
                    else "rewritten"
                ),
            }
        )


def _erase_dead_letters(
    sqs: "SQSClient", queue_url: str, user_id: str, report: DeadLetterReport, dry_run: bool
) -> None:
    """Receive every letter (hidden while this runs), delete the user's, then release the rest."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    report.in_flight_not_scanned = int(attrs["Attributes"].get("ApproximateNumberOfMessagesNotVisible", 0))
    held: list[str] = []
    try:
        for messages in receive_all(sqs, queue_url, hide_s=300, wait_s=1):
            for m in messages:
                report.scanned += 1
                match = dead_letter_match(m["Body"], user_id)
                if match is LetterMatch.UNATTRIBUTABLE:
                    report.unattributable += 1
                if match is LetterMatch.USER:
                    report.matched += 1
                    if not dry_run:
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
                        report.removed += 1
                        continue
                held.append(m["ReceiptHandle"])
    finally:  # the others become visible again at once, not after the visibility timeout
        for i in range(0, len(held), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for j, h in enumerate(held[i : i + 10])
                ],
            )
    if report.matched:
        log.info({"event": "erasure_dead_letters", "matched": report.matched, "removed": report.removed})


def erase_user(
    s3: "S3Client",
    bucket: str,
    archive_prefix: str,
    feedback_prefix: str,
    user_id: str,
    sqs: "SQSClient | None" = None,
    dead_letter_queue_url: str | None = None,
    dry_run: bool = False,
    review: ReviewQueue | None = None,
    strikes: Strikes | None = None,
) -> ErasureReport:
    """Erase `user_id` from the archive, the feedback, (given them) the review queue, the strikes and
    the dead letters."""
    report = ErasureReport(user_id=user_id, dry_run=dry_run)
    archive = _scan(
        s3, bucket, archive_prefix, lambda b: erase_archive_object(b, user_id), report.archive, "archive"
    )
    ids = frozenset(archive.message_ids)
    report.message_ids_found = len(ids)
    feedback = _scan(
        s3, bucket, feedback_prefix, lambda b: erase_feedback_object(b, ids), report.feedback, "feedback"
    )
    # feedback first, the archive (which links the user to the message ids) last: a rerun finishes the job
    _apply(s3, bucket, feedback, report.feedback, dry_run, "feedback")
    if review is not None:
        report.review_items = review.erase_user(user_id, dry_run=dry_run)
    if strikes is not None:
        report.strikes = strikes.erase_user(user_id, dry_run=dry_run)
    if sqs is not None and dead_letter_queue_url is not None:
        _erase_dead_letters(sqs, dead_letter_queue_url, user_id, report.dead_letters, dry_run)
    _apply(s3, bucket, archive, report.archive, dry_run, "archive")
    return report


def erasure_event(user_id: str, complete: bool) -> AuditEvent:
    """An erasure in the audit trail: the subject by a hash of their id (the trail holds no personal
    text), whether everything that could hold them was reached."""
    return AuditEvent(
        kind=AuditKind.ERASURE,
        actor="operator",
        at=datetime.now(UTC),
        reason="complete" if complete else "incomplete: some objects were unreadable",
        refs=subject_refs(user_id),
    )
