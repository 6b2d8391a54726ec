"""The stack on a real emulator, and the simulator delivering real messages to it without loss."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.chat import ChatMessage
from infra.bootstrap import bootstrap, ensure_stream
from infra.localstack import LocalStack, set_config
from producer_sim.communities import Community, load_community
from producer_sim.publisher import Publisher, PublishReport
from producer_sim.replay import OutgoingRecord, Replay, parse_mix
from runtime import aws
from runtime.kinesis import Delivered, batches, read_stream
from runtime.stack import Stack, StreamSpec
from tests.emulator import unique_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replay(data_dir: Path) -> Replay:
    pools = {c: load_community(data_dir, c) for c in (Community.RSCIENCE, Community.TWEETS)}
    return Replay(pools, seed=11)


def _fresh_stream(endpoint_url: str, shards: int) -> str:
    name = f"chat-messages-{uuid.uuid4().hex[:8]}"
    ensure_stream(
        aws.client("kinesis", endpoint_url), StreamSpec(name=name, shards=shards, retention_hours=24)
    )
    return name


def _publish(endpoint_url: str, stream: str, replay: Replay, mix: str, per_call: int = 500) -> PublishReport:
    publisher = Publisher(aws.client("kinesis", endpoint_url), stream, max_attempts=20)
    report = PublishReport()
    for batch in batches(replay.records(parse_mix(mix)), max_records=per_call):
        publisher.publish_batch(batch, report)
    return report


def _assert_read_back_exactly(
    endpoint_url: str, stream: str, delivered: list[Delivered[OutgoingRecord]]
) -> None:
    shards = read_stream(aws.client("kinesis", endpoint_url), stream)
    seen = {(shard, r["SequenceNumber"]): r["Data"] for shard, records in shards.items() for r in records}
    assert sum(len(r) for r in shards.values()) == len(seen), "a sequence number appeared twice"
    expected = {(d.shard_id, d.sequence_number): d.entry.data for d in delivered}
    assert seen == expected  # every delivered record, byte for byte, and nothing else
    ids = [ChatMessage.model_validate_json(data).message_id for data in seen.values()]
    assert len(set(ids)) == len(ids), "a message was delivered twice"


def test_bootstrap_creates_everything_and_is_idempotent(endpoint_url: str) -> None:
    # GIVEN a stack under fresh names
    spec = unique_stack()
    # WHEN it is bootstrapped twice
    first = bootstrap(spec, endpoint_url)
    second = bootstrap(spec, endpoint_url)
    # THEN the first run created all eight resources (two streams, three buckets, three queues) and
    # the second none
    assert len(first.created) == 8
    assert second.created == []
    assert first.dead_letter_queue_url == second.dead_letter_queue_url
    assert first.escalations_queue_url == second.escalations_queue_url != ""
    kinesis = aws.client("kinesis", endpoint_url)
    shards = kinesis.list_shards(StreamName=spec.input_stream.name)["Shards"]
    assert len(shards) == spec.input_stream.shards
    s3 = aws.client("s3", endpoint_url)
    assert s3.get_bucket_versioning(Bucket=spec.archive_bucket.name)["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=spec.archive_bucket.name)["Rules"]
    assert rules[0]["Expiration"]["Days"] == spec.archive_bucket.expire_after_days


def test_ten_thousand_real_messages_arrive_once_each(endpoint_url: str, replay: Replay) -> None:
    # GIVEN a fresh 8-shard stream (LocalStack's Kinesis slows as a shard fills)
    stream = _fresh_stream(endpoint_url, shards=8)
    # WHEN 10,000 real messages of both communities are published
    report = _publish(endpoint_url, stream, replay, "rscience:6000,tweets:4000")
    # THEN all were delivered and every one is read back by sequence number, once
    assert report.sent == 10_000
    assert not report.undelivered
    _assert_read_back_exactly(endpoint_url, stream, report.delivered)


@pytest.fixture
def throttled(localstack: LocalStack | None, endpoint_url: str) -> Iterator[float]:
    """LocalStack's own fault injection: PutRecords fails with ProvisionedThroughputExceeded at a rate."""
    if localstack is None:
        pytest.skip("fault injection needs the session's own LocalStack (ENABLE_CONFIG_UPDATES)")
    set_config(endpoint_url, "KINESIS_ERROR_PROBABILITY", 0.3)
    yield 0.3
    set_config(endpoint_url, "KINESIS_ERROR_PROBABILITY", 0.0)


def test_throttled_puts_are_retried_without_loss_or_duplicates(
    endpoint_url: str, replay: Replay, throttled: float
) -> None:
    # GIVEN a stream whose PutRecords fails 30% of the time
    stream = _fresh_stream(endpoint_url, shards=4)
    # WHEN 3,000 messages are published, 50 per call (LocalStack fails whole calls at the rate: with 60
    # calls, a run without a single failure has a chance of 0.7^60, so throttling surely happens)
    report = _publish(endpoint_url, stream, replay, "rscience:3000", per_call=50)
    # THEN throttling really happened, and yet every message is there exactly once
    assert report.error_codes.get("ProvisionedThroughputExceededException", 0) > 0
    assert report.retried_records > 0
    assert report.sent == 3_000
    assert not report.undelivered
    _assert_read_back_exactly(endpoint_url, stream, report.delivered)


def test_moto_server_serves_the_same_stack(moto_endpoint: str, replay: Replay) -> None:
    # GIVEN the lighter emulator behind the same endpoint setting
    spec: Stack = unique_stack()
    result = bootstrap(spec, moto_endpoint)
    assert len(result.created) == 8
    # WHEN messages are published to its input stream
    report = _publish(moto_endpoint, spec.input_stream.name, replay, "rscience:1000")
    # THEN they all read back exactly
    assert report.sent == 1_000
    _assert_read_back_exactly(moto_endpoint, spec.input_stream.name, report.delivered)


def _descendants(pid: int) -> list[int]:
    """Every process started under `pid` (from /proc: the children of each, recursively)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split()
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


def test_kinesis_state_is_not_rewritten_to_disk_every_few_seconds(
    localstack: LocalStack | None, endpoint_url: str
) -> None:
    """kinesis-mock's persistence rewrites every stream's records to one file every 5 s: about a core
    once a session's streams hold tens of thousands of records (4x slower puts, measured)."""
    if localstack is None or localstack.process is None:
        pytest.skip("a LocalStack named by AWS_ENDPOINT_URL: not this session's to inspect")
    aws.client("kinesis", endpoint_url).list_streams()  # kinesis-mock starts at the first call
    mocks = [
        pid
        for pid in _descendants(localstack.process.pid)
        if b"kinesis" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert mocks, "no kinesis-mock process under this session's LocalStack"
    for pid in mocks:
        env = dict(
            line.split(b"=", 1)
            for line in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if b"=" in line
        )
        assert env.get(b"SHOULD_PERSIST_DATA") != b"true"
