"""The champion lock: one object in the models bucket (`locks/champion.json`, never deleted), taken and
given back by S3 conditional writes (what the emulators honour: `runtime.objects`); the decisions are
`training.lease`'s.

Acquire: read the object. Absent → create it, only if still absent (token 1). Released, or its lease run
out → replace it, only if unchanged since read (token + 1). Held → poll until its holder releases it or
its lease runs out, and refuse with `LockBusyError` after `wait`. A lost condition means another mover got
there first: read again. Release: replace it, only if unchanged, with the same holding marked released; a
holder whose lease was taken over finds it changed and leaves it to the new holder. A crashed holder
never releases: the next mover takes over once the lease has run out. The lease bounds how long a dead
holder blocks the others; it cannot stop a stalled one from writing late. The fencing token does that, at
the write (`registry.commit_manifest`).
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from contracts.storage import LeaseRecord
from runtime.errors import PreconditionFailedError
from runtime.logs import structured_logger
from runtime.objects import put_if_unchanged, read_object
from runtime.retry import PollTimeoutError, poll_until
from training import lease

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("training", to_stderr=True)


def utc_now() -> datetime:
    """The wall clock: leases are compared across processes and machines, so not a monotonic one."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Seen:
    """The lock object as read: its record, and the ETag a replacement must match."""

    record: LeaseRecord
    etag: str


@dataclass(frozen=True)
class Held:
    """One holding of the lock: the fencing token to write with, and the lease as written."""

    record: LeaseRecord
    etag: str

    @property
    def token(self) -> int:
        return self.record.token


class LeaseLock:
    """A lease lock with a fencing token, kept in one S3 object."""

    def __init__(
        self,
        s3: "S3Client",
        bucket: str,
        key: str,
        holder: str,
        lease: timedelta,
        wait: timedelta,
        poll_s: float = 0.2,
        clock: Callable[[], datetime] = utc_now,
        token_floor: Callable[[], int] = lambda: 0,
    ) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.token_floor = token_floor  # the highest token already written (read only to create the lock)
        self.holder = f"{holder} #{uuid.uuid4().hex[:8]}"  # two movers of one name still differ
        self.lease, self.wait, self.poll_s, self.clock = lease, wait, poll_s, clock

    def read(self) -> Seen | None:
        """The lock object as it is now (None: there is none yet)."""
        stored = read_object(self.s3, self.bucket, self.key)
        return None if stored is None else Seen(LeaseRecord.model_validate_json(stored.body), stored.etag)

    def try_acquire(self, seen: Seen | None) -> Held | None:
        """One attempt, on the lock object as read: the holding, or None (held, or another got it first)."""
        floor = self.token_floor() if seen is None else 0
        decision = lease.acquisition(
            seen.record if seen else None, self.holder, self.clock(), self.lease, floor
        )
        if isinstance(decision, lease.Wait):
            return None
        body = decision.record.model_dump_json().encode()
        try:
            etag = put_if_unchanged(
                self.s3, self.bucket, self.key, body, seen.etag if seen else None, "application/json"
            )
        except PreconditionFailedError:
            now = self.read()  # a retried write whose first answer was lost is refused, yet ours
            if now is None or now.record != decision.record:
                return None
            etag = now.etag
        log.info(
            {
                "event": "lock_acquired",
                "key": self.key,
                "holder": self.holder,
                "token": decision.record.token,
                "expires_at": decision.record.expires_at.isoformat(),
                "took_over": isinstance(decision, lease.TakeOver),
            }
        )
        return Held(decision.record, etag)

    def acquire(self) -> Held:
        """Hold the lock, waiting up to `wait` for its holder to release it or its lease to run out."""
        try:
            held = poll_until(
                lambda: self.try_acquire(self.read()),
                timeout=self.wait_s,
                what=f"lock {self.key}",
                interval=self.poll_s,
            )
            return cast("Held", held)  # poll_until returns only what is truthy
        except PollTimeoutError:
            seen = self.read()
            holder = seen.record.holder if seen else "nobody"
            log.warning({"event": "lock_busy", "key": self.key, "holder": holder, "waited_s": self.wait_s})
            raise lease.LockBusyError(
                f"{self.key} still held by {holder} after {self.wait_s:g} s; not moving the champion"
            ) from None

    def release(self, held: Held) -> None:
        """Give the lock back, unless its lease was taken over meanwhile (then it is the new holder's)."""
        body = lease.released(held.record, self.clock()).model_dump_json().encode()
        try:
            put_if_unchanged(self.s3, self.bucket, self.key, body, held.etag, "application/json")
        except PreconditionFailedError:
            log.warning({"event": "lock_lost", "key": self.key, "holder": self.holder, "token": held.token})
            return
        log.info({"event": "lock_released", "key": self.key, "holder": self.holder, "token": held.token})

    @contextmanager
    def holding(self) -> Iterator[Held]:
        """Hold the lock for the block, and release it after."""
        held = self.acquire()
        try:
            yield held
        finally:
            self.release(held)

    @property
    def wait_s(self) -> float:
        return self.wait.total_seconds()
