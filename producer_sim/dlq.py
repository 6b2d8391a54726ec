"""Replay dead-lettered records: after a fix (a schema change, a consumer bug), put their original
payloads back on the input stream. A record is deleted from the queue only once it is re-delivered;
a payload that was truncated when it was dead-lettered cannot be replayed and stays in the queue.
"""

import binascii
import json
from base64 import b64decode
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.dead_letter import DeadLetter, RejectReason
from runtime.kinesis import Entry, PutReport, batches, put_batch
from runtime.queues import receive_all

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True, slots=True)
class ReplayEntry(Entry):
    receipt_handle: str


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def replayable(
    messages: Iterable[tuple[str, str]], reasons: frozenset[RejectReason] | None
) -> tuple[list[ReplayEntry], Counter[str]]:
    """(receipt handle, body) pairs → the entries to re-publish, and what was skipped, by why."""
    entries, skipped = [], Counter[str]()
    for handle, body in messages:
        try:
            letter = DeadLetter.model_validate_json(body)
        except (ValidationError, json.JSONDecodeError):
            skipped["not_a_dead_letter"] += 1
            continue
        if reasons is not None and letter.reason not in reasons:
            skipped[f"reason_{letter.reason.value}_not_selected"] += 1
            continue
        if letter.payload_truncated:
            skipped["payload_truncated"] += 1
            continue
        try:
            data = b64decode(letter.payload_b64, validate=True)
        except (binascii.Error, ValueError):
            skipped["payload_not_base64"] += 1  # the original record was not base64 either
            continue
        entries.append(ReplayEntry(data, letter.partition_key, handle))
    return entries, skipped


def replay_dead_letters(
    sqs: "SQSClient",
    queue_url: str,
    kinesis: "KinesisClient",
    stream: str,
    reasons: frozenset[RejectReason] | None = None,
    limit: int = 10_000,
    dry_run: bool = False,
) -> ReplayReport:
    """Drain up to `limit` dead letters, re-publish the selected ones, delete those delivered."""
    report = ReplayReport()
    seen = 0
    for messages in receive_all(sqs, queue_url, hide_s=120):
        seen += len(messages)
        entries, skipped = replayable(((m["ReceiptHandle"], m["Body"]) for m in messages), reasons)
        report.skipped.update(skipped)
        if dry_run:
            report.replayed += len(entries)
        else:
            put: PutReport[ReplayEntry] = PutReport()
            for batch in batches(entries):
                put_batch(kinesis, stream, batch, put)
            for delivered in put.delivered:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=delivered.entry.receipt_handle)
            report.replayed += put.sent
            if put.undelivered:  # stay in the queue; they come back after the visibility timeout
                report.skipped["undelivered"] += len(put.undelivered)
        if seen >= limit:  # before the next receive, which would hide more letters for nothing
            break
    return report
