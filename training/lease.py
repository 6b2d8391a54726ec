"""The champion lock's pure core: a lease with a fencing token, and the fence (no I/O, no clock of its own).

A mover holds the lock for a lease. A holder that dies or stalls never gives it back: the next mover
takes it over once the lease has run out, with the token one higher. The token goes into what the holder
writes (`champion.json`), and what carries a higher token is never replaced by a write carrying a lower
one: a holder whose lease ran out while it stalled is fenced out, whatever its own clock believes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.storage import LeaseRecord


class PromotionRaceError(RuntimeError):
    """Another mover of the champion won: this move was refused and wrote nothing over theirs."""


class LockBusyError(PromotionRaceError):
    """The champion lock stayed held by another mover for longer than this mover would wait."""


class FencedOutError(PromotionRaceError):
    """A newer holder of the champion lock wrote, or may write, after this mover's lease: refused."""


@dataclass(frozen=True)
class Create:
    """There is no lock object yet: create it, only if still absent, with a token above any written."""

    record: LeaseRecord


@dataclass(frozen=True)
class TakeOver:
    """The lock is free (released, or its lease ran out): replace it, only if unchanged, token + 1."""

    record: LeaseRecord
    previous: LeaseRecord


@dataclass(frozen=True)
class Wait:
    """Another mover holds a live lease: try again later; it runs out at `until` at the latest."""

    holder: str
    until: datetime


type Acquisition = Create | TakeOver | Wait


def is_live(record: LeaseRecord, now: datetime) -> bool:
    """Whether a holding still excludes others: not released, and its lease not run out."""
    return not record.released and now < record.expires_at


def acquisition(
    current: LeaseRecord | None, holder: str, now: datetime, lease: timedelta, floor: int = 0
) -> Acquisition:
    """What a mover does about the lock object it has just read (None: there is none).

    `floor` is the highest token already written where the fence is checked: a lock object created
    afresh (the first, or one deleted by hand) starts above it, so its holders are not fenced out.
    """
    if lease <= timedelta(0):
        raise ValueError(f"a lease must last some time, not {lease}")
    if current is None:
        return Create(_holding(holder, floor + 1, now, lease))
    if is_live(current, now):
        return Wait(current.holder, current.expires_at)
    return TakeOver(_holding(holder, current.token + 1, now, lease), current)


def released(record: LeaseRecord, now: datetime) -> LeaseRecord:
    """What a holder writes back when done: the same holding, released and run out from now on."""
    return record.model_copy(update={"released": True, "expires_at": min(record.expires_at, now)})


def admits(stored_token: int | None, token: int) -> bool:
    """The fence: a write carrying `token` may replace what carries `stored_token` (None: written before
    the lock existed, or outside a move), unless that one is newer."""
    return stored_token is None or stored_token <= token


def _holding(holder: str, token: int, now: datetime, lease: timedelta) -> LeaseRecord:
    return LeaseRecord(holder=holder, token=token, acquired_at=now, expires_at=now + lease)
