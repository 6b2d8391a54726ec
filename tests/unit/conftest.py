"""Factories for Lambda Kinesis records, byte-identical to what the event source mapping sends."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count
from typing import Any
from uuid import uuid4

import pytest

from contracts.lambda_event import KinesisRecord
from stream_consumer.esm import StreamRecord, lambda_event, roundtrip

_SEQ = count(49_600_000_000_000_000_000_000_000_000_000_000_000_000)


def lambda_record(
    data: bytes, shard: str = "shardId-000000000000", partition_key: str = "channel-00"
) -> dict[str, Any]:
    """One record as a Lambda Kinesis event carries it (the same builder the local runner uses)."""
    record = StreamRecord(str(next(_SEQ)), partition_key, data, datetime.now(UTC).timestamp())
    event = lambda_event(
        shard, "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages", "us-east-1", [record]
    )
    return roundtrip(event)["Records"][0]  # type: ignore[no-any-return]


def message(text: str = "a perfectly ordinary comment", channel: str = "channel-00", **extra: Any) -> bytes:
    body = {
        "message_id": str(uuid4()),
        "channel_id": channel,
        "user_id": "user-00001",
        "text": text,
        "sent_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    return json.dumps(body).encode()


@pytest.fixture
def kinesis_record() -> Callable[..., KinesisRecord]:
    def make(data: bytes, **kwargs: Any) -> KinesisRecord:
        return KinesisRecord.model_validate(lambda_record(data, **kwargs))

    return make
