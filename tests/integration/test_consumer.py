"""The consumer on LocalStack, driven by the local event-source-mapping runner: nothing is lost."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.dead_letter import DeadLetter, RejectReason
from infra.bootstrap import ensure_stream
from infra.localstack import LocalStack, set_config
from local_esm.runner import RunnerStats
from monitoring.archive import read_archive
from producer_sim.communities import Community, load_community
from producer_sim.replay import MalformedKind, OutgoingRecord, Replay
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.paths import PROJECT_ROOT
from runtime.queues import peek_bodies
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.handler import build_consumer
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from tests.emulator import (
    consumer_settings,
    local_runner,
    publish,
    publish_delivered,
    publish_scorer,
    read_verdicts,
)

pytestmark = pytest.mark.integration

EXPECTED_REASON = {
    MalformedKind.NOT_JSON: RejectReason.NOT_JSON,
    MalformedKind.WRONG_SCHEMA: RejectReason.WRONG_SCHEMA,
    MalformedKind.EMPTY_TEXT: RejectReason.EMPTY_TEXT,
    MalformedKind.OVERSIZE_TEXT: RejectReason.TEXT_TOO_LONG,
    MalformedKind.UNKNOWN_FIELD: RejectReason.UNKNOWN_FIELD,
}


@pytest.fixture(scope="module")
def replay(data_dir: Path) -> Replay:
    pools = {c: load_community(data_dir, c) for c in (Community.RSCIENCE, Community.TWEETS)}
    return Replay(pools, malformed_share=0.03, seed=21)


def run_in_process(settings: ConsumerSettings, idle_exit_s: float = 3.0) -> RunnerStats:
    consumer = build_consumer(settings)

    def handler(event: dict[str, Any], context: object) -> object:
        return consumer.handle_event(event)

    return run_with(settings, handler, idle_exit_s)


def run_with(
    settings: ConsumerSettings, handler: Callable[[dict[str, Any], object], object], idle_exit_s: float = 3.0
) -> RunnerStats:
    """The local event source mapping, in this process, driving `handler` until the stream is drained."""
    return local_runner(settings, handler).run(threading.Event(), idle_exit_s=idle_exit_s)


def assert_all_accounted_for(endpoint_url: str, stack: Stack, sent: list[OutgoingRecord]) -> dict[str, int]:
    """Every good message has a verdict (duplicates identical), every poison one a DLQ entry, all archived."""
    good = {r.message_id: r for r in sent if r.malformed is None}
    poison = {r.message_id: r for r in sent if r.malformed is not None}
    verdicts = read_verdicts(endpoint_url, stack.output_stream.name)
    by_id = Counter(v.message_id for v in verdicts)
    assert set(by_id) == set(good), f"missing {len(set(good) - set(by_id))} verdicts"
    for v in verdicts:  # a repeated verdict is the same decision on the same record
        twin = next(w for w in verdicts if w.message_id == v.message_id)
        assert (v.action, v.score, v.sequence_number) == (twin.action, twin.score, twin.sequence_number)
    sqs = aws.client("sqs", endpoint_url)
    url = sqs.get_queue_url(QueueName=stack.dead_letter_queue.name)["QueueUrl"]
    letters = [DeadLetter.model_validate_json(b) for b in peek_bodies(sqs, url)]
    unique = {(dl.shard_id, dl.sequence_number): dl for dl in letters}  # the DLQ is at-least-once too
    assert len(unique) == len(poison)
    kinds = Counter(dl.reason for dl in unique.values())
    assert kinds == Counter(EXPECTED_REASON[r.malformed] for r in poison.values() if r.malformed)
    archive = read_archive(
        aws.client("s3", endpoint_url), stack.archive_bucket.name, stack.archive_bucket.archive_prefix
    )
    assert {m.message.message_id for m in archive.messages} == set(good)
    assert not archive.skipped
    return {
        "verdicts": len(verdicts),
        "duplicates": len(verdicts) - len(by_id),
        "dead_letters": len(letters),
        "poison": len(poison),
    }


def test_a_real_mix_gets_a_verdict_or_a_dead_letter_each(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    # GIVEN a champion and 1,500 real messages (3% poison) in the input stream
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:1000,tweets:500")
    # WHEN the runner drains it
    stats = run_in_process(consumer_settings(fresh_stack, endpoint_url, tmp_path))
    # THEN every record is accounted for, and the verdicts name the model version
    counts = assert_all_accounted_for(endpoint_url, fresh_stack, sent)
    assert stats.records_in == len(sent)
    assert stats.function_errors == 0
    assert {v.model_version for v in read_verdicts(endpoint_url, fresh_stack.output_stream.name)} == {"1"}
    assert counts["dead_letters"] > 0


def test_killing_the_runner_mid_stream_resumes_from_its_checkpoints(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    # GIVEN 3,000 messages and the real `python -m local_esm run` (the real lambda_handler)
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:3000")
    valid = {r.message_id for r in sent if r.malformed is None}
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path)
    env = {**os.environ, **settings.to_env()}
    cmd = [sys.executable, "-m", "local_esm", "run", "--idle-exit", "4"]
    # One batch in flight per shard: at most that many records were handled but not yet checkpointed.
    in_flight_bound = fresh_stack.input_stream.shards * settings.batch_size
    # WHEN it is killed (SIGKILL, no clean shutdown) once it has judged well over that many messages
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        poll_until(
            lambda: len(judged(endpoint_url, fresh_stack)) >= 2.5 * in_flight_bound,
            timeout=120,
            what=f"{2.5 * in_flight_bound:.0f} messages judged",
            interval=0.1,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = judged(endpoint_url, fresh_stack)
    assert before < valid, "the kill should land mid-stream, before every valid message was judged"
    handled_before = handled(endpoint_url, fresh_stack)
    # AND restarted with the same checkpoints
    subprocess.run(cmd, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300)
    # THEN every message is still accounted for
    counts = assert_all_accounted_for(endpoint_url, fresh_stack, sent)
    # AND it resumed from its checkpoints: what was handled twice fits in one in-flight batch per shard
    # (a restart from the start of the stream would handle everything judged before the kill again)
    redelivered = counts["duplicates"] + counts["dead_letters"] - counts["poison"]
    assert redelivered <= in_flight_bound, (redelivered, in_flight_bound, handled_before)


def judged(endpoint_url: str, stack: Stack) -> set[object]:
    """The message ids with a verdict so far."""
    return {v.message_id for v in read_verdicts(endpoint_url, stack.output_stream.name)}


def handled(endpoint_url: str, stack: Stack) -> int:
    """Verdict records written so far, repeats included."""
    return len(read_verdicts(endpoint_url, stack.output_stream.name))


def test_a_record_the_function_keeps_failing_on_goes_to_the_on_failure_queue(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    # GIVEN 400 messages, and a function that raises whenever one of them is in its batch (a bug no
    # record-level handling catches), with bisection on and one retry
    s3 = aws.client("s3", endpoint_url)
    publish_scorer(s3, fresh_stack.models_bucket.name, scorers["1"], "1")
    delivered = publish_delivered(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:400")
    valid = [d for d in delivered if d.entry.malformed is None]
    target = valid[len(valid) // 2]
    settings = consumer_settings(
        fresh_stack, endpoint_url, tmp_path, maximum_retry_attempts=1, retry_backoff_s=0.05
    )
    consumer = build_consumer(settings)
    invocations: Counter[str] = Counter()

    def handler(event: dict[str, Any], context: object) -> object:
        seqs = {r["kinesis"]["sequenceNumber"] for r in event["Records"]}
        if target.sequence_number in seqs:
            invocations[target.sequence_number] += 1
            raise RuntimeError("a bug on this record")
        return consumer.handle_event(event)

    stats = run_with(settings, handler)
    # THEN the destination holds one record naming exactly that record, as AWS writes it
    sqs = aws.client("sqs", endpoint_url)
    url = sqs.get_queue_url(QueueName=fresh_stack.on_failure_queue.name)["QueueUrl"]
    bodies = peek_bodies(sqs, url)
    assert len(bodies) == 1, bodies
    body = json.loads(bodies[0])
    info = body["KinesisBatchInfo"]
    arn = aws.client("kinesis", endpoint_url).describe_stream_summary(
        StreamName=fresh_stack.input_stream.name
    )
    assert info["streamArn"] == arn["StreamDescriptionSummary"]["StreamARN"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        target.shard_id,
        target.sequence_number,
        target.sequence_number,
        1,
    )
    assert body["version"] == "1.0"
    assert body["timestamp"].endswith("Z")
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == invocations[target.sequence_number]
    assert body["responseContext"]["functionError"] == "Unhandled"
    assert stats.discarded == 1
    # AND every other valid message was judged, that one not
    ids = {v.message_id for v in read_verdicts(endpoint_url, fresh_stack.output_stream.name)}
    assert ids == {d.entry.message_id for d in valid} - {target.entry.message_id}


def test_a_split_shard_drains_before_its_children_start(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    # GIVEN messages on every shard, then shard 0 split in two, then more messages (some on its children)
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    stream = fresh_stack.input_stream.name
    sent = publish(endpoint_url, stream, replay, "rscience:600")
    kinesis = aws.client("kinesis", endpoint_url)
    parent = kinesis.list_shards(StreamName=stream)["Shards"][0]
    low, high = (int(parent["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    kinesis.split_shard(
        StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    poll_until(
        lambda: (
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"]
            == "ACTIVE"
        ),
        timeout=30,
        what="the split stream active",
    )
    children = {
        s["ShardId"]
        for s in kinesis.list_shards(StreamName=stream)["Shards"]
        if s.get("ParentShardId") == parent["ShardId"]
    }
    assert len(children) == 2
    sent += publish(endpoint_url, stream, replay, "rscience:600")
    # WHEN the runner drains the stream in small batches, recording which shard each invocation read
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, batch_size=10)
    consumer = build_consumer(settings)
    invoked: list[str] = []

    def handler(event: dict[str, Any], context: object) -> object:
        if event["Records"]:  # a window's final invocation has none
            invoked.append(event["Records"][0]["eventID"].split(":", 1)[0])
        return consumer.handle_event(event)

    run_with(settings, handler)
    # THEN every invocation of the parent came before the first of its children (order per key kept)
    parent_turns = [i for i, shard in enumerate(invoked) if shard == parent["ShardId"]]
    child_turns = [i for i, shard in enumerate(invoked) if shard in children]
    assert len(parent_turns) > 1, "the parent should need several batches"
    assert child_turns, "the children should have records"
    assert max(parent_turns) < min(child_turns)
    # AND nothing was lost, and the parent is recorded as finished
    assert_all_accounted_for(endpoint_url, fresh_stack, sent)
    assert CheckpointStore(settings.checkpoint_dir / "cp.json").finished(parent["ShardId"])


@pytest.fixture
def throttled_output(localstack: LocalStack | None, endpoint_url: str) -> Iterator[None]:
    if localstack is None:
        pytest.skip("fault injection needs the session's own LocalStack (ENABLE_CONFIG_UPDATES)")
    set_config(endpoint_url, "KINESIS_ERROR_PROBABILITY", 0.6)
    yield
    set_config(endpoint_url, "KINESIS_ERROR_PROBABILITY", 0.0)


def test_a_throttled_output_stream_loses_nothing(
    endpoint_url: str,
    fresh_stack: Stack,
    replay: Replay,
    scorers: dict[str, LinearScorer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # GIVEN messages already in the input stream, then PutRecords failing 60% of the time
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:1000")
    request.getfixturevalue("throttled_output")
    # WHEN the runner drains it (one put attempt per invocation: with 60% of calls failing, a run of
    # ~12 batches without a partial failure has a probability of about 2e-5)
    settings = consumer_settings(
        fresh_stack, endpoint_url, tmp_path, verdict_put_attempts=1, maximum_retry_attempts=-1
    )
    stats = run_in_process(settings, idle_exit_s=5)
    set_config(endpoint_url, "KINESIS_ERROR_PROBABILITY", 0.0)
    # THEN retries really happened, and every message is accounted for
    assert stats.partial_failures > 0
    assert_all_accounted_for(endpoint_url, fresh_stack, sent)


def test_an_output_stream_that_is_missing_for_a_while_loses_nothing(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    # GIVEN a verdicts stream that does not exist yet (writes fail as for an unreachable endpoint)
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:500")
    late = fresh_stack.output_stream.model_copy(update={"name": f"{fresh_stack.output_stream.name}-late"})
    stack = fresh_stack.model_copy(update={"output_stream": late})
    settings = consumer_settings(stack, endpoint_url, tmp_path, maximum_retry_attempts=-1)
    # WHEN it appears only two seconds after the first batch came back failed
    consumer = build_consumer(settings)
    timer = threading.Timer(2.0, lambda: ensure_stream(aws.client("kinesis", endpoint_url), late))

    def handler(event: dict[str, Any], context: object) -> object:
        response = consumer.handle_event(event)
        if response["batchItemFailures"] and not timer.is_alive() and not timer.finished.is_set():
            timer.start()
        return response

    stats = run_with(settings, handler, idle_exit_s=6)
    timer.join()
    # THEN the failed batches were retried until they went through, and nothing was lost
    assert stats.partial_failures > 0
    assert stats.discarded == 0
    assert_all_accounted_for(endpoint_url, stack, sent)


def test_a_new_champion_is_picked_up_mid_stream_without_restart(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    s3 = aws.client("s3", endpoint_url)
    publish_scorer(s3, fresh_stack.models_bucket.name, scorers["1"], "1")
    first = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:400")
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, reload_interval_s=0.5)
    stop = threading.Event()
    runner = local_runner(settings)
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        # WHEN the first messages have verdicts from version 1 and version 2 is promoted
        poll_until(lambda: len(read_verdicts(endpoint_url, fresh_stack.output_stream.name)) >= 300)
        publish_scorer(s3, fresh_stack.models_bucket.name, scorers["2"], "2")
        time.sleep(1.5)
        second = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:400")
        later = {r.message_id for r in second if r.malformed is None}
        poll_until(
            lambda: (
                later <= {v.message_id for v in read_verdicts(endpoint_url, fresh_stack.output_stream.name)}
            )
        )
    finally:
        stop.set()
        thread.join(30)
    # THEN the later messages were judged by version 2, by the same running process
    verdicts = read_verdicts(endpoint_url, fresh_stack.output_stream.name)
    assert {v.model_version for v in verdicts if v.message_id in later} == {"2"}
    assert {v.model_version for v in verdicts} == {"1", "2"}
    assert len(first) > 0
