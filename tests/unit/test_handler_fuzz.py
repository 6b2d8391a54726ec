"""Property-based fuzzing of the consumer: whatever arrives, no unhandled exception, and every record
is accounted for exactly once — as a verdict, a dead letter, or a failure to retry."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_consumer.consumer import Consumer
from stream_consumer.esm import StreamRecord, lambda_event, roundtrip
from stream_consumer.moderation import Champion
from stream_consumer.policy import ChannelPolicy, PolicyBook
from stream_consumer.schemas import read_event
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from tests.fakes import MemoryArchive, MemoryDeadLetters, MemoryVerdicts
from training.data import Community, LabelledText
from training.train import ModelParams, fit

TEXTS = ["thanks for the paper", "you idiot", "great study design", "what a moron", "lol ok", "sample size?"]


@pytest.fixture(scope="module")
def champion() -> Champion:
    """A real (tiny) exported model, so normalisation, features and scoring all run for real."""
    items = [
        LabelledText(t + f" {i}", "remove" if ("idiot" in t or "moron" in t) else "allow", Community.USER)
        for i in range(20)
        for t in TEXTS
    ]
    half = len(items) // 2
    model = fit(items[:half], items[half:], ModelParams(c_grid=(1.0,), min_df=1))
    scorer: LinearScorer = model.scorer
    return Champion("chat-moderation", "1", scorer)


good_message = st.builds(
    lambda text, channel, user: json.dumps(
        {
            "message_id": "3f1c5e0e-8d8a-4a9e-9a51-7b7c8f0b2c11",
            "channel_id": channel,
            "user_id": user,
            "text": text,
            "sent_at": datetime.now(UTC).isoformat(),
        }
    ).encode(),
    st.text(min_size=0, max_size=400),
    st.text(min_size=0, max_size=20),
    st.sampled_from(["u1", "", "x" * 200]),
)
payload = st.one_of(
    good_message,
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.dictionaries(
        st.text(max_size=10), st.one_of(st.none(), st.integers(), st.text(max_size=50)), max_size=6
    ).map(lambda d: json.dumps(d).encode()),
)


def _event(payloads: list[bytes], corrupt: list[bool]) -> dict[str, Any]:
    records = [StreamRecord(str(1000 + i), "k", p, 1_800_000_000.0 + i) for i, p in enumerate(payloads)]
    event = roundtrip(
        lambda_event("shardId-000000000000", "arn:aws:kinesis:us-east-1:0:stream/s", "us-east-1", records)
    )
    for record, bad in zip(event["Records"], corrupt, strict=True):
        if bad:  # not base64 at all: what a broken producer or proxy could hand over
            record["kinesis"]["data"] = "%%" + record["kinesis"]["data"]
    event["window"] = {"start": "x"}  # extra top-level keys are allowed
    return event


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(st.tuples(payload, st.booleans()), min_size=1, max_size=8),
    fail_channel=st.sampled_from(["", "u1"]),
    dlq_down=st.booleans(),
)
def test_every_record_is_accounted_for(
    champion: Champion, data: list[tuple[bytes, bool]], fail_channel: str, dlq_down: bool
) -> None:
    payloads = [p for p, _ in data]
    corrupt = [c and i % 2 == 0 for i, (_, c) in enumerate(data)]
    verdicts = MemoryVerdicts(fail_channels=frozenset({fail_channel}))
    dead = MemoryDeadLetters(refuse=dlq_down)
    book = PolicyBook(channels={"u1": ChannelPolicy(block_terms=("idiot",))})
    consumer = Consumer(ConsumerSettings(), lambda: champion, lambda: book, verdicts, dead, MemoryArchive())
    event = _event(payloads, corrupt)
    response = consumer.handle(read_event(event))
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    written = [m.record.sequence_number for m in verdicts.written]
    lettered = [r.sequence_number for r in dead.sent]
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert sorted(written + lettered + failed) == sorted(seqs)  # each exactly once
    for seq, bad in zip(seqs, corrupt, strict=True):
        if bad:
            assert seq in lettered or seq in failed
