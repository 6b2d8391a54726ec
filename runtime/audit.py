"""The audit trail's writer: appends a process's events to its chain for the day in S3 (see
`contracts.audit`). Each append is one segment, created only if its key is absent; the chain's head is
read back from the writer's last segment of the day the first time it is needed (a restarted writer
goes on where it stopped), and read again when a segment was refused (another process writing as the
same writer got there first: nothing is overwritten, the events are chained after its records).
"""

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.audit import AuditEvent, AuditRecord, chain, segment_folder, segment_key
from contracts.storage import json_lines
from runtime.errors import PreconditionFailedError, aws_errors
from runtime.objects import put_if_unchanged

if TYPE_CHECKING:
    from datetime import date

    from mypy_boto3_s3 import S3Client

ATTEMPTS = 5  # refused segments (a concurrent writer of the same name) before giving up


class AuditLog:
    """One writer's chains (a process: `bot`, `review-app`, `review-worker`, `training`, …)."""

    def __init__(self, s3: "S3Client", bucket: str, prefix: str, writer: str) -> None:
        self._s3, self._bucket, self._prefix, self.writer = s3, bucket, prefix, writer
        self._heads: dict[date, tuple[int, str] | None] = {}
        # A process's threads (a web app's requests) append one at a time: they share the chain's head
        self._lock = threading.Lock()

    def _head(self, day: "date") -> tuple[int, str] | None:
        """The day's last (seq, hash) of this writer in S3, or None before its first record."""
        folder = segment_folder(self._prefix, self.writer, day)
        last: str | None = None  # S3 lists keys in order: the last one listed holds the head
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_errors("ListObjectsV2 audit"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=folder):
                for o in page.get("Contents", []):
                    last = o["Key"]
        if last is None:
            return None
        with aws_errors("GetObject audit"):
            body = self._s3.get_object(Bucket=self._bucket, Key=last)["Body"].read()
        record = AuditRecord.model_validate_json(body.splitlines()[-1])
        return record.seq, record.hash

    def append(self, events: list[AuditEvent], now: datetime | None = None) -> list[AuditRecord]:
        """Chain the events (today's, by `now`) and write them as one segment; the records written."""
        if not events:
            return []
        with self._lock:
            return self._append(events, (now or datetime.now(UTC)).date())

    def _append(self, events: list[AuditEvent], day: "date") -> list[AuditRecord]:
        for _ in range(ATTEMPTS):
            if day not in self._heads:
                self._heads[day] = self._head(day)
            records = chain(events, self.writer, day, self._heads[day])
            key = segment_key(self._prefix, self.writer, day, records[0].seq)
            try:
                put_if_unchanged(
                    self._s3, self._bucket, key, json_lines(records), None, "application/x-ndjson"
                )
            except PreconditionFailedError:
                del self._heads[day]  # another writer of this name: read the head again
                continue
            self._heads[day] = (records[-1].seq, records[-1].hash)
            return records
        raise PreconditionFailedError("PutObject audit", "PreconditionFailed", 412)
