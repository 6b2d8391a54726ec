"""The event-source-mapping state machine, driven by scripted handler outcomes."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.on_failure import OnFailureRecord
from local_esm.esm import (
    MAX_PAYLOAD_BYTES,
    Checkpoint,
    Completed,
    Discard,
    EsmConfig,
    FunctionError,
    Invoke,
    ShardMachine,
    StreamRecord,
    lambda_event,
    on_failure_record,
    parse_response,
)

NOW = 1_800_000_000.0


def records(n: int, start: int = 1, arrival: float = NOW) -> list[StreamRecord]:
    return [
        StreamRecord(f"{i:05d}", "channel-00", f"m{i}".encode(), arrival) for i in range(start, start + n)
    ]


def machine(**config: object) -> ShardMachine:
    config.setdefault("retry_backoff_s", 0.0)
    return ShardMachine("shardId-000000000000", EsmConfig(**config))  # type: ignore[arg-type]


def invoke(m: ShardMachine, now: float = 100.0) -> Invoke:
    effects = m.next(now, NOW)
    (effect,) = effects
    assert isinstance(effect, Invoke), effects
    return effect


def seqs(inv: Invoke) -> list[str]:
    return [r.sequence_number for r in inv.records]


def test_batches_fill_to_batch_size_or_wait_for_the_window() -> None:
    m = machine(batch_size=3, batching_window_s=1.0)
    m.add(records(2), now=0.0)
    assert m.next(0.5, NOW) == []  # 2 of 3, window not over
    assert seqs(invoke(m, now=1.0)) == ["00001", "00002"]  # window over: a short batch
    m.complete(Completed())
    m.add(records(7, start=3), now=2.0)
    assert seqs(invoke(m, now=2.0)) == ["00003", "00004", "00005"]  # full: no waiting


def test_one_batch_in_flight_and_success_checkpoints_the_highest() -> None:
    m = machine(batch_size=2, batching_window_s=0)
    m.add(records(4), 0)
    invoke(m)
    assert m.next(1, NOW) == []  # still in flight
    assert m.complete(Completed([])) == [Checkpoint("00002")]  # empty list = success
    assert seqs(invoke(m)) == ["00003", "00004"]


def test_partial_failure_checkpoints_before_the_lowest_failure_and_retries_from_it() -> None:
    m = machine(batch_size=5, batching_window_s=0)
    m.add(records(5), 0)
    invoke(m)
    # GIVEN records 3 and 5 failed
    effects = m.complete(Completed(["00005", "00003"]))
    # THEN the checkpoint moves to 2 and the retry starts at 3 (4 is reprocessed: at-least-once)
    assert effects == [Checkpoint("00002")]
    retry = invoke(m)
    assert seqs(retry) == ["00003", "00004", "00005"]
    assert retry.attempt == 1
    assert m.complete(Completed()) == [Checkpoint("00005")]


@pytest.mark.parametrize("bad", [None, "", "99999"])
def test_null_empty_or_unknown_identifier_fails_the_whole_batch(bad: str | None) -> None:
    m = machine(batch_size=2, batching_window_s=0, bisect_on_error=False)
    m.add(records(2), 0)
    invoke(m)
    assert m.complete(Completed([bad])) == []  # no checkpoint
    assert seqs(invoke(m)) == ["00001", "00002"]


def test_function_error_bisects_until_the_poison_record_is_alone() -> None:
    # GIVEN a handler that crashes on record 3 of 4, and one retry allowed
    m = machine(batch_size=4, batching_window_s=0, maximum_retry_attempts=1)
    m.add(records(4), 0)
    log: list[list[str]] = []
    discarded: list[Discard] = []
    checkpoints: list[str] = []
    while True:
        effects = m.next(0, NOW)
        if not effects:
            break
        inv = effects[0]
        assert isinstance(inv, Invoke)
        log.append(seqs(inv))
        outcome = FunctionError("boom") if "00003" in seqs(inv) else Completed()
        for e in m.complete(outcome):
            if isinstance(e, Discard):
                discarded.append(e)
            elif isinstance(e, Checkpoint):
                assert e.sequence_number is not None
                checkpoints.append(e.sequence_number)
    # THEN the halves are tried in order, record 3 is retried once, then sent on, and all is checkpointed
    assert log == [
        ["00001", "00002", "00003", "00004"],
        ["00001", "00002"],
        ["00003", "00004"],
        ["00003"],
        ["00003"],
        ["00004"],
    ]
    # (record 3 was in 4 invocations: the whole batch, its half, and its own two tries)
    assert [(seqs_of(d), d.condition, d.invocations, d.raised) for d in discarded] == [
        (["00003"], "RetryAttemptsExhausted", 4, True)
    ]
    assert checkpoints == ["00002", "00003", "00004"]
    assert m.idle


def seqs_of(d: Discard) -> list[str]:
    return [r.sequence_number for r in d.records]


def test_without_bisect_the_whole_batch_is_retried_then_discarded() -> None:
    m = machine(batch_size=3, batching_window_s=0, maximum_retry_attempts=2, bisect_on_error=False)
    m.add(records(3), 0)
    for attempt in range(3):
        assert invoke(m).attempt == attempt
        effects = m.complete(FunctionError("down"))
    assert isinstance(effects[0], Discard)
    assert effects[0].condition == "RetryAttemptsExhausted"
    assert effects[1] == Checkpoint("00003")


def test_unlimited_retries_stop_only_when_records_expire() -> None:
    m = machine(batch_size=2, batching_window_s=0, maximum_retry_attempts=-1, maximum_record_age_s=60)
    m.add(records(2, arrival=NOW), 0)
    for _ in range(20):
        m.next(0, NOW + 10)
        assert m.complete(Completed(["00001"])) == []
    # WHEN the records are older than the maximum age
    effects = m.next(0, NOW + 61)
    # THEN they are discarded with that condition and checkpointed past
    assert isinstance(effects[0], Discard)
    assert effects[0].condition == "RecordAgeExceeded"
    assert effects[1] == Checkpoint("00002")
    assert m.idle


def test_expired_records_are_skipped_before_invoking() -> None:
    m = machine(batch_size=4, batching_window_s=0, maximum_record_age_s=60)
    m.add([*records(2, arrival=NOW - 120), *records(2, start=3, arrival=NOW)], 0)
    effects = m.next(0, NOW)
    assert [type(e) for e in effects] == [Discard, Checkpoint]
    assert seqs(invoke(m)) == ["00003", "00004"]


def test_responses_are_read_as_lambda_reads_them() -> None:
    assert parse_response(None) == Completed(None)
    assert parse_response({"batchItemFailures": []}) == Completed(None)
    assert parse_response({"batchItemFailures": [{"itemIdentifier": "7"}]}) == Completed(["7"])
    assert parse_response({"batchItemFailures": [{"itemIdentifier": None}]}) == Completed([None])
    # the tumbling window's state rides along with full success, with failures, and with a malformed
    # failure list; anything but a JSON object there is no state
    state = {"context": "abc", "version": "2"}
    assert parse_response({"state": state}) == Completed(None, state)
    assert parse_response({"state": state, "batchItemFailures": "7"}) == Completed([None], state)
    assert parse_response({"state": state, "batchItemFailures": [{"itemIdentifier": "7"}, "x"]}) == Completed(
        ["7", None], state
    )
    assert parse_response({"state": ["not", "an", "object"]}) == Completed(None, None)


# AWS's documented on-failure record for a Kinesis source (Lambda developer guide, "Retain discarded
# batch records for a Kinesis Data Streams event source"): every key, nested ones included.
DOCUMENTED_ON_FAILURE_KEYS = {
    "requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
    "responseContext": {"statusCode", "executedVersion", "functionError"},
    "version": None,
    "timestamp": None,
    "KinesisBatchInfo": {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    },
}
ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_the_lambda_event_has_every_documented_field() -> None:
    event = lambda_event("shardId-000000000001", ARN, "us-east-1", records(2))
    first = event["Records"][0]
    assert set(first) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert first["eventID"] == "shardId-000000000001:00001"
    assert set(first["kinesis"]) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }


def test_the_on_failure_record_has_every_documented_field() -> None:
    recs = records(2, arrival=NOW)
    discard = Discard(tuple(recs), "RetryAttemptsExhausted", 6, "ValueError: boom", raised=True)
    body = json.loads(on_failure_record(discard, "shardId-000000000001", ARN, "arn:fn", NOW + 5).to_json())
    # THEN every documented key is there, and nothing else
    assert set(body) == set(DOCUMENTED_ON_FAILURE_KEYS)
    for key, nested in DOCUMENTED_ON_FAILURE_KEYS.items():
        if nested is not None:
            assert set(body[key]) == nested, key
    # AND the values say what AWS's do
    assert body["version"] == "1.0"
    assert body["requestContext"] == {
        "requestId": body["requestContext"]["requestId"],
        "functionArn": "arn:fn",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 6,
    }
    assert body["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = body["KinesisBatchInfo"]
    assert (info["shardId"], info["streamArn"]) == ("shardId-000000000001", ARN)
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        "00001",
        "00002",
        2,
    )
    for moment in (
        body["timestamp"],
        info["approximateArrivalOfFirstRecord"],
        info["approximateArrivalOfLastRecord"],
    ):
        assert ISO_MS.match(moment), moment
    assert body["timestamp"] > info["approximateArrivalOfLastRecord"]
    # AND the project's reader reads it back
    assert OnFailureRecord.read(json.dumps(body)).batch.covers("shardId-000000000001", "00002")


def discard_after(outcome: Completed | FunctionError, **config: object) -> Discard:
    """Run a 2-record batch to its discard with every try ending in `outcome`."""
    m = machine(batch_size=2, batching_window_s=0, maximum_retry_attempts=1, **config)
    m.add(records(2), 0)
    while m.next(0, NOW):
        for effect in m.complete(outcome):
            if isinstance(effect, Discard):
                return effect
    raise AssertionError("never discarded")


def test_function_error_is_set_only_when_the_function_raised() -> None:
    raised = on_failure_record(
        discard_after(FunctionError("boom"), bisect_on_error=False), "s", ARN, "f", NOW
    )
    returned = on_failure_record(discard_after(Completed(["00001"])), "s", ARN, "f", NOW)
    assert raised.response_context is not None
    assert raised.response_context.function_error == "Unhandled"
    # a partial batch failure is a normal return: Lambda names no function error
    assert returned.response_context is not None
    assert returned.response_context.function_error is None
    assert "functionError" not in json.loads(returned.to_json())["responseContext"]
    # first try + MaximumRetryAttempts (1) retries
    assert raised.request_context.approximate_invoke_count == 2
    assert returned.request_context.approximate_invoke_count == 2


def test_records_that_expire_before_any_invocation_name_no_response() -> None:
    m = machine(batch_size=2, batching_window_s=0, maximum_record_age_s=60)
    m.add(records(2, arrival=NOW - 120), 0)
    discard, checkpoint = m.next(0, NOW)
    assert isinstance(discard, Discard)
    assert checkpoint == Checkpoint("00002")
    body = on_failure_record(discard, "s", ARN, "f", NOW)
    assert body.request_context.condition == "RecordAgeExceeded"
    assert body.request_context.approximate_invoke_count == 0
    assert "responseContext" not in json.loads(body.to_json())


def test_an_invalid_identifier_with_bisect_on_splits_the_batch_without_a_function_error() -> None:
    # GIVEN the production setting (bisect on) and a response naming no valid record
    m = machine(batch_size=4, batching_window_s=0, maximum_retry_attempts=0)
    m.add(records(4), 0)
    invoke(m)
    # WHEN the function returns a null itemIdentifier: a complete failure though it returned
    assert m.complete(Completed([None])) == []  # no checkpoint
    # THEN the batch is bisected, the halves tried in order, and the retry quota is untouched
    first = invoke(m)
    assert seqs(first) == ["00001", "00002"]
    assert first.attempt == 0
    assert m.complete(Completed()) == [Checkpoint("00002")]
    second = invoke(m)
    assert seqs(second) == ["00003", "00004"]
    # AND once a part is down to one record and out of retries it is discarded with no function error
    m.complete(Completed([""]))
    invoke(m)
    effects = m.complete(Completed(["unknown"]))
    (discard,) = [e for e in effects if isinstance(e, Discard)]
    assert seqs_of(discard) == ["00003"]
    assert not discard.raised
    assert discard.invocations == 3  # whole batch, its half, itself


def big_records(n: int, size: int = 1024 * 1024) -> list[StreamRecord]:
    """Records of the largest size Kinesis accepts (1 MiB of data each)."""
    return [StreamRecord(f"{i:05d}", "channel-00", bytes([i % 256]) * size, NOW) for i in range(1, n + 1)]


def test_a_batch_stays_under_lambdas_6_mb_payload_whatever_the_record_count() -> None:
    # GIVEN 10 records of 1 MiB each and a batch size of 100
    m = machine(batch_size=100, batching_window_s=60)
    m.add(big_records(10), 0)
    sizes: list[int] = []
    # WHEN batches are taken (without waiting for the window: a batch that is full by size goes now)
    while effects := m.next(0, NOW):
        (inv,) = effects
        assert isinstance(inv, Invoke)
        event = lambda_event("shardId-000000000000", ARN, "us-east-1", inv.records)
        sizes.append(len(inv.records))
        # THEN each event, as JSON, fits in the invocation payload limit
        assert len(json.dumps(event).encode()) <= MAX_PAYLOAD_BYTES
        m.complete(Completed())
        if m.buffered < 4:
            break
    # AND batches are as large as the limit allows (4 base64-encoded MiB), not one record each
    assert sizes[:2] == [4, 4]


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    key=st.text(min_size=1, max_size=256),
    sequence=st.text(alphabet="0123456789", min_size=1, max_size=128),
)
def test_a_records_size_estimate_bounds_its_real_share_of_the_event(
    data: bytes, key: str, sequence: str
) -> None:
    record = StreamRecord(sequence, key, data, NOW)
    long_arn = "arn:aws:kinesis:ap-southeast-2:123456789012:stream/" + "s" * 128
    one = len(json.dumps(lambda_event("shardId-000000000000", long_arn, "ap-southeast-2", [record])))
    none = len(json.dumps({"Records": []}))
    assert one - none <= record.event_bytes


def test_failed_batches_wait_a_growing_backoff_before_retrying() -> None:
    m = ShardMachine(
        "s", EsmConfig(batch_size=1, batching_window_s=0, retry_backoff_s=1.0, bisect_on_error=False)
    )
    m.add(records(1), 0)
    invoke(m, now=0)
    m.complete(FunctionError("down"), now=10.0)
    assert m.next(10.9, NOW) == []
    invoke(m, now=11.0)
    m.complete(FunctionError("down"), now=11.0)
    assert m.next(12.9, NOW) == []  # second retry waits 2 s
    invoke(m, now=13.0)
