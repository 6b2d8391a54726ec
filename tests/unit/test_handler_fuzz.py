"""Property-based fuzzing of the consumer: whatever arrives — random bytes, texts built to cost time or
to evade, duplicate keys, broken envelopes — no unhandled exception, and every record is accounted for
exactly once: as a verdict, a dead letter, or a failure to retry."""

import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.lambda_event import read_event
from contracts.policy import ChannelPolicy, PolicyBook
from local_esm.esm import StreamRecord, lambda_event, roundtrip
from stream_consumer.consumer import Consumer
from stream_consumer.moderation import Champion
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink
from tests.builders import removals
from training.adversarial import HOSTILE_TEXTS, OBFUSCATIONS
from training.train import ModelParams, fit

TEXTS = ["thanks for the paper", "you idiot", "great study design", "what a moron", "lol ok", "sample size?"]


@pytest.fixture(scope="module")
def champion() -> Champion:
    """A real (tiny) exported model, so normalisation, features and scoring all run for real."""
    items = removals(TEXTS)
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
# Texts built to cost time or to evade (bounded: a batch stays a few hundred kilobytes).
hostile_text = st.builds(
    lambda name, n, fn: OBFUSCATIONS[fn](HOSTILE_TEXTS[name](n), random.Random(n)),
    st.sampled_from(list(HOSTILE_TEXTS)),
    st.integers(min_value=1, max_value=3_000),
    st.sampled_from(list(OBFUSCATIONS)),
).map(lambda t: t[:10_000])
hostile_message = st.builds(
    lambda text, dup: (
        json.dumps(
            {
                "message_id": "3f1c5e0e-8d8a-4a9e-9a51-7b7c8f0b2c11",
                "channel_id": "u1",
                "user_id": "u",
                "text": text,
                "sent_at": datetime.now(UTC).isoformat(),
            }
        ).encode()[: -1 if dup else None]
        + (b', "text": "you idiot"}' if dup else b"")
    ),
    hostile_text,
    st.booleans(),
)
payload = st.one_of(
    good_message,
    hostile_message,
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.dictionaries(
        st.text(max_size=10), st.one_of(st.none(), st.integers(), st.text(max_size=50)), max_size=6
    ).map(lambda d: json.dumps(d).encode()),
)


_BREAKAGES = (
    lambda r: r["kinesis"].update(data="%%" + r["kinesis"]["data"]),  # not base64 (a broken proxy)
    lambda r: r.pop("eventID"),  # a malformed envelope (a platform fault)
    lambda r: r["kinesis"].update(data=None),
    lambda r: r["kinesis"].pop("approximateArrivalTimestamp"),
)


def _event(payloads: list[bytes], corrupt: list[int]) -> dict[str, Any]:
    records = [StreamRecord(str(1000 + i), "k", p, time.time() + i) for i, p in enumerate(payloads)]
    event = roundtrip(
        lambda_event("shardId-000000000000", "arn:aws:kinesis:us-east-1:0:stream/s", "us-east-1", records)
    )
    for record, breakage in zip(event["Records"], corrupt, strict=True):
        if breakage >= 0:
            _BREAKAGES[breakage](record)
    event["window"] = {"start": "x"}  # extra top-level keys are allowed
    return event


@settings(
    max_examples=2_500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(
        st.tuples(payload, st.integers(-len(_BREAKAGES), len(_BREAKAGES) - 1)), min_size=1, max_size=8
    ),
    fail_channel=st.sampled_from(["", "u1"]),
    dlq_down=st.booleans(),
)
def test_every_record_is_accounted_for(
    champion: Champion, data: list[tuple[bytes, int]], fail_channel: str, dlq_down: bool
) -> None:
    payloads = [p for p, _ in data]
    corrupt = [c for _, c in data]  # negative: intact
    verdicts = MemoryVerdictSink(fail_channels=frozenset({fail_channel}))
    dead = MemoryDeadLetterSink(refuse=dlq_down)
    book = PolicyBook(channels={"u1": ChannelPolicy(block_terms=("idiot",))})
    consumer = Consumer(
        ConsumerSettings(), lambda: champion, lambda: book, verdicts, dead, MemoryArchiveSink()
    )
    event = _event(payloads, corrupt)
    response = consumer.handle(read_event(event))
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    written = [m.record.sequence_number for m in verdicts.written]
    lettered = [r.sequence_number for r in dead.sent]
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert sorted(written + lettered + failed) == sorted(seqs)  # each exactly once
    for seq, breakage in zip(seqs, corrupt, strict=True):
        if breakage >= 0:
            assert seq in lettered or seq in failed
