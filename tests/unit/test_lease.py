"""The champion lock's pure core: when a lease is live, what a mover does about the lock object it
read (create, take over with the next token, wait), what a release writes, and the fence."""

from datetime import datetime, timedelta

import pytest

from contracts.storage import LeaseRecord
from tests.builders import NOW
from training.lease import Create, TakeOver, Wait, acquisition, admits, is_live, released

LEASE = timedelta(seconds=30)


def _held(token: int = 4, holder: str = "train_flow #a", lease: timedelta = LEASE) -> LeaseRecord:
    return LeaseRecord(holder=holder, token=token, acquired_at=NOW, expires_at=NOW + lease)


def test_a_lease_is_live_until_it_runs_out_and_not_a_moment_longer() -> None:
    # GIVEN a holding taken now for 30 s
    record = _held()
    # THEN it excludes others up to its expiry, and no longer from it on
    assert is_live(record, NOW)
    assert is_live(record, NOW + LEASE - timedelta(microseconds=1))
    assert not is_live(record, NOW + LEASE)
    assert not is_live(record, NOW + timedelta(days=1))


def test_a_released_lease_is_free_at_once_even_for_a_clock_running_behind() -> None:
    # GIVEN a holding released a second after it was taken
    record = released(_held(), NOW + timedelta(seconds=1))
    # THEN it is marked released and run out, and free even to a mover whose clock is behind
    assert record.released
    assert record.expires_at == NOW + timedelta(seconds=1)
    assert record.token == 4
    assert not is_live(record, NOW - timedelta(minutes=5))


def test_the_first_mover_creates_the_lock_with_token_1() -> None:
    # WHEN a mover finds no lock object
    decision = acquisition(None, "rollback #b", NOW, LEASE)
    # THEN it creates one: token 1, its own name, a lease from now
    assert isinstance(decision, Create)
    assert decision.record.token == 1
    assert decision.record.holder == "rollback #b"
    assert decision.record.expires_at == NOW + LEASE
    assert not decision.record.released


def test_a_live_lease_makes_the_next_mover_wait_until_it_runs_out() -> None:
    # GIVEN a lock held by another mover for 30 s more
    current = _held()
    # WHEN a mover reads it ten seconds in
    decision = acquisition(current, "rollback #b", NOW + timedelta(seconds=10), LEASE)
    # THEN it waits, at most until the lease runs out
    assert decision == Wait(holder="train_flow #a", until=NOW + LEASE)


@pytest.mark.parametrize(
    ("current", "at"),
    [
        (_held(), NOW + LEASE),  # a crashed holder: its lease ran out
        (_held(), NOW + timedelta(hours=3)),
        (released(_held(), NOW + timedelta(seconds=2)), NOW + timedelta(seconds=3)),  # given back
    ],
    ids=["lease-just-ran-out", "lease-long-gone", "released"],
)
def test_a_free_lock_is_taken_over_with_the_next_token(current: LeaseRecord, at: datetime) -> None:
    # WHEN a mover reads a lock that was released or whose lease ran out
    decision = acquisition(current, "rollback #b", at, LEASE)
    # THEN it takes it over, one token higher, with a lease of its own
    assert isinstance(decision, TakeOver)
    assert decision.previous == current
    assert decision.record.token == current.token + 1
    assert decision.record.holder == "rollback #b"
    assert decision.record.expires_at == at + LEASE


def test_tokens_only_grow_over_successive_holdings() -> None:
    # GIVEN five movers, each finding the previous one's lease run out
    record, tokens = None, []
    for i in range(5):
        decision = acquisition(record, f"mover #{i}", NOW + i * LEASE, LEASE)
        assert not isinstance(decision, Wait)
        record = decision.record
        tokens.append(record.token)
    # THEN each holds the next token
    assert tokens == [1, 2, 3, 4, 5]


def test_a_lease_of_no_time_is_refused() -> None:
    with pytest.raises(ValueError):
        acquisition(None, "m", NOW, timedelta(0))


@pytest.mark.parametrize(
    ("stored", "ours", "admitted"),
    [
        (None, 1, True),  # written before the lock, or outside a move
        (3, 4, True),  # an older holder's
        (4, 4, True),  # our own (a retried write)
        (5, 4, False),  # a newer holder's: we were taken over
    ],
)
def test_the_fence_refuses_a_write_over_a_newer_holders(
    stored: int | None, ours: int, admitted: bool
) -> None:
    assert admits(stored, ours) is admitted
