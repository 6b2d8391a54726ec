"""Wire models: what crosses the streams, parsed once at the edge."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from stream_consumer.policy import Thresholds

MAX_TEXT_CHARS = 10_000  # r/science has 9k-character comments; longer is not chat


class ChatMessage(BaseModel):
    """One chat message as the chat servers publish it to `chat-messages`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: UUID
    channel_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, repr=False)
    sent_at: AwareDatetime


# --- the Lambda Kinesis event (AWS camelCase kept; `data` stays base64 text so one bad record
# cannot fail the batch) ---------------------------------------------------------------------


class KinesisData(BaseModel):
    """The `kinesis` part of one event record."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    partition_key: str = Field(alias="partitionKey")
    sequence_number: str = Field(alias="sequenceNumber")
    data: str
    approximate_arrival_timestamp: float = Field(alias="approximateArrivalTimestamp")
    kinesis_schema_version: str = Field(default="1.0", alias="kinesisSchemaVersion")


class KinesisRecord(BaseModel):
    """One record of a Lambda Kinesis event."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    kinesis: KinesisData
    event_id: str = Field(alias="eventID")
    event_source_arn: str = Field(default="", alias="eventSourceARN")

    @property
    def sequence_number(self) -> str:
        return self.kinesis.sequence_number

    @property
    def shard_id(self) -> str:
        """`eventID` is `shardId-…:sequence`; the shard is the part before the colon."""
        return self.event_id.split(":", 1)[0]


class EventError(ValueError):
    """The event cannot be answered record by record (no `Records` list, or a record whose sequence
    number is unreadable: a partial batch response could not name it). The invocation fails loudly."""


def read_event(event: Any) -> list["KinesisRecord | BadEnvelope"]:
    """The event's records, each parsed on its own: a record whose envelope is malformed but whose
    sequence number is readable becomes a `BadEnvelope` (dead-lettered), and the rest are judged.
    Extra top-level keys (tumbling-window fields and the like) are accepted."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise EventError("the event has no Records list")
    out: list[KinesisRecord | BadEnvelope] = []
    for i, raw in enumerate(records):
        try:
            out.append(KinesisRecord.model_validate(raw))
        except ValidationError as err:
            bad = BadEnvelope.of(raw, describe(err))
            if bad is None:
                raise EventError(
                    f"record {i} has no readable kinesis.sequenceNumber ({describe(err)})"
                ) from err
            out.append(bad)
    return out


def _text(raw: Any, *path: str) -> str | None:
    for key in path:
        raw = raw.get(key) if isinstance(raw, dict) else None
    return raw if isinstance(raw, str) else None


@dataclass(frozen=True, slots=True)
class BadEnvelope:
    """A record whose Lambda envelope is malformed (a platform fault, not an attack): what is readable."""

    sequence_number: str
    detail: str  # which field, never the payload
    shard_id: str
    partition_key: str
    data: str
    approximate_arrival: float
    event_source_arn: str

    @classmethod
    def of(cls, raw: Any, detail: str) -> "BadEnvelope | None":
        """What can be read of a malformed record, or None when not even its sequence number can."""
        sequence = _text(raw, "kinesis", "sequenceNumber")
        if not sequence:
            return None
        arrival = raw["kinesis"].get("approximateArrivalTimestamp")
        return cls(
            sequence_number=sequence,
            detail=f"malformed record envelope: {detail}",
            shard_id=(_text(raw, "eventID") or "").split(":", 1)[0],
            partition_key=_text(raw, "kinesis", "partitionKey") or "",
            data=_text(raw, "kinesis", "data") or "",
            approximate_arrival=float(arrival) if isinstance(arrival, int | float) else 0.0,
            event_source_arn=_text(raw, "eventSourceARN") or "",
        )


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    """Lambda's partial batch response for Kinesis (ReportBatchItemFailures)."""

    batchItemFailures: list[BatchItemFailure]
    state: NotRequired[dict[str, str]]


# --- what the consumer writes -----------------------------------------------------------------


class Action(StrEnum):
    """What the chat platform should do with a message."""

    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"


class Verdict(BaseModel):
    """The moderation decision on one message, as written to the `verdicts` stream."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1  # bumped (with a new Literal) when the shape changes
    message_id: UUID
    channel_id: str
    user_id: str
    action: Action
    score: float | None  # calibrated probability of removal; None when no model could score it
    thresholds: Thresholds
    policy: str  # the channel policy that applied ("default" when the channel has none)
    reasons: list[str]  # top contributing tokens or style features, or the rule that fired
    model_name: str
    model_version: str
    shard_id: str
    sequence_number: str
    sent_at: datetime
    processed_at: datetime
    latency_ms: (
        float  # from the record's arrival in the stream to processed_at (sent_at is the sender's claim)
    )


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


def describe(err: ValidationError) -> str:
    """A readable account of a schema failure that never quotes the input (it may be message text)."""
    parts = []
    for e in err.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "(payload)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


class DeadLetter(BaseModel):
    """A poison record, sent to the dead-letter queue with everything needed to inspect or replay it."""

    model_config = ConfigDict(frozen=True)

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
        cls, record: "KinesisRecord | BadEnvelope", reason: RejectReason, detail: str, now: datetime, cap: int
    ) -> "DeadLetter":
        """A dead letter for `record`, keeping at most `cap` characters of its base64 payload."""
        if isinstance(record, BadEnvelope):
            shard, sequence, key, arrival, arn = (
                record.shard_id,
                record.sequence_number,
                record.partition_key,
                record.approximate_arrival,
                record.event_source_arn,
            )
            data = record.data
        else:
            shard, sequence, key = record.shard_id, record.sequence_number, record.kinesis.partition_key
            arrival, arn, data = (
                record.kinesis.approximate_arrival_timestamp,
                record.event_source_arn,
                record.kinesis.data,
            )
        return cls(
            reason=reason,
            detail=detail,
            shard_id=shard,
            sequence_number=sequence,
            partition_key=key,
            approximate_arrival=arrival,
            event_source_arn=arn,
            payload_b64=data[:cap],
            payload_bytes=len(data) * 3 // 4,
            payload_truncated=len(data) > cap,
            rejected_at=now,
        )


class ChampionManifest(BaseModel):
    """`champion.json` in the models bucket: which exported model serves, written when the alias moves.

    Read tolerantly: fields a reader does not know are ignored, so adding one breaks no running consumer.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_name: str
    version: str
    run_id: str
    artifact_uri: str  # s3://bucket/key of the exported model archive
    sha256: str
    promoted_at: AwareDatetime
    promoted_by: str
    normal_form: str | None = None  # the normal form the model was trained with (older manifests: none)


class ArchivedMessage(BaseModel):
    """One line of an archive object: the message as received and the verdict it got."""

    model_config = ConfigDict(frozen=True)

    shard_id: str
    sequence_number: str
    approximate_arrival: float
    message: ChatMessage
    verdict: Verdict
