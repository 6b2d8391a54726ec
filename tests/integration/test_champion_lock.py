"""The champion lock on LocalStack's S3 (and moto's): one winner among movers racing for it, a stale
holder fenced out at the write, a crashed holder blocking the next mover only for its lease; and
champion moves through it end to end, with a real MLflow registry (sqlite)."""

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.audit import AuditKind
from contracts.storage import ChampionManifest
from runtime import aws
from runtime.audit import read_trail, verify_trail
from runtime.objects import read_object
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from tests.emulator import publish_scorer, register_scorers, training_settings
from training import registry
from training.lease import FencedOutError, LockBusyError, PromotionRaceError
from training.lock import Held, LeaseLock, utc_now
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


@pytest.fixture
def s3(endpoint_url: str) -> "S3Client":
    return aws.client("s3", endpoint_url)


def _lock(
    s3: "S3Client",
    stack: Stack,
    who: str,
    lease: timedelta = LEASE,
    wait: timedelta = timedelta(0),
    clock: Callable[[], datetime] = utc_now,
) -> LeaseLock:
    """A mover's handle on the stack's champion lock (by default: one try, no waiting)."""
    bucket = stack.models_bucket
    return LeaseLock(s3, bucket.name, bucket.champion_lock_key, who, lease, wait, poll_s=0.05, clock=clock)


def _ahead(by: timedelta) -> Callable[[], datetime]:
    return lambda: utc_now() + by


def _manifest(s3: "S3Client", stack: Stack) -> ChampionManifest:
    body = s3.get_object(Bucket=stack.models_bucket.name, Key=stack.models_bucket.champion_manifest_key)
    return ChampionManifest.model_validate_json(body["Body"].read())


def _fenced(stack: Stack, version: str, token: int) -> ChampionManifest:
    """The manifest a move to `version` holding `token` would write."""
    manifest = registry.champion_manifest(
        stack.models_bucket.name, "chat-moderation", version, f"run-{version}", b"scorer", "test"
    )
    return manifest.model_copy(update={"fencing_token": token})


def _commit(s3: "S3Client", stack: Stack, manifest: ChampionManifest) -> None:
    """A fenced write of `manifest` over champion.json as it is now."""
    bucket, key = stack.models_bucket.name, stack.models_bucket.champion_manifest_key
    registry.commit_manifest(s3, bucket, key, read_object(s3, bucket, key), manifest)


# --- the lock ------------------------------------------------------------------------------------


def test_of_two_movers_finding_no_lock_only_one_creates_it(s3: "S3Client", fresh_stack: Stack) -> None:
    # GIVEN two movers that both read the lock object, absent, before either writes
    a, b = _lock(s3, fresh_stack, "a"), _lock(s3, fresh_stack, "b")
    seen_a, seen_b = a.read(), b.read()
    assert seen_a is None
    assert seen_b is None
    # WHEN both try to create it
    held_a, held_b = a.try_acquire(seen_a), b.try_acquire(seen_b)
    # THEN the first holds token 1, the second is refused, and the object names the first
    assert held_a is not None
    assert held_a.token == 1
    assert held_b is None
    now = a.read()
    assert now is not None
    assert now.record == held_a.record


def test_of_two_movers_taking_over_a_run_out_lease_only_one_gets_it(
    s3: "S3Client", fresh_stack: Stack
) -> None:
    # GIVEN a lock whose holder crashed, and two movers (clocks past its lease) that both read it
    crashed = _lock(s3, fresh_stack, "crashed").acquire()
    a = _lock(s3, fresh_stack, "a", clock=_ahead(LEASE * 2))
    b = _lock(s3, fresh_stack, "b", clock=_ahead(LEASE * 2))
    seen_a, seen_b = a.read(), b.read()
    # WHEN both try to take it over
    held_a, held_b = a.try_acquire(seen_a), b.try_acquire(seen_b)
    # THEN only the first does, with the next token
    assert held_a is not None
    assert held_a.token == crashed.token + 1
    assert held_b is None
    now = a.read()
    assert now is not None
    assert now.record == held_a.record


def test_of_movers_racing_for_the_lock_exactly_one_holds_it(s3: "S3Client", fresh_stack: Stack) -> None:
    # GIVEN four movers released at once, each trying once
    movers = [_lock(s3, fresh_stack, f"mover-{i}") for i in range(4)]
    barrier = threading.Barrier(len(movers))
    results: list[Held | None] = []

    def attempt(lock: LeaseLock) -> None:
        barrier.wait()
        results.append(lock.try_acquire(lock.read()))

    threads = [threading.Thread(target=attempt, args=(m,)) for m in movers]
    # WHEN they race
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN exactly one holds it, with token 1
    held = [r for r in results if r is not None]
    assert len(results) == 4
    assert [h.token for h in held] == [1]


def test_the_lock_holds_on_moto_too(moto_endpoint: str) -> None:
    # GIVEN the lighter emulator's S3, and a bucket of this test's own
    s3 = aws.client("s3", moto_endpoint)
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def lock(who: str, clock: Callable[[], datetime] = utc_now) -> LeaseLock:
        return LeaseLock(s3, bucket, "locks/champion.json", who, LEASE, timedelta(0), clock=clock)

    # WHEN two movers that both found no lock try to create it THEN only the first does
    a, b = lock("a"), lock("b")
    seen_a, seen_b = a.read(), b.read()
    assert a.try_acquire(seen_a) is not None
    assert b.try_acquire(seen_b) is None
    # WHEN two movers past its lease both try to take it over THEN only the first does, with token 2
    c, d = lock("c", _ahead(LEASE * 2)), lock("d", _ahead(LEASE * 2))
    seen_c, seen_d = c.read(), d.read()
    held_c = c.try_acquire(seen_c)
    assert held_c is not None
    assert held_c.token == 2
    assert d.try_acquire(seen_d) is None


def test_a_stale_holder_is_refused_at_the_fenced_write(s3: "S3Client", fresh_stack: Stack) -> None:
    # GIVEN a holder that stalled past its lease (its clock stopped when it took the lock)
    took = utc_now()
    stale_lock = _lock(s3, fresh_stack, "stale", clock=lambda: took)
    stale = stale_lock.acquire()
    # AND a newer mover that took the lock over once the lease ran out, and wrote version 3
    newer_lock = _lock(s3, fresh_stack, "newer", clock=_ahead(LEASE + timedelta(seconds=1)))
    newer = newer_lock.acquire()
    assert newer.token == stale.token + 1
    _commit(s3, fresh_stack, _fenced(fresh_stack, "3", newer.token))
    # WHEN the stale holder wakes, reads champion.json afresh and writes its own
    # THEN it is refused: what is there carries a newer token
    with pytest.raises(FencedOutError, match="newer"):
        _commit(s3, fresh_stack, _fenced(fresh_stack, "2", stale.token))
    assert (_manifest(s3, fresh_stack).version, _manifest(s3, fresh_stack).fencing_token) == ("3", 2)
    # AND its release leaves the newer holder's lock alone
    stale_lock.release(stale)
    now = newer_lock.read()
    assert now is not None
    assert now.record == newer.record


def test_a_stale_holder_that_read_before_the_newer_write_is_refused_too(
    s3: "S3Client", fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> None:
    # GIVEN champion.json from before the lock, read by a holder that then stalled past its lease
    bucket, key = fresh_stack.models_bucket.name, fresh_stack.models_bucket.champion_manifest_key
    publish_scorer(s3, bucket, scorers["1"], "1")
    took = utc_now()
    stale = _lock(s3, fresh_stack, "stale", clock=lambda: took).acquire()
    seen = read_object(s3, bucket, key)
    # AND a newer mover that took the lock over and wrote version 3
    newer = _lock(s3, fresh_stack, "newer", clock=_ahead(LEASE + timedelta(seconds=1))).acquire()
    _commit(s3, fresh_stack, _fenced(fresh_stack, "3", newer.token))
    # WHEN the stale holder writes over what it had read
    # THEN it is refused: champion.json changed since
    with pytest.raises(FencedOutError, match="changed"):
        registry.commit_manifest(s3, bucket, key, seen, _fenced(fresh_stack, "2", stale.token))
    assert _manifest(s3, fresh_stack).version == "3"


def test_a_crashed_holder_blocks_the_next_mover_only_until_its_lease_runs_out(
    s3: "S3Client", fresh_stack: Stack
) -> None:
    # GIVEN a holder with a lease of 1.5 s that crashed without releasing the lock
    crashed = _lock(s3, fresh_stack, "crashed", lease=timedelta(seconds=1.5)).acquire()
    # WHEN a mover tries at once, without waiting THEN it is refused: the lease is live
    with pytest.raises(LockBusyError, match="crashed"):
        _lock(s3, fresh_stack, "impatient").acquire()
    # WHEN a mover that waits up to 20 s tries
    held = _lock(s3, fresh_stack, "next", wait=timedelta(seconds=20)).acquire()
    # THEN it holds the lock once the lease has run out, with the next token
    assert held.token == crashed.token + 1
    assert held.record.acquired_at >= crashed.record.expires_at


# --- champion moves through it -------------------------------------------------------------------


@pytest.fixture
def settings(data_dir: Path, tmp_path: Path, endpoint_url: str, fresh_stack: Stack) -> TrainingSettings:
    """Training settings of this test's own: a fresh registry (sqlite) and models bucket."""
    return training_settings(
        data_dir, tmp_path / "state", endpoint_url, fresh_stack.models_bucket.name, lock_wait_s=30.0
    )


def test_of_two_racing_moves_one_wins_and_the_other_is_refused(
    settings: TrainingSettings, s3: "S3Client", fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> None:
    # GIVEN a registry of versions 1-3 whose champion is 1
    client = register_scorers(settings, [scorers["1"], scorers["2"], scorers["1"]])
    registry.move_champion(settings, client, "1", None, "setup")
    # WHEN two movers, both believing the champion is 1, move it at once: to 2 and to 3
    barrier = threading.Barrier(2)
    outcomes: dict[str, registry.Moved | PromotionRaceError] = {}

    def move(version: str) -> None:
        barrier.wait()
        try:
            outcomes[version] = registry.move_champion(settings, client, version, "1", f"mover-{version}")
        except PromotionRaceError as err:
            outcomes[version] = err

    threads = [threading.Thread(target=move, args=(v,)) for v in ("2", "3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN exactly one wins and the other is refused
    won = [v for v, outcome in outcomes.items() if isinstance(outcome, registry.Moved)]
    lost = [v for v, outcome in outcomes.items() if isinstance(outcome, PromotionRaceError)]
    assert len(won) == 1
    assert len(lost) == 1
    # AND the manifest (under the second holding's token) and the alias both name the winner
    manifest = _manifest(s3, fresh_stack)
    assert (manifest.version, manifest.fencing_token) == (won[0], 2)
    champion = registry.champion_version(client, settings.model_name)
    assert champion is not None
    assert str(champion.version) == won[0]
    assert client.get_model_version(settings.model_name, won[0]).tags["replaced_version"] == "1"
    assert "promoted_by" not in client.get_model_version(settings.model_name, lost[0]).tags


def test_a_move_finding_the_alias_behind_the_manifest_sets_it_back_and_is_refused(
    settings: TrainingSettings, s3: "S3Client", fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> None:
    # GIVEN champion 1, then a mover that wrote version 2's manifest under the lock and died before the
    # alias (manifest 2, alias still 1)
    client = register_scorers(settings, [scorers["1"], scorers["2"], scorers["1"]])
    registry.move_champion(settings, client, "1", None, "setup")
    lock = registry.champion_lock(settings, s3, "dies")
    held = lock.acquire()
    staged = registry.stage_champion(
        settings, s3, client, client.get_model_version(settings.model_name, "2"), "dies"
    )
    _commit(s3, fresh_stack, staged.model_copy(update={"fencing_token": held.token}))
    lock.release(held)
    # WHEN a move to 3 that believes the alias (champion 1) runs
    # THEN it is refused: the champion is the manifest's 2
    with pytest.raises(registry.ChampionMovedError, match="from 1 to 2"):
        registry.move_champion(settings, client, "3", "1", "late")
    # AND the alias is back in step with the manifest
    champion = registry.champion_version(client, settings.model_name)
    assert champion is not None
    assert str(champion.version) == "2"
    assert _manifest(s3, fresh_stack).version == "2"


def test_without_publishing_only_the_alias_moves_under_the_lock_or_unlocked_without_a_bucket(
    settings: TrainingSettings, s3: "S3Client", fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> None:
    # GIVEN settings that do not publish, and a registry of versions 1-2
    quiet = settings.model_copy(update={"publish": False})
    client = register_scorers(quiet, [scorers["1"], scorers["2"]])
    # WHEN the champion moves to 1
    moved = registry.move_champion(quiet, client, "1", None, "test")
    # THEN the alias moved under the lock (a token), and nothing was published
    assert (moved.version, moved.token, moved.manifest_uri) == ("1", 1, None)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(
            Bucket=fresh_stack.models_bucket.name, Key=fresh_stack.models_bucket.champion_manifest_key
        )
    # WHEN there is no models bucket at all
    nowhere = quiet.model_copy(update={"models_bucket": f"{fresh_stack.models_bucket.name}-missing"})
    moved = registry.move_champion(nowhere, client, "2", "1", "test")
    # THEN the alias still moves, unlocked (no token), and still only from the expected version
    assert (moved.version, moved.replaced, moved.token) == ("2", "1", None)
    with pytest.raises(registry.ChampionMovedError):
        registry.move_champion(nowhere, client, "1", "1", "test")
    champion = registry.champion_version(client, settings.model_name)
    assert champion is not None
    assert str(champion.version) == "2"


def test_a_lock_object_deleted_by_hand_restarts_above_the_manifests_token(
    settings: TrainingSettings, s3: "S3Client", fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> None:
    # GIVEN two moves made (the manifest carries token 2)
    client = register_scorers(settings, [scorers["1"], scorers["2"]])
    registry.move_champion(settings, client, "1", None, "setup")
    registry.move_champion(settings, client, "2", "1", "second")
    assert _manifest(s3, fresh_stack).fencing_token == 2
    # WHEN the lock object is deleted (by an operator cleaning up), and the champion moved again
    s3.delete_object(Bucket=fresh_stack.models_bucket.name, Key=fresh_stack.models_bucket.champion_lock_key)
    registry.move_champion(settings, client, "1", "2", "rollback")
    # THEN the new lock started above the written token, so the move was not fenced out
    manifest = _manifest(s3, fresh_stack)
    assert (manifest.version, manifest.fencing_token) == ("1", 3)


def test_every_move_of_the_champion_is_in_the_audit_trail(
    settings: TrainingSettings, s3: "S3Client", fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> None:
    # GIVEN settings naming the stack's audit bucket and a registry of versions 1-2
    audited = settings.model_copy(update={"audit_bucket": fresh_stack.audit_bucket.name})
    client = register_scorers(audited, [scorers["1"], scorers["2"]])
    # WHEN the champion is promoted to 1, then 2, then rolled back to 1
    registry.move_champion(audited, client, "1", None, "first")
    registry.move_champion(audited, client, "2", "1", "drift")
    registry.move_champion(audited, client, "1", "2", "operator")
    # THEN the trail holds the three moves, in order, as an intact chain
    trail = read_trail(s3, fresh_stack.audit_bucket.name, fresh_stack.audit_bucket.prefix)
    assert verify_trail(trail) == []
    moves = [(r.kind, r.model_version, r.actor, r.reason) for r in trail.records()]
    assert moves == [
        (AuditKind.PROMOTION, "1", "first", "champion none -> 1"),
        (AuditKind.PROMOTION, "2", "drift", "champion 1 -> 2"),
        (AuditKind.ROLLBACK, "1", "operator", "champion 2 -> 1"),
    ]
