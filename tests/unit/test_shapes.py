"""What the closing table and the benchmark report of the simulator's shapes: caught, how fast, and the
users a signal fired for."""

from datetime import UTC, datetime, timedelta

from contracts.storage import GroundTruth
from contracts.verdict import Action, ContextSignal, Verdict
from producer_sim.shapes import shape_results, users_fired
from tests.builders import verdict

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def judged(user: str, second: float, signal: str | None = None, action: Action = Action.REVIEW) -> Verdict:
    v = verdict(Action.ALLOW if signal is None else action, user=user)
    context = [] if signal is None else [ContextSignal(signal=signal, value=9, threshold=5, action=action)]
    return v.model_copy(update={"sent_at": T0 + timedelta(seconds=second), "context": context})


def truth(v: Verdict, shape: str, shape_id: str | None, label: str = "remove") -> GroundTruth:
    return GroundTruth(
        message_id=v.message_id,
        community="tweets",
        label=label,
        shape=shape,
        shape_id=shape_id,
    )


def seconds(v: Verdict) -> float:
    return v.sent_at.timestamp()


def test_a_raid_is_reported_by_what_was_caught_after_its_fifth_message_and_how_fast() -> None:
    # GIVEN a raid of 10 whose first 5 went unflagged, the rest flagged from 4 s after its onset
    raid = [judged(f"r{i}", i, "raid" if i >= 4 else None) for i in range(10)]
    raid[7] = judged("r7", 7)  # one that slipped through
    truths = {str(v.message_id): truth(v, "raid", "raid-1") for v in raid}
    (result,) = shape_results(raid, truths, seconds, seconds)
    assert (result.shape, result.messages, result.users, result.caught) == ("raid", 10, 10, 5)
    assert result.caught_after_first_5 == 0.8  # 4 of the 5 after the fifth
    assert result.first_flag_s == 4.0
    assert result.detected_after_messages == 4  # four went by before the first caught one
    # a consumer 30 s behind the traffic flags 30 s later; the signal still needed 4 s of the raid
    (late,) = shape_results(raid, truths, seconds, lambda v: seconds(v) + 30)
    assert (late.first_flag_s, late.detected_after_s) == (34.0, 4.0)


def test_a_signal_that_only_reports_is_not_a_catch_and_repeats_count_once() -> None:
    flood = [judged("f", i, "heat", Action.ALLOW) for i in range(8)]
    truths = {str(v.message_id): truth(v, "flood", "flood-1") for v in flood}
    (result,) = shape_results(flood + flood[:3], truths, seconds, seconds)  # redelivered verdicts
    assert (result.messages, result.caught, result.first_flag_s, result.detected_after_s) == (
        8,
        0,
        None,
        None,
    )
    assert result.detected_after_messages is None


def test_users_fired_counts_ordinary_and_burst_users_apart_and_those_on_allowed_messages() -> None:
    spammer = judged("spammer", 1, "raid")
    regular = judged("regular", 2, "flood")
    quiet = [judged(f"q{i}", 3) for i in range(8)]
    cheer = judged("cheer", 4)
    truths = {
        str(spammer.message_id): truth(spammer, "ordinary", None, "remove"),
        str(regular.message_id): truth(regular, "ordinary", None, "allow"),
        str(cheer.message_id): truth(cheer, "burst", "burst-1", "allow"),
        **{str(v.message_id): truth(v, "ordinary", None, "allow") for v in quiet},
    }
    fired = users_fired([spammer, regular, cheer, *quiet], truths)
    assert (fired["ordinary"].users, fired["ordinary"].fired, fired["ordinary"].fired_on_allowed) == (
        10,
        2,
        1,
    )
    assert fired["ordinary"].share == 0.2
    assert (fired["burst"].users, fired["burst"].fired) == (1, 0)
