"""A poison record on the dead-letter queue, with its reason and everything needed to inspect or replay it."""

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEAD_LETTER_SCHEMA_VERSION = 1


class RejectReason(StrEnum):
    """Why a record can never be moderated."""

    BAD_ENVELOPE = "bad_envelope"  # the Lambda record itself is malformed (the field is named)
    BAD_BASE64 = "bad_base64"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    AMBIGUOUS_JSON = "ambiguous_json"  # a key given twice: readers disagree on which value counts
    WRONG_SCHEMA = "wrong_schema"
    UNKNOWN_FIELD = "unknown_field"
    EMPTY_TEXT = "empty_text"  # empty, or nothing left after the normal form
    TEXT_TOO_LONG = "text_too_long"
    BAD_TIMESTAMP = "bad_timestamp"  # sent_at before 2000 or more than a day after the record arrived

    @classmethod
    def from_validation(cls, err: ValidationError) -> "RejectReason":
        """The most specific reason for a schema failure."""
        errors = err.errors(include_input=False, include_url=False)
        types = {e["type"] for e in errors}
        text_errors = {e["type"] for e in errors if e["loc"][:1] == ("text",)}
        if "json_invalid" in types or "json_type" in types:
            return cls.NOT_JSON
        if "extra_forbidden" in types:
            return cls.UNKNOWN_FIELD
        if "string_too_short" in text_errors:
            return cls.EMPTY_TEXT
        if "string_too_long" in text_errors:
            return cls.TEXT_TOO_LONG
        return cls.WRONG_SCHEMA


DETAIL_CAP = 500  # characters of a dead letter's detail: it goes to logs and to a queue message


def explain(err: ValidationError) -> str:
    """A readable account of a schema failure that never quotes the input (it may be message text):
    the schema's own field names and pydantic's message; a field outside the schema is not named (its
    name is the sender's text, of any length)."""
    parts = []
    for e in err.errors(include_input=False, include_url=False)[:5]:
        if e["type"] == "extra_forbidden":
            loc = "(a field outside the schema)"
        else:
            loc = ".".join(str(p) for p in e["loc"]) or "(payload)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)[:DETAIL_CAP]


class RecordOrigin(Protocol):
    """What a dead letter keeps of the Lambda record it came from: a readable record and a malformed
    one (`contracts.lambda_event`'s `KinesisRecord` and `BadEnvelope`) both tell it."""

    @property
    def shard_id(self) -> str: ...
    @property
    def sequence_number(self) -> str: ...
    @property
    def partition_key(self) -> str: ...
    @property
    def approximate_arrival(self) -> float: ...
    @property
    def event_source_arn(self) -> str: ...
    @property
    def data(self) -> str: ...


class DeadLetter(BaseModel):
    """A poison record, sent to the dead-letter queue with everything needed to inspect or replay it."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # a reader ignores fields it does not know

    schema_version: int = Field(default=DEAD_LETTER_SCHEMA_VERSION, ge=1)
    reason: RejectReason
    detail: str
    shard_id: str
    sequence_number: str
    partition_key: str
    approximate_arrival: float
    event_source_arn: str
    payload_b64: str = Field(repr=False)  # the record's data as received, capped
    payload_bytes: int
    payload_truncated: bool
    rejected_at: datetime

    @classmethod
    def of(
        cls, record: RecordOrigin, reason: RejectReason, detail: str, now: datetime, cap: int
    ) -> "DeadLetter":
        """A dead letter for `record`, keeping at most `cap` characters of its base64 payload."""
        data = record.data
        return cls(
            reason=reason,
            detail=detail[:DETAIL_CAP],
            shard_id=record.shard_id,
            sequence_number=record.sequence_number,
            partition_key=record.partition_key,
            approximate_arrival=record.approximate_arrival,
            event_source_arn=record.event_source_arn,
            payload_b64=data[:cap],
            payload_bytes=len(data) * 3 // 4,
            payload_truncated=len(data) > cap,
            rejected_at=now,
        )
