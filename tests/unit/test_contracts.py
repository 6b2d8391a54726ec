"""Every format the project writes, read both ways: today's reader reads what the previous release
wrote, and a reader accepts a newer writer's output (a higher `schema_version`, fields it does not know),
so adding a field never breaks a running reader."""

import json
from typing import Any

import pytest
from pydantic import BaseModel

from contracts.dead_letter import DeadLetter
from contracts.policy import PolicyBook
from contracts.storage import (
    ArchivedMessage,
    ChampionManifest,
    GroundTruth,
    LeaseRecord,
    ModeratorDecision,
    ReferenceRow,
)
from contracts.verdict import Verdict

_MESSAGE = {
    "message_id": "3f1c5e0e-8d8a-4a9e-9a51-7b7c8f0b2c11",
    "channel_id": "c1",
    "user_id": "u1",
    "text": "hello there",
    "sent_at": "2026-11-25T12:00:00Z",
}
# As the previous release (commit ad55626) wrote them: no `schema_version` where it had none.
_VERDICT_V1 = {
    "schema_version": 1,
    "message_id": _MESSAGE["message_id"],
    "channel_id": "c1",
    "user_id": "u1",
    "action": "allow",
    "score": 0.12,
    "thresholds": {"review": 0.5, "remove": 0.85},
    "policy": "default",
    "reasons": ["hello"],
    "model_name": "chat-moderation",
    "model_version": "1",
    "shard_id": "shardId-000000000000",
    "sequence_number": "4960",
    "sent_at": "2026-11-25T12:00:00Z",
    "processed_at": "2026-11-25T12:00:01Z",
    "latency_ms": 12.5,
}
PREVIOUS_RELEASE: dict[type[BaseModel], dict[str, Any]] = {
    Verdict: _VERDICT_V1,
    DeadLetter: {
        "reason": "not_json",
        "detail": "payload is not JSON",
        "shard_id": "shardId-000000000000",
        "sequence_number": "4961",
        "partition_key": "c1",
        "approximate_arrival": 1764072000.0,
        "event_source_arn": "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages",
        "payload_b64": "e25vdA==",
        "payload_bytes": 6,
        "payload_truncated": False,
        "rejected_at": "2026-11-25T12:00:01Z",
    },
    ArchivedMessage: {
        "shard_id": "shardId-000000000000",
        "sequence_number": "4960",
        "approximate_arrival": 1764072000.0,
        "message": _MESSAGE,
        "verdict": _VERDICT_V1,
    },
    ModeratorDecision: {
        "message_id": _MESSAGE["message_id"],
        "label": "remove",
        "decided_by": "moderator-2",
        "decided_at": "2026-11-25T12:05:00Z",
    },
    GroundTruth: {"message_id": _MESSAGE["message_id"], "community": "tweets", "label": "remove"},
    ReferenceRow: {"text": "a kept comment", "label": "allow", "community": "rscience", "score": 0.3},
    ChampionManifest: {
        "model_name": "chat-moderation",
        "version": "3",
        "run_id": "r3",
        "artifact_uri": "s3://models/models/chat-moderation/3/scorer.npz",
        "sha256": "0" * 64,
        "promoted_at": "2026-11-25T12:00:00Z",
        "promoted_by": "train_flow:drift",
    },
    PolicyBook: {
        "default": {"thresholds": {"review": 0.5, "remove": 0.85}},
        "channels": {"gaming": {"thresholds": {"review": 0.3, "remove": 0.6}, "allow_terms": ["gg"]}},
    },
}


@pytest.mark.parametrize("format_", list(PREVIOUS_RELEASE), ids=lambda f: f.__name__)
def test_todays_reader_reads_what_the_previous_release_wrote(format_: type[BaseModel]) -> None:
    record = format_.model_validate_json(json.dumps(PREVIOUS_RELEASE[format_]))
    assert getattr(record, "schema_version", 1) == 1


# Formats new in this release, as today's writer writes them.
NEW_IN_THIS_RELEASE: dict[type[BaseModel], dict[str, Any]] = {
    LeaseRecord: {
        "holder": "train_flow:drift by moderation@host #1a2b3c4d",
        "token": 7,
        "acquired_at": "2026-11-25T12:00:00Z",
        "expires_at": "2026-11-25T12:01:00Z",
        "released": False,
    },
}
EVERY_FORMAT = {**PREVIOUS_RELEASE, **NEW_IN_THIS_RELEASE}


@pytest.mark.parametrize("format_", list(EVERY_FORMAT), ids=lambda f: f.__name__)
def test_a_reader_accepts_a_newer_writers_output(format_: type[BaseModel]) -> None:
    # GIVEN what today's writer writes, as a newer writer would extend it
    written = json.loads(format_.model_validate(EVERY_FORMAT[format_]).model_dump_json())
    newer = {**written, "schema_version": 7, "severity": {"spam": {"level": 3}}, "added_later": [1, 2]}
    # WHEN a reader of today reads it, THEN it reads what it knows and ignores the rest
    record = format_.model_validate_json(json.dumps(newer))
    assert getattr(record, "schema_version", 7) == 7
    assert "added_later" not in record.model_dump()
    known = {k: v for k, v in written.items() if k != "schema_version"}
    assert {k: v for k, v in json.loads(record.model_dump_json()).items() if k in known} == known


def test_a_manifest_of_the_previous_release_reads_without_a_fencing_token() -> None:
    # GIVEN champion.json as written before the champion lock existed
    # WHEN today's reader reads it THEN it carries no token (any move's fenced write may replace it)
    manifest = ChampionManifest.model_validate_json(json.dumps(PREVIOUS_RELEASE[ChampionManifest]))
    assert manifest.fencing_token is None
    # AND one written by a move carries the move's token
    fenced = ChampionManifest.model_validate({**PREVIOUS_RELEASE[ChampionManifest], "fencing_token": 3})
    assert ChampionManifest.model_validate_json(fenced.model_dump_json()).fencing_token == 3


def test_every_format_the_project_writes_has_a_schema_version() -> None:
    for format_ in EVERY_FORMAT:
        assert "schema_version" in format_.model_fields, format_.__name__
