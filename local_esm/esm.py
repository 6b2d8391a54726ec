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

Tumbling windows (`tumbling_window_s` 1–900; 0 = off), as Lambda's developer guide documents them:
- every record belongs to the window its ApproximateArrivalTimestamp falls in (windows aligned on the
  epoch: [k·W, (k+1)·W)); a batch never holds records of two windows;
- every invocation carries the window, the state the last successful invocation returned, `shardId`,
  `eventSourceARN`, `isFinalInvokeForWindow` and `isWindowTerminatedEarly`;
- a response without `state` is a failed invocation (retried as a function error is);
- the state is kept with the checkpoint: a partial batch failure checkpoints before the lowest failed
  record with the state the function returned (the function's side: that state must not count the
  failed suffix, which comes again);
- after the window's last record, a final invocation (no records, `isFinalInvokeForWindow`) hands the
  function the window's final state; it is synchronous: the shard waits, retrying it until it succeeds
  (no retry limit, nothing discarded); then the state is deleted. It comes when a record of a later
  window is next, or once the window has ended and the shard stayed idle `final_grace_s` past the end
  (so the final invoke may come some time after the window's end);
- a state over 1 MB terminates the window early: the final invocation says `isWindowTerminatedEarly`
  and carries the last state within the limit (the oversized one cannot be kept), and the same window
  goes on with a fresh state;
- a shard that ends (resharding) closes its window with the final invocation; child shards start their
  own windows with a fresh state;
- records are in order the first time, possibly not on retry: nothing here relies on their order.
Where the guide is silent, the safe choice, written down: a record arriving for a window already closed
(its arrival time earlier than the end of the last final invocation) joins the next window rather
than reopening a closed one; windows require a parallelization factor of 1 (one state per shard; the
stack file refuses more).

No I/O here: the runner feeds fetched records and handler outcomes in, and carries out the effects.
"""

import json
from base64 import b64encode
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import floor
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
# Lambda's limit on a shard's tumbling-window state (over it, the window is terminated early).
MAX_STATE_BYTES = 1024 * 1024
MAX_TUMBLING_WINDOW_S = 900

WindowState = dict[str, Any]  # what the function returned as `state` (JSON)


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
    tumbling_window_s: int = 0  # 0: no windows; else 1..900 seconds
    final_grace_s: float = 1.0  # an idle shard's final invocation waits this long past the window's end
    max_state_bytes: int = MAX_STATE_BYTES

    def __post_init__(self) -> None:
        if not 0 <= self.tumbling_window_s <= MAX_TUMBLING_WINDOW_S:
            raise ValueError(f"tumbling_window_s must be 0 (off) or 1..900, not {self.tumbling_window_s}")


@dataclass(frozen=True, slots=True)
class Window:
    """One shard's open tumbling window: [start, end) in epoch seconds, and the state so far."""

    start: float
    end: float
    state: WindowState = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "state": self.state}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Window":
        return cls(float(raw["start"]), float(raw["end"]), dict(raw.get("state") or {}))


def state_bytes(state: WindowState) -> int:
    """The size the state counts for against Lambda's 1 MB (its JSON)."""
    return len(json.dumps(state, separators=(",", ":")).encode())


# --- what the handler did ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completed:
    """The function returned; `failures` are the batchItemFailures identifiers (None: none at all);
    `state` the tumbling-window state it returned (None: the response had none)."""

    failures: Sequence[str | None] | None = None
    state: WindowState | None = None


@dataclass(frozen=True, slots=True)
class FunctionError:
    """The function raised (or timed out)."""

    error: str


Outcome = Completed | FunctionError

# --- what the runner must do ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowInvoke:
    """The tumbling-window part of an invocation."""

    window: Window
    final: bool = False  # isFinalInvokeForWindow: no records, the window's final state
    terminated_early: bool = False  # isWindowTerminatedEarly


@dataclass(frozen=True, slots=True)
class Invoke:
    records: tuple[StreamRecord, ...]
    attempt: int  # 0 for the first try
    window: WindowInvoke | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Persist the shard's position: the last finished sequence number, and (with windows on) the open
    window and its state, so a restarted mapping resumes the window rather than starting it empty."""

    sequence_number: str | None
    window: Window | None = None
    windowed: bool = False  # windows on: `window` (None = no window open) is saved too
    closed_until: float = 0.0  # the end of the last closed window (a late record joins the next)


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
    # Tumbling windows: the open window, where the last one closed, the final invocation due.
    window: Window | None = None
    sequence_number: str | None = None  # the last checkpoint
    closed_until: float = 0.0  # the end of the last window whose final invocation succeeded
    _final: WindowInvoke | None = None  # a final invocation due (or in flight)
    _final_attempts: int = 0
    _final_not_before: float = 0.0
    _shard_ended: bool = False

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

    @property
    def window_open(self) -> bool:
        """A tumbling window has state or a final invocation still to come."""
        return self.window is not None or self._final is not None

    def end_of_shard(self) -> None:
        """The shard is closed and drained (resharding): its open window ends now."""
        self._shard_ended = True

    def _window_of(self, record: StreamRecord) -> tuple[float, float]:
        """[start, end) of the window a record belongs to, by its arrival time."""
        size = self.config.tumbling_window_s
        start: float = floor(record.arrival / size) * size
        start = max(start, self.closed_until)  # late for a closed window: it joins the next one
        return float(start), float(start + size)

    def _checkpoint(self, sequence_number: str | None) -> Checkpoint:
        if sequence_number is not None:
            self.sequence_number = sequence_number
        windowed = self.config.tumbling_window_s > 0
        return Checkpoint(self.sequence_number, self.window, windowed, self.closed_until)

    def _final_due(self, wall_clock: float) -> WindowInvoke | None:
        """The final invocation of the open window, once it is due."""
        if self._final is not None:
            return self._final
        if self.window is None or self._work:
            return None
        if self._buffer:
            head = self._buffer[0][0]
            due = self._window_of(head)[0] >= self.window.end
        else:
            due = self._shard_ended or wall_clock >= self.window.end + self.config.final_grace_s
        if due:
            self._final = WindowInvoke(self.window, final=True)
        return self._final

    def add(self, records: Sequence[StreamRecord], now: float) -> None:
        """Records the poller fetched, in shard order."""
        self._buffer.extend((r, now) for r in records)

    def next(self, now: float, wall_clock: float) -> list[Effect]:
        """What to do now: nothing, an invocation, or discarding expired records (then ask again)."""
        if self._in_flight:
            return []
        if self.config.tumbling_window_s and (final := self._final_due(wall_clock)) is not None:
            if now < self._final_not_before:
                return []
            self._in_flight = True
            return [Invoke((), self._final_attempts, final)]
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
                    self._checkpoint(gone[-1].sequence_number),
                ]
        self._in_flight = True
        batch.invocations += 1
        return [Invoke(tuple(batch.records), batch.attempts, self._open_window(batch.records[0]))]

    def _open_window(self, first: StreamRecord) -> WindowInvoke | None:
        """The window part of an invocation of records (a window opens with its first batch)."""
        if not self.config.tumbling_window_s:
            return None
        if self.window is None:
            self.window = Window(*self._window_of(first))
        return WindowInvoke(self.window)

    def _batch_extent(self) -> tuple[int, bool]:
        """How many buffered records the next batch takes, and whether it is full (by count or size).

        At least one record: a Kinesis record (1 MiB at most) always fits in an invocation.
        """
        size = 0
        windowed = self.config.tumbling_window_s > 0
        window = self._window_of(self._buffer[0][0]) if windowed else None
        for taken, (record, _) in enumerate(self._buffer):
            if taken == self.config.batch_size:
                return taken, True
            if windowed and taken and self._window_of(record) != window:
                return taken, True  # the next window's records wait for their own batches
            size += record.event_bytes
            if size > self.config.max_payload_bytes:
                return max(taken, 1), True
        return len(self._buffer), False

    def complete(self, outcome: Outcome, now: float = 0.0) -> list[Effect]:
        """The handler's outcome for the batch in flight (`now`: monotonic time, for retry backoff)."""
        if not self._in_flight:
            raise RuntimeError("no batch in flight")
        self._in_flight = False
        if self._final is not None:
            return self._complete_final(outcome, now)
        batch = self._work[-1]
        if self.config.tumbling_window_s and isinstance(outcome, Completed) and outcome.state is None:
            outcome = FunctionError("the response has no state (tumbling windows): a failed invocation")
        if isinstance(outcome, Completed):
            position = {r.sequence_number: i for i, r in enumerate(batch.records)}
            valid = all(f and f in position for f in outcome.failures or ())
            if valid:  # an invalid response failed as a whole: its state is not taken
                self._keep_state(outcome.state)
            if not outcome.failures:
                self._work.pop()
                return [self._checkpoint(batch.records[-1].sequence_number)]
            if valid:
                lowest = min(position[f] for f in outcome.failures if f)
                effects: list[Effect] = []
                if lowest > 0:
                    effects.append(self._checkpoint(batch.records[lowest - 1].sequence_number))
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
            self._checkpoint(batch.records[-1].sequence_number),
        ]

    # --- tumbling windows ----------------------------------------------------------------------

    def _keep_state(self, state: WindowState | None) -> None:
        """Take the state a successful invocation returned; one over the limit ends the window early."""
        if state is None or self.window is None:
            return
        if state_bytes(state) > self.config.max_state_bytes:
            self._final = WindowInvoke(self.window, final=True, terminated_early=True)
            return
        self.window = Window(self.window.start, self.window.end, state)

    def _complete_final(self, outcome: Outcome, now: float) -> list[Effect]:
        """The final invocation: retried until it succeeds (the shard waits); then the state is deleted
        (an early-terminated window goes on with a fresh state)."""
        final = self._final
        assert final is not None
        if isinstance(outcome, FunctionError) or outcome.state is None:
            self._final_attempts += 1
            self._final_not_before = now + backoff_delay(
                self._final_attempts,
                self.config.retry_backoff_s,
                self.config.retry_backoff_max_s,
                jitter=False,
            )
            return []
        self._final, self._final_attempts, self._final_not_before = None, 0, 0.0
        if final.terminated_early:
            self.window = Window(final.window.start, final.window.end)
        else:
            self.window, self.closed_until = None, final.window.end
        return [self._checkpoint(None)]


# --- the AWS shapes ------------------------------------------------------------------------------


def _iso(epoch: float) -> str:
    return _utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def lambda_event(
    shard_id: str,
    stream_arn: str,
    region: str,
    records: Sequence[StreamRecord],
    window: WindowInvoke | None = None,
) -> dict[str, Any]:
    """The event Lambda's Kinesis ESM delivers, as JSON-compatible data (what the handler receives)."""
    event = _records_event(shard_id, stream_arn, region, records)
    if window is not None:
        event |= {
            "window": {"start": _iso(window.window.start), "end": _iso(window.window.end)},
            "state": window.window.state,
            "shardId": shard_id,
            "eventSourceARN": stream_arn,
            "isFinalInvokeForWindow": window.final,
            "isWindowTerminatedEarly": window.terminated_early,
        }
    return event


def _records_event(
    shard_id: str, stream_arn: str, region: str, records: Sequence[StreamRecord]
) -> dict[str, Any]:
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
    """Read a handler's return value as Lambda does: no or empty batchItemFailures is full success;
    `state` is the tumbling-window state (None when the response carries no JSON object there)."""
    if not isinstance(response, dict):
        return Completed(None)
    state = response.get("state")
    state = state if isinstance(state, dict) else None
    failures = response.get("batchItemFailures")
    if not failures:
        return Completed(None, state)
    if not isinstance(failures, list):
        return Completed([None], state)
    return Completed([f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures], state)


def roundtrip(event: dict[str, Any]) -> dict[str, Any]:
    """Through JSON and back, as the Lambda service serialises an event."""
    result: dict[str, Any] = json.loads(json.dumps(event))
    return result
