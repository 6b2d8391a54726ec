"""The consumer's dead-letter sink on a real SQS (moto's server): every dead letter lands once, in
batches SQS accepts, and an error retrying cannot fix fails the batch at once instead of being retried
as if it could pass."""

import uuid
from base64 import b64encode
from datetime import UTC, datetime

import pytest

from contracts.dead_letter import DeadLetter, RejectReason
from runtime import aws
from runtime.queues import peek_bodies
from stream_consumer.moderation import Rejected
from stream_consumer.sinks import SinkError, SqsDeadLetterSink

pytestmark = pytest.mark.integration


def _rejected(n: int, size: int) -> list[Rejected]:
    return [
        Rejected(
            None,
            DeadLetter(
                reason=RejectReason.NOT_JSON,
                detail="d",
                shard_id="shardId-000000000000",
                sequence_number=str(i),
                partition_key="c1",
                approximate_arrival=0.0,
                event_source_arn="arn",
                payload_b64=b64encode(b"x" * size).decode(),
                payload_bytes=size,
                payload_truncated=False,
                rejected_at=datetime.now(UTC),
            ),
        )
        for i in range(n)
    ]


def test_every_dead_letter_lands_once_in_batches_sqs_accepts(moto_endpoint: str) -> None:
    sqs = aws.client("sqs", moto_endpoint)
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    slept: list[float] = []
    # 25 letters of ~40 KB: more than one SQS batch by count (10) and by size (256 KiB)
    items = _rejected(25, 30_000)
    assert SqsDeadLetterSink(sqs, url, sleep=slept.append).send(items) == []
    bodies = peek_bodies(sqs, url)
    assert sorted(DeadLetter.model_validate_json(b).sequence_number for b in bodies) == sorted(
        str(i) for i in range(25)
    )
    assert slept == []  # nothing failed, nothing retried


def test_a_missing_queue_fails_the_batch_without_retrying(moto_endpoint: str) -> None:
    sqs = aws.client("sqs", moto_endpoint)
    missing = f"{moto_endpoint}/123456789012/dlq-{uuid.uuid4().hex[:8]}"
    slept: list[float] = []
    with pytest.raises(SinkError, match="dead-letter queue"):
        SqsDeadLetterSink(sqs, missing, sleep=slept.append).send(_rejected(3, 10))
    assert slept == []  # a missing queue is not waited out
