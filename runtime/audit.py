"""The audit trail in S3 (see `contracts.audit`): its writer and its readers.

- `AuditLog` appends a process's events to its chain for the day. Each write is one segment, created
  only if its key is absent; appends that wait while another thread writes go together into the next
  segment (a group commit: a web app's concurrent requests cost one write, not one each). The chain's
  head is read back from the writer's last segment of the day the first time it is needed (a restarted
  writer goes on where it stopped), and read again when a segment was refused (another process writing
  as the same writer got there first: nothing is overwritten, the events are chained after its records).
- `read_trail` reads the whole trail (every writer's chain per day, records in stored order: segments by
  key, lines in order); `verify_trail` says what is wrong with each chain.
- `TrailReader` reads the days a page asks for, each segment once per process (a segment is written once
  and never replaced, so what was read stays true), and tells one message's records with the state of
  the chains that hold them (the review app's item page).
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import ValidationError

from contracts.audit import (
    AuditEvent,
    AuditRecord,
    chain,
    genesis,
    segment_folder,
    segment_key,
    verify,
    verify_after,
)
from contracts.storage import json_lines
from runtime.errors import PreconditionFailedError, aws_errors
from runtime.objects import list_keys, put_if_unchanged

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ATTEMPTS = 5  # refused segments (a concurrent writer of the same name) before giving up


@dataclass
class _Waiting:
    """One append waiting for its segment: its events, their day, and what became of them."""

    events: list[AuditEvent]
    day: "date"
    records: list[AuditRecord] | None = None
    error: BaseException | None = None


class AuditLog:
    """One writer's chains (a process: `bot`, `review-app`, `review-worker`, `training`, …)."""

    def __init__(self, s3: "S3Client", bucket: str, prefix: str, writer: str) -> None:
        self._s3, self._bucket, self._prefix, self.writer = s3, bucket, prefix, writer
        self._heads: dict[date, tuple[int, str] | None] = {}
        # A process's threads (a web app's requests) write one segment at a time: they share the
        # chain's head. Appends arriving meanwhile wait together and go into the next segment.
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._waiting_lock = threading.Lock()

    def _head(self, day: "date") -> tuple[int, str] | None:
        """The day's last (seq, hash) of this writer in S3, or None before its first record."""
        keys = list_keys(self._s3, self._bucket, segment_folder(self._prefix, self.writer, day), "audit")
        if not keys:
            return None
        with aws_errors("GetObject audit"):  # the last segment holds the head
            body = self._s3.get_object(Bucket=self._bucket, Key=keys[-1])["Body"].read()
        record = AuditRecord.model_validate_json(body.splitlines()[-1])
        return record.seq, record.hash

    def append(self, events: list[AuditEvent], now: datetime | None = None) -> list[AuditRecord]:
        """Chain the events (today's, by `now`) and write them; the records written. Returns once
        they are in S3, alone or in one segment with other threads' events of that day; raises what the
        write raised (every append of a failed segment does: none of them was recorded)."""
        if not events:
            return []
        mine = _Waiting(events, (now or datetime.now(UTC)).date())
        with self._waiting_lock:
            self._waiting.append(mine)
        with self._lock:
            if mine.records is None and mine.error is None:  # no other thread wrote it meanwhile
                with self._waiting_lock:
                    group = [w for w in self._waiting if w.day == mine.day]
                    self._waiting = [w for w in self._waiting if w.day != mine.day]
                try:
                    records = self._append([e for w in group for e in w.events], mine.day)
                except BaseException as err:  # each waiting append answers for itself (a 503, a retry)
                    for w in group:
                        w.error = err
                else:
                    start = 0
                    for w in group:
                        w.records = records[start : start + len(w.events)]
                        start += len(w.events)
        if mine.error is not None:
            raise mine.error
        assert mine.records is not None
        return mine.records

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


@dataclass
class Trail:
    """Every chain read, by (writer, day), and the lines that did not parse (by key)."""

    chains: dict[tuple[str, date], list[AuditRecord]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def records(self) -> list[AuditRecord]:
        return [r for chain in self.chains.values() for r in chain]

    def unreadable_problems(self) -> list[str]:
        return [f"{where}: not an audit record" for where in self.unreadable]

    def add(self, key: str, segment: "Segment") -> None:
        """A segment's records after those of its chain already added (segments in key order)."""
        for record in segment.records:
            self.chains.setdefault((record.writer, record.day), []).append(record)
        self.unreadable += [f"{key} line {n}" for n in segment.unreadable]


@dataclass(frozen=True)
class Segment:
    """One segment's records, and the numbers (from 1) of its lines that are not audit records."""

    records: tuple[AuditRecord, ...]
    unreadable: tuple[int, ...]


def _segment(s3: "S3Client", bucket: str, key: str) -> Segment:
    with aws_errors("GetObject audit"):
        lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    records, unreadable = [], []
    for n, line in enumerate(lines, start=1):
        try:
            records.append(AuditRecord.model_validate_json(line))
        except ValidationError:
            unreadable.append(n)
    return Segment(tuple(records), tuple(unreadable))


def read_trail(s3: "S3Client", bucket: str, prefix: str) -> Trail:
    """The whole trail under `prefix`."""
    trail = Trail()
    for key in list_keys(s3, bucket, prefix, "audit"):
        trail.add(key, _segment(s3, bucket, key))
    return trail


def verify_trail(trail: Trail) -> list[str]:
    """Every problem of every chain, and every unreadable line (empty: the trail is intact)."""
    problems = trail.unreadable_problems()
    for _, records in sorted(trail.chains.items()):
        problems += verify(records)
    return problems


def once_each(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """A writer's retry repeats an event: keep one of each (kind, actor, time, message)."""
    seen: set[tuple[str, str, datetime, UUID | None]] = set()
    out = []
    for r in records:
        key = (r.kind.value, r.actor, r.at, r.message_id)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


@dataclass(frozen=True)
class MessageTrail:
    """One message's audit records (time order, a retry's repeat once), the days read for them, and what
    is wrong with those days' chains (empty: every one verifies from its day's first record; all of them,
    since a record deleted from one would leave no trace among the message's)."""

    records: list[AuditRecord]
    days: list[date]
    problems: list[str]
    skipped_days: int = 0  # days between the first and the last read that were not (too many)


def days_to_read(when: Iterable[date], max_days: int) -> tuple[list[date], int]:
    """The days from the first of `when` to the last, every one when they are at most `max_days`, else
    the dates of `when` and the last `max_days` days; and how many days between were left out."""
    dates = sorted(set(when))
    span = [dates[0] + timedelta(days=n) for n in range((dates[-1] - dates[0]).days + 1)]
    days = span if len(span) <= max_days else sorted({*dates, *span[-max_days:]})
    return days, len(span) - len(days)


class TrailReader:
    """Reads days of the trail for pages, each segment once per process; keeps the `days_kept` days read
    last. Thread-safe (a web app's requests share it)."""

    def __init__(
        self, s3: "S3Client", bucket: str, prefix: str, days_kept: int = 16, max_days: int = 14
    ) -> None:
        self._s3, self._bucket, self._prefix = s3, bucket, prefix
        self._days: OrderedDict[date, dict[str, Segment]] = OrderedDict()
        self._days_kept, self.max_days = days_kept, max_days
        # Per chain, what was verified: how many records, the head they left and its problems (a chain
        # grows at its end; a page checks only what was added since)
        self._checked: dict[tuple[str, date], tuple[int, tuple[int, str], list[str]]] = {}
        self._lock = threading.Lock()

    def _verified(self, records: list[AuditRecord]) -> list[str]:
        """The chain's problems, checking only the records after those checked before when the chain
        still holds them where they were (else the whole chain again)."""
        writer, day = records[0].writer, records[0].day
        with self._lock:
            done, head, problems = self._checked.get((writer, day), (0, (-1, genesis(writer, day)), []))
        if done > len(records) or (done and records[done - 1].hash != head[1]):
            done, head, problems = 0, (-1, genesis(writer, day)), []
        more, head = verify_after(records[done:], head)
        problems = problems + more
        with self._lock:
            self._checked[(writer, day)] = (len(records), head, problems)
        return problems

    def day(self, day: date) -> Trail:
        """The day's chains as they stand: the listing read again, only the segments not read before."""
        folder = f"{self._prefix}dt={day.isoformat()}/"
        with self._lock:
            known = self._days.pop(day, {})
            self._days[day] = known  # the day read last goes to the end, the oldest out first
            while len(self._days) > self._days_kept:
                gone, _ = self._days.popitem(last=False)
                self._checked = {k: v for k, v in self._checked.items() if k[1] != gone}
        keys = list_keys(self._s3, self._bucket, folder, "audit")
        for key in keys:
            if key not in known:
                segment = _segment(self._s3, self._bucket, key)
                with self._lock:
                    known[key] = segment
        trail = Trail()
        for key in keys:
            trail.add(key, known[key])
        return trail

    def message(self, message_id: UUID, when: Iterable[date]) -> MessageTrail:
        """The message's records on the days `days_to_read` picks from `when` (the dates its item knows)."""
        days, skipped = days_to_read(when, self.max_days)
        records: list[AuditRecord] = []
        problems: list[str] = []
        for day in days:
            trail = self.day(day)
            for _, chain_ in sorted(trail.chains.items()):  # every chain: a deleted record is no record
                records += [r for r in chain_ if r.message_id == message_id]
                problems += self._verified(chain_)
            problems += trail.unreadable_problems()
        ordered = sorted(once_each(records), key=lambda r: (r.at, r.writer, r.seq))
        return MessageTrail(ordered, days, problems, skipped)
