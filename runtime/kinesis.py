"""PutRecords done right, for every writer of the project: batches within the service limits, and
each failed record (by its own ErrorCode) resent with backoff; nothing is dropped silently.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.errors import TransientError, aws_errors
from runtime.retry import resend

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import RecordTypeDef

MAX_RECORDS_PER_PUT = 500
MAX_BYTES_PER_PUT = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to put: its bytes and partition key."""

    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        """What counts against the 1 MiB record and 5 MiB request limits."""
        return len(self.data) + len(self.partition_key.encode())


def batches[T: Entry](
    entries: Iterable[T], max_records: int = MAX_RECORDS_PER_PUT, max_bytes: int = MAX_BYTES_PER_PUT
) -> Iterator[list[T]]:
    """Group entries into PutRecords calls within the service's count and size limits."""
    batch: list[T] = []
    size = 0
    for entry in entries:
        if entry.size > MAX_BYTES_PER_RECORD:
            raise ValueError(f"record of {entry.size} bytes exceeds Kinesis' 1 MiB limit")
        if batch and (len(batch) == max_records or size + entry.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class Delivered[T: Entry]:
    """An entry Kinesis accepted, and where it landed."""

    entry: T
    shard_id: str
    sequence_number: str


def split_results[T: Entry](
    batch: Sequence[T], results: Sequence[Any]
) -> tuple[list[Delivered[T]], list[tuple[T, str]]]:
    """Pair PutRecords results with their entries: delivered ones, and failed ones with the error code.

    Each record's own ErrorCode decides; FailedRecordCount is not trusted (emulators miscount it).
    """
    if len(results) != len(batch):
        raise ValueError(f"PutRecords answered {len(results)} results for {len(batch)} records")
    delivered, failed = [], []
    for entry, result in zip(batch, results, strict=True):
        if result.get("ErrorCode"):
            failed.append((entry, str(result["ErrorCode"])))
        else:
            delivered.append(Delivered(entry, result["ShardId"], result["SequenceNumber"]))
    return delivered, failed


@dataclass
class PutReport[T: Entry]:
    """What a writer did: delivered entries, those it gave up on, and how hard it had to try."""

    delivered: list[Delivered[T]] = field(default_factory=list)
    undelivered: list[tuple[T, str]] = field(default_factory=list)
    put_calls: int = 0
    retried_records: int = 0
    failed_calls: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return len(self.delivered)

    def count(self, code: str, n: int = 1) -> None:
        self.error_codes[code] = self.error_codes.get(code, 0) + n


def put_batch[T: Entry](
    kinesis: "KinesisClient",
    stream: str,
    batch: Sequence[T],
    report: PutReport[T],
    max_attempts: int = 10,
    sleep: Callable[[float], None] = time.sleep,
    backoff_base: float = 0.1,
) -> None:
    """Deliver one batch, resending failed entries with backoff up to `max_attempts` calls.

    Entries still failing are added to `report.undelivered`: the caller decides (report, retry later).
    Errors that retrying cannot fix (credentials, missing stream) are raised, as `AwsError`s.
    """
    codes: dict[int, str] = {}  # each entry's last error code, by identity
    sent = 0

    def call(pending: list[T]) -> list[T]:
        nonlocal sent
        report.put_calls += 1
        report.retried_records += len(pending) if sent else 0
        sent += 1
        with aws_errors(f"PutRecords {stream}"):
            response = kinesis.put_records(
                StreamName=stream,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in pending],
            )
        delivered, failed = split_results(pending, response["Records"])
        report.delivered.extend(delivered)
        for entry, code in failed:
            report.count(code)
            codes[id(entry)] = code
        return [e for e, _ in failed]

    def whole_call_failed(err: TransientError, pending: list[T]) -> None:
        report.failed_calls += 1
        report.count(err.code, len(pending))
        codes.update((id(e), err.code) for e in pending)

    still = resend(call, batch, max_attempts, base=backoff_base, sleep=sleep, on_transient=whole_call_failed)
    report.undelivered.extend((e, codes[id(e)]) for e in still)


def resume_iterator(
    kinesis: "KinesisClient", stream: str, shard_id: str, after: str | None, start: str = "TRIM_HORIZON"
) -> str:
    """A shard iterator just past a reader's checkpoint (`after`, a sequence number), or at `start`
    (TRIM_HORIZON, LATEST) for a shard it has not read yet."""
    kwargs: dict[str, Any] = (
        {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
        if after
        else {"ShardIteratorType": start}
    )
    with aws_errors("GetShardIterator"):
        return kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, **kwargs)["ShardIterator"]


def read_stream(kinesis: "KinesisClient", stream: str) -> dict[str, list["RecordTypeDef"]]:
    """Every record of every shard, from the trim horizon to the current tip, keyed by shard id."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    out: dict[str, list[RecordTypeDef]] = {}
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[RecordTypeDef] = []
        while iterator:
            resp = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend(resp["Records"])
            if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
                break
            iterator = resp.get("NextShardIterator", "")
        out[shard["ShardId"]] = records
    return out
