"""The event-source-mapping state machine, driven by scripted handler outcomes."""

import pytest

from stream_consumer.esm import (
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
    assert [(seqs_of(d), d.condition, d.attempts) for d in discarded] == [
        (["00003"], "RetryAttemptsExhausted", 2)
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


def test_event_and_on_failure_shapes() -> None:
    recs = records(2)
    arn = "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages"
    event = lambda_event("shardId-000000000001", arn, "us-east-1", recs)
    first = event["Records"][0]
    assert first["eventID"] == "shardId-000000000001:00001"
    assert set(first["kinesis"]) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    body = on_failure_record(
        Discard(tuple(recs), "RetryAttemptsExhausted", 6, "boom"), "shardId-000000000001", arn, "fn", NOW
    )
    info = body["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        "00001",
        "00002",
        2,
    )
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 6


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
