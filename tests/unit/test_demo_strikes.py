"""The demo's closing strikes figures: the table reconciled with the ledger, and the ladder per rung."""

from datetime import UTC, datetime, timedelta

from contracts.strikes import Escalation, Rung
from demo.strikes import strikes_result

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def escalation(user: str, n: int, rung: Rung, seconds: float) -> Escalation:
    return Escalation(
        escalation_id=f"c#{user}#msg#{n}",
        channel_id="c",
        user_id=user,
        rung=rung,
        timeout_minutes=10 if rung is Rung.TIMEOUT else None,
        strikes=0.5 * n,
        at=T0 + timedelta(seconds=seconds),
    )


def test_the_ladder_counts_users_per_rung_their_seconds_from_a_first_strike_and_the_ledgers_gaps() -> None:
    applied = [
        escalation("offender-000", 1, Rung.WARN, 0),
        escalation("offender-000", 2, Rung.WARN, 10),
        escalation("offender-000", 3, Rung.TIMEOUT, 20),
        escalation("offender-001", 1, Rung.WARN, 0),
        escalation("offender-001", 2, Rung.WARN, 5),
        escalation("offender-001", 3, Rung.WARN, 6),  # a moderator overturned one in between
        escalation("offender-001", 4, Rung.TIMEOUT, 40),
        escalation("user-00001", 1, Rung.WARN, 3),
        escalation("user-00002", 1, Rung.WARN, 0),
        escalation("user-00002", 2, Rung.TIMEOUT, 100),
    ]
    held = {("c", "offender-000", "msg#1"), ("c", "offender-001", "msg#1"), ("c", "user-00001", "msg#1")}
    expected = held - {("c", "user-00001", "msg#1")} | {("c", "user-00003", "msg#9")}
    posters = [("c", "user-00001"), ("c", "user-00002"), ("c", "user-00003"), ("c", "raider-x-1")]
    harmful = {("c", "user-00002"): 1, ("c", "offender-000"): 3, ("c", "offender-001"): 4}
    got = strikes_result(held, expected, applied, posters, repeats_suppressed=2, harmful=harmful)

    assert (got.held, got.expected, got.lost, got.extra) == (3, 3, 1, 1)
    assert (got.escalations, got.repeats_suppressed) == (10, 2)
    assert got.rungs["warn"].users == 4
    assert got.rungs["warn"].escalations == 7
    assert got.rungs["timeout"].users == 3
    assert got.rungs["timeout"].offenders == 2
    assert got.rungs["timeout"].median_s_from_first_strike == 40.0  # 20, 40, 100
    assert got.rungs["ban_suggestion"].users == 0
    assert (got.ordinary_users, got.ordinary_beyond_warning) == (3, 1)
    assert got.ordinary_beyond_warning_share == 1 / 3
    # user-00002 reached a timeout with a single harmful message: the one innocent the ladder hit
    assert (got.innocent_beyond_warning, got.posters) == (1, 4)
    assert (got.offenders, got.offenders_timed_out, got.offenders_timed_out_by_third) == (2, 2, 1)
