"""The Lambda Kinesis event (AWS camelCase kept; `data` stays base64 text so one bad record cannot fail
the batch), read record by record, and Lambda's partial batch response."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.dead_letter import explain


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

    @property
    def partition_key(self) -> str:
        return self.kinesis.partition_key

    @property
    def approximate_arrival(self) -> float:
        return self.kinesis.approximate_arrival_timestamp

    @property
    def data(self) -> str:
        """The record's payload, base64 as received."""
        return self.kinesis.data


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
            bad = BadEnvelope.of(raw, explain(err))
            if bad is None:
                raise EventError(
                    f"record {i} has no readable kinesis.sequenceNumber ({explain(err)})"
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


class WindowSpan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    start: datetime
    end: datetime


class TumblingWindow(BaseModel):
    """The tumbling-window part of a Kinesis event (present when the mapping has windows on)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    window: WindowSpan
    state: dict[str, Any] = Field(default_factory=dict)  # what the last invocation returned
    shard_id: str = Field(default="", alias="shardId")
    event_source_arn: str = Field(default="", alias="eventSourceARN")
    final: bool = Field(default=False, alias="isFinalInvokeForWindow")
    terminated_early: bool = Field(default=False, alias="isWindowTerminatedEarly")


def read_window(event: Any) -> TumblingWindow | None:
    """The event's tumbling window, or None without one; a window that cannot be read fails the
    invocation loudly (its state could not be carried on)."""
    if not isinstance(event, dict) or "window" not in event:
        return None
    try:
        return TumblingWindow.model_validate({**event, "state": event.get("state") or {}})
    except ValidationError as err:
        raise EventError(f"the tumbling window cannot be read ({explain(err)})") from err


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    """Lambda's partial batch response for Kinesis (ReportBatchItemFailures)."""

    batchItemFailures: list[BatchItemFailure]
    state: NotRequired[dict[str, Any]]  # with tumbling windows: always (without it the invocation failed)
