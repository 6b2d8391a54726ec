"""Tumbling windows in the event-source-mapping state machine: each rule Lambda's developer guide
gives, and the safe choices where it is silent."""

import json

import pytest
from pydantic import ValidationError

from local_esm.esm import (
    Checkpoint,
    Completed,
    EsmConfig,
    FunctionError,
    Invoke,
    ShardMachine,
    StreamRecord,
    Window,
    lambda_event,
)
from runtime.stack import load_stack

W = 30
NOW = 1_800_000_000.0  # a window boundary: windows are [NOW, NOW+30), [NOW+30, NOW+60), ...
ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages"


def record(i: int, arrival: float, sent_at: str = "2026-01-01T00:00:00+00:00") -> StreamRecord:
    data = json.dumps({"n": i, "sent_at": sent_at}).encode()
    return StreamRecord(f"{i:05d}", "channel-00", data, arrival)


def machine(**config: object) -> ShardMachine:
    config = {"retry_backoff_s": 0.0, "batching_window_s": 0.0, "tumbling_window_s": W} | config
    return ShardMachine("shardId-000000000000", EsmConfig(**config))  # type: ignore[arg-type]


def invoke(m: ShardMachine, now: float = 0.0, wall: float = NOW + 1) -> Invoke:
    effects = m.next(now, wall)
    (effect,) = effects
    assert isinstance(effect, Invoke), effects
    return effect


def seqs(inv: Invoke) -> list[str]:
    return [r.sequence_number for r in inv.records]


def test_windows_follow_arrival_time_and_a_batch_never_spans_two() -> None:
    # GIVEN records arriving at +1 s and +29 s (one window) and +31 s (the next), whose senders claim
    # a time in another year altogether
    m = machine()
    m.add([record(1, NOW + 1), record(2, NOW + 29), record(3, NOW + 31)], now=0)
    # THEN the first batch holds only the first window's records, and says which window it is
    first = invoke(m)
    assert seqs(first) == ["00001", "00002"]
    assert first.window is not None
    assert (first.window.window.start, first.window.window.end) == (NOW, NOW + W)
    m.complete(Completed(None, {"n": "2"}))
    # AND the window closes with its final invocation before the next window's record is sent
    final = invoke(m)
    assert final.records == ()
    assert final.window is not None
    assert final.window.final
    m.complete(Completed(None, {}))
    second = invoke(m)
    assert seqs(second) == ["00003"]
    assert second.window is not None
    assert second.window.window.start == NOW + W


def test_every_invocation_carries_the_window_and_the_last_returned_state() -> None:
    m = machine(batch_size=1)
    m.add([record(1, NOW + 1), record(2, NOW + 2)], now=0)
    first = invoke(m)
    assert first.window is not None
    assert first.window.window.state == {}  # a window opens empty
    m.complete(Completed(None, {"count": "1"}))
    second = invoke(m)
    assert second.window is not None
    assert second.window.window.state == {"count": "1"}
    event = lambda_event("shardId-000000000000", ARN, "us-east-1", second.records, second.window)
    assert event["window"] == {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T08:00:30Z"}
    assert event["state"] == {"count": "1"}
    assert event["shardId"] == "shardId-000000000000"
    assert event["eventSourceARN"] == ARN
    assert event["isFinalInvokeForWindow"] is False
    assert event["isWindowTerminatedEarly"] is False
    assert "window" not in lambda_event("shardId-000000000000", ARN, "us-east-1", second.records)


def test_a_response_without_state_is_a_failed_invocation() -> None:
    m = machine(bisect_on_error=False)
    m.add([record(1, NOW + 1), record(2, NOW + 2)], now=0)
    invoke(m)
    assert m.complete(Completed(None, None)) == []  # no checkpoint: retried
    retry = invoke(m)
    assert seqs(retry) == ["00001", "00002"]
    assert retry.attempt == 1
    assert retry.window is not None
    assert retry.window.window.state == {}
    assert m.complete(Completed(None, {"n": "2"})) == [
        Checkpoint("00002", Window(NOW, NOW + W, {"n": "2"}), True)
    ]


def test_a_partial_failure_keeps_the_returned_state_with_the_checkpoint_before_the_failure() -> None:
    # GIVEN a batch of 4 whose third record fails; the function returns the state of records 1-2
    m = machine()
    m.add([record(i, NOW + i) for i in range(1, 5)], now=0)
    invoke(m)
    effects = m.complete(Completed(["00003"], {"counted": "1,2"}))
    # THEN the checkpoint before the failure carries that state, and the retry starts from it with it
    assert effects == [Checkpoint("00002", Window(NOW, NOW + W, {"counted": "1,2"}), True)]
    retry = invoke(m)
    assert seqs(retry) == ["00003", "00004"]
    assert retry.window is not None
    assert retry.window.window.state == {"counted": "1,2"}


def test_an_invalid_identifier_fails_the_whole_response_and_its_state_is_not_taken() -> None:
    m = machine(bisect_on_error=False)
    m.add([record(1, NOW + 1), record(2, NOW + 2)], now=0)
    invoke(m)
    assert m.complete(Completed(["nope"], {"n": "99"})) == []
    retry = invoke(m)
    assert retry.window is not None
    assert retry.window.window.state == {}


def test_the_final_invoke_hands_over_the_state_then_the_state_is_deleted() -> None:
    m = machine()
    m.add([record(1, NOW + 1)], now=0)
    invoke(m)
    m.complete(Completed(None, {"n": "1"}))
    m.add([record(2, NOW + W + 1)], now=0)
    final = invoke(m)
    assert final.window is not None
    assert final.window.final
    assert not final.window.terminated_early
    assert final.window.window.state == {"n": "1"}
    assert final.records == ()
    assert m.complete(Completed(None, {})) == [Checkpoint("00001", None, True, NOW + W)]  # no window open
    nxt = invoke(m)
    assert nxt.window is not None
    assert nxt.window.window.state == {}
    assert not nxt.window.final


def test_an_idle_shard_gets_its_final_invoke_some_time_after_the_window_ends() -> None:
    m = machine(final_grace_s=1.0)
    m.add([record(1, NOW + 1)], now=0)
    invoke(m)
    m.complete(Completed(None, {"n": "1"}))
    assert m.window_open
    assert m.next(1, NOW + W - 0.1) == []  # the window has not ended
    assert m.next(1, NOW + W + 0.5) == []  # ended, but a late record may still be on its way
    final = invoke(m, wall=NOW + W + 1.0)
    assert final.window is not None
    assert final.window.final


def test_the_final_invoke_is_retried_until_it_succeeds_and_the_shard_waits() -> None:
    m = machine(maximum_retry_attempts=1, retry_backoff_s=1.0, retry_backoff_max_s=4.0)
    m.add([record(1, NOW + 1)], now=0)
    invoke(m)
    m.complete(Completed(None, {"n": "1"}))
    m.add([record(2, NOW + W + 1)], now=0)
    now = 0.0
    for attempt in range(6):  # far past MaximumRetryAttempts: nothing is discarded, nothing skipped
        final = invoke(m, now=now)
        assert final.window is not None
        assert final.window.final
        assert final.attempt == attempt
        assert m.complete(FunctionError("boom"), now) == []
        assert m.next(now, NOW + 60) == []  # the shard waits (backoff), the next window's record too
        now += 10.0
    assert invoke(m, now=now).window.final  # type: ignore[union-attr]
    assert m.complete(Completed(None, None), now) == []  # returned, but without state: failed too
    now += 10.0
    assert invoke(m, now=now).window.final  # type: ignore[union-attr]
    m.complete(Completed(None, {}), now)
    assert seqs(invoke(m, now=now)) == ["00002"]


def test_state_over_1_mb_ends_the_window_early_and_the_window_goes_on_fresh() -> None:
    m = machine(max_state_bytes=64, batch_size=1)
    m.add([record(1, NOW + 1), record(2, NOW + 2)], now=0)
    invoke(m)
    m.complete(Completed(None, {"n": "1"}))
    invoke(m)
    effects = m.complete(Completed(None, {"big": "x" * 100}))  # over the limit
    assert effects == [Checkpoint("00002", Window(NOW, NOW + W, {"n": "1"}), True)]
    final = invoke(m)
    assert final.window is not None
    assert final.window.final
    assert final.window.terminated_early
    assert final.window.window.state == {"n": "1"}  # the last state within the limit
    m.complete(Completed(None, {}))
    m.add([record(3, NOW + 3)], now=0)
    nxt = invoke(m)
    assert nxt.window is not None
    assert nxt.window.window.start == NOW
    assert nxt.window.window.state == {}


def test_a_shard_that_ends_closes_its_window_at_once() -> None:
    m = machine()
    m.add([record(1, NOW + 1)], now=0)
    invoke(m)
    m.complete(Completed(None, {"n": "1"}))
    assert m.next(1, NOW + 2) == []
    m.end_of_shard()
    final = invoke(m, wall=NOW + 2)
    assert final.window is not None
    assert final.window.final
    m.complete(Completed(None, {}))
    assert not m.window_open


def test_a_late_record_for_a_closed_window_joins_the_next_one() -> None:
    m = machine()
    m.add([record(1, NOW + 1)], now=0)
    invoke(m)
    m.complete(Completed(None, {"n": "1"}))
    invoke(m, wall=NOW + W + 5)  # the idle window closed
    m.complete(Completed(None, {}))
    m.add([record(2, NOW + 10)], now=0)  # arrived within the closed window, fetched after it closed
    late = invoke(m, wall=NOW + W + 6)
    assert late.window is not None
    assert late.window.window.start == NOW + W


def test_a_window_resumes_from_its_checkpoint() -> None:
    m = machine()
    m.add([record(1, NOW + 1)], now=0)
    invoke(m)
    (checkpoint,) = m.complete(Completed(None, {"n": "1"}))
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.window is not None
    # a new machine (a restarted runner) given the saved window carries on with its state
    restarted = machine()
    restarted.window = Window.from_json(json.loads(json.dumps(checkpoint.window.to_json())))
    restarted.add([record(2, NOW + 2)], now=0)
    inv = invoke(restarted)
    assert inv.window is not None
    assert inv.window.window.state == {"n": "1"}


def test_windows_are_1_to_900_seconds_with_one_batch_per_shard() -> None:
    with pytest.raises(ValueError, match=r"1\.\.900"):
        EsmConfig(tumbling_window_s=901)
    spec = load_stack().event_source_mapping
    assert 1 <= spec.tumbling_window_seconds <= 900
    with pytest.raises(ValidationError, match="parallelization_factor"):
        type(spec).model_validate(spec.model_dump() | {"parallelization_factor": 2})
