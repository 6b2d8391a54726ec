"""The record Lambda sends to a Kinesis event source mapping's on-failure destination when it gives up on
a batch (AWS's documented shape, camelCase kept): which records, from which shard and stream, why, and
how the last invocation ended. It carries no payload: the records stay in the stream until it trims them.

Field meanings, as the local event source mapping fills them (`local_esm/esm.py`):
- `requestContext.condition`: `RetryAttemptsExhausted` or `RecordAgeExceeded`;
- `requestContext.approximateInvokeCount`: how many invocations carried these records, the ones before
  a bisection included (0 when they expired before their first invocation);
- `responseContext`: the last invocation's response, absent when there was none; its `functionError`
  is `Unhandled` only when that invocation raised — a function that returned a partial batch failure
  (or an invalid `itemIdentifier`) returned normally, so the key is absent.
"""

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Condition = Literal["RetryAttemptsExhausted", "RecordAgeExceeded"]


class RequestContext(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    request_id: str = Field(alias="requestId")
    function_arn: str = Field(alias="functionArn")
    condition: Condition
    approximate_invoke_count: int = Field(alias="approximateInvokeCount", ge=0)


class ResponseContext(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    status_code: int = Field(alias="statusCode")
    executed_version: str = Field(alias="executedVersion")
    function_error: Literal["Unhandled"] | None = Field(default=None, alias="functionError")


class KinesisBatchInfo(BaseModel):
    """The discarded records: a contiguous range of one shard."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    shard_id: str = Field(alias="shardId")
    start_sequence_number: str = Field(alias="startSequenceNumber")
    end_sequence_number: str = Field(alias="endSequenceNumber")
    approximate_arrival_of_first_record: datetime = Field(alias="approximateArrivalOfFirstRecord")
    approximate_arrival_of_last_record: datetime = Field(alias="approximateArrivalOfLastRecord")
    batch_size: int = Field(alias="batchSize", ge=1)
    stream_arn: str = Field(alias="streamArn")

    def covers(self, shard_id: str, sequence_number: str) -> bool:
        """True when that record was in this batch (sequence numbers compare as integers)."""
        first, last = int(self.start_sequence_number), int(self.end_sequence_number)
        return shard_id == self.shard_id and first <= int(sequence_number) <= last


class OnFailureRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    request_context: RequestContext = Field(alias="requestContext")
    response_context: ResponseContext | None = Field(default=None, alias="responseContext")
    version: str = "1.0"
    timestamp: datetime
    batch: KinesisBatchInfo = Field(alias="KinesisBatchInfo")

    def to_json(self) -> str:
        """The body sent to the destination: AWS's names, ISO-8601 UTC times with milliseconds and `Z`."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["timestamp"] = _iso(self.timestamp)
        info = data["KinesisBatchInfo"]
        info["approximateArrivalOfFirstRecord"] = _iso(self.batch.approximate_arrival_of_first_record)
        info["approximateArrivalOfLastRecord"] = _iso(self.batch.approximate_arrival_of_last_record)
        return json.dumps(data)

    @classmethod
    def read(cls, body: str | bytes) -> "OnFailureRecord":
        """Parse one destination message (fields this reader does not know are ignored)."""
        return cls.model_validate_json(body)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
