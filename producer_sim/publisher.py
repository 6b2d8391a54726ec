"""PutRecords in batches of at most 500 records / 5 MiB, retrying each failed record until delivered."""

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from producer_sim.replay import OutgoingRecord

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

MAX_RECORDS_PER_PUT = 500
MAX_BYTES_PER_PUT = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024

_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "LimitExceededException",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottlingException",
}
_TRANSIENT_IO = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)


def transient_code(err: Exception) -> str | None:
    """The error's code when retrying can help (throttling, 5xx, endpoint down), else None."""
    if isinstance(err, ClientError):
        code = err.response["Error"]["Code"]
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code if code in _TRANSIENT_CODES or status >= 500 else None
    if isinstance(err, _TRANSIENT_IO):
        return type(err).__name__
    return None


def batches(
    records: Iterable[OutgoingRecord],
    max_records: int = MAX_RECORDS_PER_PUT,
    max_bytes: int = MAX_BYTES_PER_PUT,
) -> Iterator[list[OutgoingRecord]]:
    """Group records into PutRecords calls within the service's count and size limits."""
    batch: list[OutgoingRecord] = []
    size = 0
    for record in records:
        if record.size > MAX_BYTES_PER_RECORD:
            raise ValueError(f"record of {record.size} bytes exceeds Kinesis' 1 MiB limit")
        if batch and (len(batch) == max_records or size + record.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record.size
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class Delivered:
    """A record Kinesis accepted, and where it landed."""

    record: OutgoingRecord
    shard_id: str
    sequence_number: str


def split_results(
    batch: Sequence[OutgoingRecord], results: Sequence[Any]
) -> tuple[list[Delivered], list[tuple[OutgoingRecord, str]]]:
    """Pair PutRecords results with their records: delivered ones, and failed ones with the error code.

    Each record's own ErrorCode decides; FailedRecordCount is not trusted (emulators miscount it).
    """
    if len(results) != len(batch):
        raise ValueError(f"PutRecords answered {len(results)} results for {len(batch)} records")
    delivered, failed = [], []
    for record, result in zip(batch, results, strict=True):
        if result.get("ErrorCode"):
            failed.append((record, str(result["ErrorCode"])))
        else:
            delivered.append(Delivered(record, result["ShardId"], result["SequenceNumber"]))
    return delivered, failed


def backoff_delay(
    attempt: int, base: float = 0.1, cap: float = 5.0, rng: random.Random | None = None
) -> float:
    """Full-jitter exponential backoff for retry `attempt` (1-based)."""
    return (rng or random).uniform(0, min(cap, base * 2 ** (attempt - 1)))


@dataclass
class PublishReport:
    """What a publisher did: delivered records, those it gave up on, and how hard it had to try."""

    delivered: list[Delivered] = field(default_factory=list)
    undelivered: list[tuple[OutgoingRecord, str]] = field(default_factory=list)
    put_calls: int = 0
    retried_records: int = 0
    failed_calls: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return len(self.delivered)


class Publisher:
    """Delivers records to one stream; a partial failure resends only the failed records."""

    def __init__(
        self,
        kinesis: "KinesisClient",
        stream_name: str,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream_name
        self._max_attempts = max_attempts
        self._sleep = sleep

    def publish_batch(self, batch: Sequence[OutgoingRecord], report: PublishReport) -> None:
        """Deliver one batch, retrying failed records with backoff up to `max_attempts` calls."""
        pending = list(batch)
        for attempt in range(1, self._max_attempts + 1):
            report.put_calls += 1
            try:
                response = self._kinesis.put_records(
                    StreamName=self._stream,
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in pending],
                )
            except Exception as err:  # whole call failed: retry if throttled or the endpoint is down
                code = transient_code(err)
                if code is None:
                    raise  # bad credentials, missing stream: retrying cannot help
                report.failed_calls += 1
                report.error_codes[code] = report.error_codes.get(code, 0) + 1
                failed = [(r, code) for r in pending]
            else:
                delivered, failed = split_results(pending, response["Records"])
                report.delivered.extend(delivered)
                for _, code in failed:
                    report.error_codes[code] = report.error_codes.get(code, 0) + 1
            if not failed:
                return
            pending = [r for r, _ in failed]
            if attempt < self._max_attempts:
                report.retried_records += len(pending)
                self._sleep(backoff_delay(attempt))
        report.undelivered.extend(failed)
