"""The runner's idle exit and idle pace: an outage is not idleness."""

import time
from pathlib import Path
from threading import Event
from typing import Any

from botocore.exceptions import EndpointConnectionError

from local_esm.runner import LocalRunner
from runtime.checkpoints import CheckpointStore
from stream_consumer.settings import ConsumerSettings


class _UnreachableThenQuiet:
    """A Kinesis and SQS stand-in whose GetRecords fails for `outage_s`, then answers with nothing."""

    def __init__(self, outage_s: float) -> None:
        self._until = time.monotonic() + outage_s
        self.answered = 0

    def describe_stream_summary(self, StreamName: str) -> dict[str, Any]:  # noqa: N803
        return {"StreamDescriptionSummary": {"StreamARN": f"arn:aws:kinesis:us-east-1:0:stream/{StreamName}"}}

    def get_queue_url(self, QueueName: str) -> dict[str, Any]:  # noqa: N803
        return {"QueueUrl": f"http://queue/{QueueName}"}

    def list_shards(self, StreamName: str) -> dict[str, Any]:  # noqa: N803
        return {"Shards": [{"ShardId": "shardId-000000000000"}]}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "iterator"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        if time.monotonic() < self._until:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566")
        self.answered += 1
        return {"Records": [], "NextShardIterator": "iterator", "MillisBehindLatest": 0}


def test_an_outage_longer_than_the_idle_exit_does_not_end_the_runner(tmp_path: Path) -> None:
    # GIVEN a runner that exits after 0.3 s of idleness, and a stream unreachable for 1 s
    aws = _UnreachableThenQuiet(outage_s=1.0)
    settings = ConsumerSettings(poll_interval_s=0.05)
    client: Any = aws  # stands in for both boto3 clients
    runner = LocalRunner(
        settings, lambda event, context: {}, client, client, CheckpointStore(tmp_path / "c.json")
    )
    # WHEN it runs
    stats = runner.run(Event(), idle_exit_s=0.3)
    # THEN it waited the outage out and exited only once the stream answered and stayed quiet
    assert stats.io_errors > 0
    assert aws.answered > 0


class _Waits:
    """A stop event that records each wait and stops the runner after `passes` of them."""

    def __init__(self, passes: int) -> None:
        self.passes = passes
        self.waits: list[float] = []

    def is_set(self) -> bool:
        return len(self.waits) >= self.passes

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False


def _runner(aws: _UnreachableThenQuiet, tmp_path: Path) -> LocalRunner:
    settings = ConsumerSettings(poll_interval_s=0.05, idle_poll_max_s=0.4)
    client: Any = aws
    return LocalRunner(
        settings, lambda event, context: {}, client, client, CheckpointStore(tmp_path / "c.json")
    )


def test_a_quiet_stream_is_read_less_often_up_to_the_idle_pace(tmp_path: Path) -> None:
    # GIVEN a runner polling every 0.05 s, at most every 0.4 s when idle, over a stream with nothing
    stop = _Waits(passes=6)
    # WHEN it runs six passes
    _runner(_UnreachableThenQuiet(outage_s=0), tmp_path).run(stop)  # type: ignore[arg-type]
    # THEN each idle pass waits twice the last, up to the idle pace (Lambda's: a shard a second)
    assert stop.waits == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]


def test_an_outage_is_retried_at_the_working_pace_not_the_idle_one(tmp_path: Path) -> None:
    # GIVEN a stream unreachable for longer than the run
    stop = _Waits(passes=5)
    # WHEN the runner polls it
    _runner(_UnreachableThenQuiet(outage_s=60), tmp_path).run(stop)  # type: ignore[arg-type]
    # THEN it keeps trying at its working pace: an outage is not a quiet stream
    assert stop.waits == [0.05] * 5
