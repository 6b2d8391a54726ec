"""Where the consumer writes: verdicts to Kinesis, dead letters to SQS, the batch archive to S3.

Thin adapters. Each returns what it could not write (so the batch reports those records for retry)
or raises `SinkError`; none drops anything silently.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from contracts.storage import ArchivedMessage, archive_key, gzip_lines
from runtime.errors import AwsError, aws_errors
from runtime.kinesis import Entry, PutReport, batches, put_batch
from runtime.retry import resend
from stream_consumer.moderation import Moderated, Rejected

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

SQS_MAX_BATCH = 10
SQS_MAX_BATCH_BYTES = 240 * 1024  # below the 256 KiB request limit, leaving room for attributes


class SinkError(RuntimeError):
    """A write failed in a way the batch must be retried for."""


class VerdictSink(Protocol):
    def put(self, items: Sequence[Moderated]) -> list[Moderated]: ...


class DeadLetterSink(Protocol):
    def send(self, items: Sequence[Rejected]) -> list[Rejected]: ...


class ArchiveSink(Protocol):
    def write(self, key: str, items: Sequence[Moderated]) -> None: ...


@dataclass(frozen=True, slots=True)
class _VerdictEntry(Entry):
    item: Moderated


class KinesisVerdictSink:
    """Verdicts to the output stream, partition key = channel, failed records retried with backoff."""

    def __init__(
        self, kinesis: "KinesisClient", stream: str, max_attempts: int = 4, backoff_base: float = 0.05
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base

    def put(self, items: Sequence[Moderated]) -> list[Moderated]:
        """Write every verdict; returns the items still failing after the retries."""
        report: PutReport[_VerdictEntry] = PutReport()
        entries = (
            _VerdictEntry(m.verdict.model_dump_json().encode(), m.verdict.channel_id, m) for m in items
        )
        try:
            for batch in batches(entries):
                put_batch(
                    self._kinesis,
                    self._stream,
                    batch,
                    report,
                    self._max_attempts,
                    backoff_base=self._backoff_base,
                )
        except AwsError as err:
            raise SinkError(f"verdicts stream {self._stream}: {err}") from err
        return [e.item for e, _ in report.undelivered]


def _sqs_batches(bodies: Sequence[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    out: list[list[tuple[int, str]]] = []
    size = 0
    for index, body in bodies:
        n = len(body.encode())
        if not out or len(out[-1]) == SQS_MAX_BATCH or size + n > SQS_MAX_BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append((index, body))
        size += n
    return out


class SqsDeadLetterSink:
    """Poison records to the dead-letter queue, with their reason as a message attribute."""

    def __init__(
        self,
        sqs: "SQSClient",
        queue_url: str,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._max_attempts = max_attempts
        self._sleep = sleep

    def send(self, items: Sequence[Rejected]) -> list[Rejected]:
        """Send every dead letter, each SQS batch retried on its own (`TransientError`s and the entries
        SQS refused); returns the ones still refused after the retries. An error retrying cannot fix
        (the queue missing, access denied) raises `SinkError`: the whole batch is retried."""
        bodies = {i: r.dead_letter.model_dump_json() for i, r in enumerate(items)}

        def call(chunk: list[int]) -> list[int]:
            entries: list[Any] = [
                {
                    "Id": str(i),
                    "MessageBody": bodies[i],
                    "MessageAttributes": {
                        "reason": {"DataType": "String", "StringValue": items[i].dead_letter.reason.value}
                    },
                }
                for i in chunk
            ]
            with aws_errors("SendMessageBatch"):
                resp = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            return [int(f["Id"]) for f in resp.get("Failed", [])]

        refused: list[int] = []
        try:
            for chunk in _sqs_batches(list(bodies.items())):
                ids = [i for i, _ in chunk]
                refused += resend(call, ids, self._max_attempts, base=0.05, sleep=self._sleep)
        except AwsError as err:
            raise SinkError(f"dead-letter queue: {err}") from err
        return [items[i] for i in refused]


def batch_archive_key(prefix: str, items: Sequence[Moderated]) -> str:
    """A batch's archive object (`contracts.storage.archive_key`). A retried identical batch overwrites
    its own object; a differently cut retry (after a partial failure or a bisection) writes another
    object, and the reader deduplicates by (shard, sequence)."""
    first, last = items[0].record, items[-1].record
    arrived = datetime.fromtimestamp(first.kinesis.approximate_arrival_timestamp, UTC)
    return archive_key(prefix, first.shard_id, first.sequence_number, last.sequence_number, arrived)


def archive_lines(items: Sequence[Moderated]) -> bytes:
    """The gzip'd JSON Lines body of an archive object."""
    return gzip_lines(
        ArchivedMessage(
            shard_id=m.record.shard_id,
            sequence_number=m.record.sequence_number,
            approximate_arrival=m.record.kinesis.approximate_arrival_timestamp,
            message=m.message,
            verdict=m.verdict,
            shadow=m.shadow,
        ).model_dump_json(exclude=None if m.shadow else {"shadow"})  # lines without one stay as they were
        for m in items
    )


class S3ArchiveSink:
    """One gzip'd JSON Lines object per batch under the archive prefix."""

    def __init__(self, s3: "S3Client", bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write(self, key: str, items: Sequence[Moderated]) -> None:
        try:
            with aws_errors(f"PutObject s3://{self._bucket}/{key}"):
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=archive_lines(items),
                    ContentType="application/gzip",
                )
        except AwsError as err:
            raise SinkError(f"archive: {err}") from err


# --- in memory: for tests, benchmarks and dry runs (the same bytes are made as for the real sinks) ---


class MemoryVerdictSink:
    """Keeps written verdicts; verdicts of `fail_channels` fail as a throttled stream would."""

    def __init__(self, fail_channels: frozenset[str] = frozenset(), keep: bool = True) -> None:
        self.fail_channels = fail_channels
        self.keep = keep
        self.written: list[Moderated] = []

    def put(self, items: Sequence[Moderated]) -> list[Moderated]:
        failed = [m for m in items if m.verdict.channel_id in self.fail_channels]
        for m in items:
            m.verdict.model_dump_json()  # the bytes a real sink sends
        if self.keep:
            self.written.extend(m for m in items if m not in failed)
        return failed


class MemoryDeadLetterSink:
    """Keeps sent dead letters; with `refuse`, the queue refuses them all (an outage)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[Rejected] = []

    def send(self, items: Sequence[Rejected]) -> list[Rejected]:
        if self.refuse:
            return list(items)
        self.sent.extend(items)
        return []


class MemoryArchiveSink:
    """Keeps archive objects by key; with `broken`, every write fails (an unreachable bucket)."""

    def __init__(self, broken: bool = False, keep: bool = True) -> None:
        self.broken = broken
        self.keep = keep
        self.objects: dict[str, list[Moderated]] = {}

    def write(self, key: str, items: Sequence[Moderated]) -> None:
        if self.broken:
            raise SinkError("archive bucket unreachable")
        archive_lines(items)  # the bytes a real sink writes
        if self.keep:
            self.objects[key] = list(items)
