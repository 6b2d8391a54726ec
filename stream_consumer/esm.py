"""The Kinesis event-source-mapping semantics as a pure state machine, one per shard.

What Lambda's ESM does for a shard, reproduced so the local runner behaves as AWS will:
- batches of up to `batch_size` records and at most Lambda's 6 MB invocation payload, or fewer once
  the oldest waited `batching_window_s`;
- one batch in flight per shard, records in order;
- success: checkpoint at the batch's highest sequence number;
- ReportBatchItemFailures: checkpoint before the LOWEST failed record and retry from it (with
  BisectBatchOnFunctionError on too, AWS documents this as bisecting at the returned sequence number
  and retrying only the rest: the same records);
- an empty list is success; a null, empty or unknown itemIdentifier is a complete failure, retried as
  a function error is (bisected when BisectBatchOnFunctionError is on), though the function returned;
- a function error: bisect the batch (BisectBatchOnFunctionError) and retry the halves in order;
  splitting does not consume the retry quota;
- MaximumRetryAttempts and MaximumRecordAgeInSeconds (-1 = unlimited): then the records go to the
  on-failure destination (`contracts.on_failure`) and the checkpoint moves past them.

No I/O here: the runner feeds fetched records and handler outcomes in, and carries out the effects.
"""

import json
from base64 import b64encode
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.on_failure import (
    Condition,
    KinesisBatchInfo,
    OnFailureRecord,
    RequestContext,
    ResponseContext,
)
from runtime.retry import backoff_delay

# Lambda's synchronous invocation payload limit, which a batch's event must fit in.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# What one record adds to the event besides its base64 data, sequence number and partition key: the
# JSON keys, eventSource/eventName/versions, the role, region and stream ARNs (each at most a few
# hundred characters). An upper bound: a batch under the estimate is under the real size.
RECORD_ENVELOPE_BYTES = 1024


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """A record as GetRecords returned it."""

    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # ApproximateArrivalTimestamp, epoch seconds

    @property
    def event_bytes(self) -> int:
        """An upper bound of the bytes this record adds to a Lambda event (base64 data, JSON escapes)."""
        escaped = 6 * (len(self.sequence_number) + len(self.partition_key))  # worst case: \uXXXX each
        return 4 * ((len(self.data) + 2) // 3) + escaped + RECORD_ENVELOPE_BYTES


@dataclass(frozen=True, slots=True)
class EsmConfig:
    batch_size: int = 100
    batching_window_s: float = 1.0
    maximum_retry_attempts: int = 5  # -1: retry until the records expire
    maximum_record_age_s: int = 3600  # -1: never expire
    bisect_on_error: bool = True
    retry_backoff_s: float = 0.5  # wait before retry n: backoff * 2**(n-1), capped
    retry_backoff_max_s: float = 8.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


# --- what the handler did ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completed:
    """The function returned; `failures` are the batchItemFailures identifiers (None: none at all)."""

    failures: Sequence[str | None] | None = None


@dataclass(frozen=True, slots=True)
class FunctionError:
    """The function raised (or timed out)."""

    error: str


Outcome = Completed | FunctionError

# --- what the runner must do ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invoke:
    records: tuple[StreamRecord, ...]
    attempt: int  # 0 for the first try


@dataclass(frozen=True, slots=True)
class Checkpoint:
    sequence_number: str


@dataclass(frozen=True, slots=True)
class Discard:
    """Give up on these records: send an on-failure record for them to the destination."""

    records: tuple[StreamRecord, ...]
    condition: Condition
    invocations: int  # invocations that carried these records, those before a bisection included
    error: str | None  # why the last invocation failed (None: never invoked)
    raised: bool  # the last invocation raised (a function error), rather than returning failures


Effect = Invoke | Checkpoint | Discard


@dataclass
class _Batch:
    records: list[StreamRecord]
    attempts: int = 0  # failed tries counted against the retry quota
    invocations: int = 0  # invocations that carried these records (inherited through bisection)
    last_error: str | None = None
    raised: bool = False
    not_before: float = 0.0  # monotonic time before which a retry waits


@dataclass
class ShardMachine:
    """The mapping's state for one shard."""

    shard_id: str
    config: EsmConfig
    _buffer: deque[tuple[StreamRecord, float]] = field(default_factory=deque)  # (record, fetched at)
    _work: list[_Batch] = field(default_factory=list)  # stack; the top is tried next
    _in_flight: bool = False

    @property
    def buffered(self) -> int:
        return len(self._buffer) + sum(len(b.records) for b in self._work)

    @property
    def buffered_bytes(self) -> int:
        """The event bytes of the records held (what fetching more would add to)."""
        held = sum(r.event_bytes for r, _ in self._buffer)
        return held + sum(r.event_bytes for b in self._work for r in b.records)

    @property
    def idle(self) -> bool:
        """Nothing fetched and not yet checkpointed."""
        return not self._buffer and not self._work and not self._in_flight

    def add(self, records: Sequence[StreamRecord], now: float) -> None:
        """Records the poller fetched, in shard order."""
        self._buffer.extend((r, now) for r in records)

    def next(self, now: float, wall_clock: float) -> list[Effect]:
        """What to do now: nothing, an invocation, or discarding expired records (then ask again)."""
        if self._in_flight:
            return []
        if not self._work:
            if not self._buffer:
                return []
            take, full = self._batch_extent()
            waited = now - self._buffer[0][1] >= self.config.batching_window_s
            if not (full or waited):
                return []
            self._work.append(_Batch([self._buffer.popleft()[0] for _ in range(take)]))
        batch = self._work[-1]
        if now < batch.not_before:
            return []
        max_age = self.config.maximum_record_age_s
        if max_age >= 0:
            expired = 0
            while expired < len(batch.records) and wall_clock - batch.records[expired].arrival > max_age:
                expired += 1
            if expired:
                gone = tuple(batch.records[:expired])
                batch.records = batch.records[expired:]
                if not batch.records:
                    self._work.pop()
                return [
                    Discard(gone, "RecordAgeExceeded", batch.invocations, batch.last_error, batch.raised),
                    Checkpoint(gone[-1].sequence_number),
                ]
        self._in_flight = True
        batch.invocations += 1
        return [Invoke(tuple(batch.records), batch.attempts)]

    def _batch_extent(self) -> tuple[int, bool]:
        """How many buffered records the next batch takes, and whether it is full (by count or size).

        At least one record: a Kinesis record (1 MiB at most) always fits in an invocation.
        """
        size = 0
        for taken, (record, _) in enumerate(self._buffer):
            if taken == self.config.batch_size:
                return taken, True
            size += record.event_bytes
            if size > self.config.max_payload_bytes:
                return max(taken, 1), True
        return len(self._buffer), False

    def complete(self, outcome: Outcome, now: float = 0.0) -> list[Effect]:
        """The handler's outcome for the batch in flight (`now`: monotonic time, for retry backoff)."""
        if not self._in_flight:
            raise RuntimeError("no batch in flight")
        self._in_flight = False
        batch = self._work[-1]
        if isinstance(outcome, Completed):
            if not outcome.failures:
                self._work.pop()
                return [Checkpoint(batch.records[-1].sequence_number)]
            position = {r.sequence_number: i for i, r in enumerate(batch.records)}
            if all(f and f in position for f in outcome.failures):
                lowest = min(position[f] for f in outcome.failures if f)
                effects: list[Effect] = []
                if lowest > 0:
                    effects.append(Checkpoint(batch.records[lowest - 1].sequence_number))
                batch.records = batch.records[lowest:]
                batch.attempts += 1
                batch.last_error, batch.raised = "partial batch failure", False
                return effects + self._after_failure(batch, now)
            # A complete failure although the function returned: retried as a function error is.
            batch.last_error, batch.raised = "invalid itemIdentifier in batchItemFailures", False
        else:
            batch.last_error, batch.raised = outcome.error, True
        if self.config.bisect_on_error and len(batch.records) > 1:
            self._work.pop()
            half = len(batch.records) // 2
            # Splitting is not a retry: each half gets the full retry budget, first half first.
            for part in (batch.records[half:], batch.records[:half]):
                self._work.append(_Batch(part, 0, batch.invocations, batch.last_error, batch.raised))
            return []
        batch.attempts += 1
        return self._after_failure(batch, now)

    def _after_failure(self, batch: _Batch, now: float) -> list[Effect]:
        limit = self.config.maximum_retry_attempts
        if limit < 0 or batch.attempts <= limit:
            delay = backoff_delay(
                batch.attempts, self.config.retry_backoff_s, self.config.retry_backoff_max_s, jitter=False
            )
            batch.not_before = now + delay
            return []  # retried by a later call to next()
        self._work.pop()
        return [
            Discard(
                tuple(batch.records),
                "RetryAttemptsExhausted",
                batch.invocations,
                batch.last_error,
                batch.raised,
            ),
            Checkpoint(batch.records[-1].sequence_number),
        ]


# --- the AWS shapes ------------------------------------------------------------------------------


def lambda_event(
    shard_id: str, stream_arn: str, region: str, records: Sequence[StreamRecord]
) -> dict[str, Any]:
    """The event Lambda's Kinesis ESM delivers, as JSON-compatible data (what the handler receives)."""
    role = f"arn:aws:iam::{_account(stream_arn)}:role/chat-moderation-consumer-role"
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": b64encode(r.data).decode("ascii"),
                    "approximateArrivalTimestamp": r.arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else "000000000000"


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def on_failure_record(
    discard: Discard, shard_id: str, stream_arn: str, function_arn: str, now: float
) -> OnFailureRecord:
    """The record Lambda sends to an on-failure destination for a Kinesis source."""
    first, last = discard.records[0], discard.records[-1]
    response = None
    if discard.invocations:
        response = ResponseContext(
            status_code=200,
            executed_version="$LATEST",
            function_error="Unhandled" if discard.raised else None,
        )
    return OnFailureRecord(
        request_context=RequestContext(
            request_id=f"{shard_id}-{first.sequence_number}-{last.sequence_number}",
            function_arn=function_arn,
            condition=discard.condition,
            approximate_invoke_count=discard.invocations,
        ),
        response_context=response,
        timestamp=_utc(now),
        batch=KinesisBatchInfo(
            shard_id=shard_id,
            start_sequence_number=first.sequence_number,
            end_sequence_number=last.sequence_number,
            approximate_arrival_of_first_record=_utc(first.arrival),
            approximate_arrival_of_last_record=_utc(last.arrival),
            batch_size=len(discard.records),
            stream_arn=stream_arn,
        ),
    )


def parse_response(response: object) -> Completed:
    """Read a handler's return value as Lambda does: no or empty batchItemFailures is full success."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return Completed(None)
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return Completed([None])
    return Completed([f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures])


def roundtrip(event: dict[str, Any]) -> dict[str, Any]:
    """Through JSON and back, as the Lambda service serialises an event."""
    result: dict[str, Any] = json.loads(json.dumps(event))
    return result
