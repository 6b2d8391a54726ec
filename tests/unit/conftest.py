"""Factories for Lambda Kinesis records, byte-identical to what the event source mapping sends."""

import json
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count
from typing import Any
from uuid import uuid4

import pytest

from stream_consumer.schemas import KinesisRecord

_SEQ = count(49_600_000_000_000_000_000_000_000_000_000_000_000_000)


def lambda_record(
    data: bytes, shard: str = "shardId-000000000000", partition_key: str = "channel-00"
) -> dict[str, Any]:
    """One record as a Lambda Kinesis event carries it."""
    seq = str(next(_SEQ))
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": b64encode(data).decode(),
            "approximateArrivalTimestamp": datetime.now(UTC).timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::000000000000:role/consumer",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages",
    }


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
