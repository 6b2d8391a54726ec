"""The consumer on LocalStack, driven by the local event-source-mapping runner: nothing is lost."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.dead_letter import DeadLetter, RejectReason
from contracts.lambda_event import read_event
from infra.bootstrap import ensure_stream
from infra.localstack import LocalStack, set_config
from monitoring.archive import read_archive
from producer_sim.publisher import Publisher
from producer_sim.replay import MalformedKind, OutgoingRecord, Replay, parse_mix
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.kinesis import PutReport, batches
from runtime.paths import PROJECT_ROOT
from runtime.queues import peek_bodies
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.handler import build_consumer
from stream_consumer.local_runner import LocalRunner, RunnerStats
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from tests.emulator import consumer_settings, publish_scorer, read_verdicts
from training.data import Community, load_community

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


def publish(endpoint_url: str, stream: str, replay: Replay, mix: str) -> list[OutgoingRecord]:
    publisher = Publisher(aws.client("kinesis", endpoint_url), stream)
    report: PutReport[OutgoingRecord] = PutReport()
    for batch in batches(replay.records(parse_mix(mix))):
        publisher.publish_batch(batch, report)
    assert not report.undelivered
    return [d.entry for d in report.delivered]


def run_in_process(settings: ConsumerSettings, idle_exit_s: float = 3.0) -> RunnerStats:
    consumer = build_consumer(settings)

    def handler(event: dict[str, Any], context: object) -> object:
        return consumer.handle(read_event(event))

    runner = LocalRunner(
        settings,
        handler,
        aws.client("kinesis", settings.aws_endpoint_url),
        aws.client("sqs", settings.aws_endpoint_url),
        CheckpointStore(settings.checkpoint_dir / "cp.json"),
    )
    return runner.run(threading.Event(), idle_exit_s=idle_exit_s)


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
    return {"verdicts": len(verdicts), "duplicates": len(verdicts) - len(by_id), "dead_letters": len(letters)}


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


def test_killing_the_runner_mid_stream_loses_nothing(
    endpoint_url: str, fresh_stack: Stack, replay: Replay, scorers: dict[str, LinearScorer], tmp_path: Path
) -> None:
    # GIVEN 3,000 messages and the real `python -m stream_consumer run-local` (the real lambda_handler)
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:3000")
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path)
    env = {**os.environ, **settings.to_env()}
    cmd = [sys.executable, "-m", "stream_consumer", "run-local", "--idle-exit", "4"]
    # WHEN it is killed (SIGKILL, no clean shutdown) once it has checkpointed part of the stream
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = settings.checkpoint_dir / f"{fresh_stack.input_stream.name}.json"
    poll_until(
        lambda: checkpoint.exists() and len(json.loads(checkpoint.read_text())) >= 2,
        timeout=60,
        what="two shards checkpointed",
        interval=0.05,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_before = len(read_verdicts(endpoint_url, fresh_stack.output_stream.name))
    assert 0 < done_before < len(sent), "the kill should land mid-stream"
    # AND restarted with the same checkpoints
    subprocess.run(cmd, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300)
    # THEN every message is still accounted for (some verdicts repeated, none missing)
    assert_all_accounted_for(endpoint_url, fresh_stack, sent)


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
    # WHEN it appears only after a few seconds of failing batches
    timer = threading.Timer(4.0, lambda: ensure_stream(aws.client("kinesis", endpoint_url), late))
    timer.start()
    stats = run_in_process(settings, idle_exit_s=6)
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
    consumer = build_consumer(settings)
    runner = LocalRunner(
        settings,
        lambda event, _: consumer.handle(read_event(event)),
        aws.client("kinesis", endpoint_url),
        aws.client("sqs", endpoint_url),
        CheckpointStore(settings.checkpoint_dir / "cp.json"),
    )
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
