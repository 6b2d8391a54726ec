"""Strikes' pure core: which verdicts and decisions strike, decay, the ladder, and the escalation a new
strike gives."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from contracts.chat import Label
from contracts.policy import ChannelPolicy, PolicyBook, StrikePolicy
from contracts.storage import ModeratorDecision
from contracts.strikes import Rung, Strike, StrikeSource, strike_key
from contracts.verdict import Action
from strikes.core import decayed, decision_strike, escalation_of, rung_of, strike_of
from tests.builders import verdict

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BOOK = PolicyBook()
POLICY = StrikePolicy()


def strike(at: datetime, weight: float = 1.0, key: str | None = None) -> Strike:
    return Strike(
        key=key or strike_key(uuid4()),
        channel_id="c",
        user_id="u",
        at=at,
        weight=weight,
        source=StrikeSource.MODERATOR,
    )


def test_a_strike_halves_every_half_life_and_counts_only_once_made_and_after_a_clearing() -> None:
    one = strike(T0)
    assert decayed([one], T0, 30, None) == 1.0
    assert decayed([one], T0 + timedelta(days=30), 30, None) == pytest.approx(0.5)
    assert decayed([one], T0 + timedelta(days=90), 30, None) == pytest.approx(0.125)
    assert decayed([one], T0 - timedelta(seconds=1), 30, None) == 0.0  # not made yet
    assert decayed([one], T0 + timedelta(days=1), 30, cleared_at=T0) == 0.0  # cleared with it
    later = strike(T0 + timedelta(hours=1), weight=0.5)
    assert decayed([one, later], T0 + timedelta(hours=1), 30, cleared_at=T0) == 0.5


@pytest.mark.parametrize(
    ("total", "rung", "minutes"),
    [
        (0.39, Rung.NONE, None),
        (0.4, Rung.WARN, None),
        (1.39, Rung.WARN, None),
        (1.4, Rung.TIMEOUT, 10),
        (2.39, Rung.TIMEOUT, 10),
        (2.4, Rung.TIMEOUT, 20),
        (3.4, Rung.TIMEOUT, 40),
        (3.9, Rung.BAN_SUGGESTION, None),
    ],
)
def test_the_ladder_warns_then_times_out_for_longer_then_suggests_a_ban(
    total: float, rung: Rung, minutes: int | None
) -> None:
    assert rung_of(total, POLICY) == (rung, minutes)


def test_a_timeout_never_exceeds_the_policys_longest() -> None:
    policy = StrikePolicy(ban_suggestion_at=100, timeout_max_minutes=60)
    assert rung_of(50, policy) == (Rung.TIMEOUT, 60)


def test_a_ladder_whose_rungs_do_not_climb_is_refused() -> None:
    with pytest.raises(ValueError, match="climb"):
        StrikePolicy(warn_at=2, timeout_at=1)


def test_a_model_removal_strikes_its_author_by_message_and_nothing_else_strikes() -> None:
    removed = verdict(Action.REMOVE, user="troll", channel="c")
    got = strike_of(removed, BOOK, 30)
    assert got is not None
    assert (got.key, got.user_id, got.weight, got.source) == (
        strike_key(removed.message_id),
        "troll",
        POLICY.model_weight,
        StrikeSource.MODEL,
    )
    assert strike_of(verdict(Action.REVIEW), BOOK, 30) is None
    assert strike_of(verdict(Action.ALLOW), BOOK, 30) is None


def test_a_flood_strikes_once_per_window_however_many_of_its_messages_were_removed() -> None:
    def flooded(seconds: float) -> Strike | None:
        v = verdict(Action.REMOVE).model_copy(
            update={"reasons": ["context:flood"], "processed_at": T0 + timedelta(seconds=seconds)}
        )
        return strike_of(v, BOOK, 30)

    first, same, next_window = flooded(1), flooded(20), flooded(31)
    assert first is not None
    assert same is not None
    assert next_window is not None
    assert first.key == same.key != next_window.key
    assert (first.source, first.weight) == (StrikeSource.FLOOD, POLICY.flood_weight)


def test_the_channels_policy_sets_the_weights() -> None:
    book = PolicyBook(channels={"strict": ChannelPolicy(strikes=StrikePolicy(model_weight=1.0))})
    got = strike_of(verdict(Action.REMOVE, channel="strict"), book, 30)
    assert got is not None
    assert got.weight == 1.0


def decision(label: Label, channel: str | None = "c", user: str | None = "u") -> ModeratorDecision:
    return ModeratorDecision(
        message_id=uuid4(),
        label=label,
        decided_by="mod",
        decided_at=T0 + timedelta(minutes=5),
        category="toxicity",
        channel_id=channel,
        user_id=user,
        sent_at=T0,
    )


def test_a_moderators_removal_weighs_more_and_an_allow_takes_the_strike_back() -> None:
    removal = decision_strike(decision("remove"), BOOK)
    allowed = decision_strike(decision("allow"), BOOK)
    assert removal is not None
    assert allowed is not None
    assert (removal.weight, removal.source, removal.at) == (1.0, StrikeSource.MODERATOR, T0)
    assert removal.weight > POLICY.model_weight
    assert (allowed.weight, allowed.source) == (0.0, StrikeSource.OVERTURNED)
    assert decision_strike(decision("remove", channel=None), BOOK) is None  # an older decision


def test_a_third_model_removal_reaches_a_timeout_and_reading_it_again_gives_the_same_rung() -> None:
    strikes = [strike(T0 + timedelta(minutes=i), weight=POLICY.model_weight) for i in range(3)]
    first = escalation_of(strikes[0], strikes[:1], BOOK, None)
    second = escalation_of(strikes[1], strikes[:2], BOOK, None)
    third = escalation_of(strikes[2], strikes, BOOK, None)
    assert first is not None
    assert second is not None
    assert third is not None
    assert (first.rung, second.rung, third.rung) == (Rung.WARN, Rung.WARN, Rung.TIMEOUT)
    assert third.timeout_minutes == POLICY.timeout_minutes
    # the first strike read again once all three exist: its rung is as it was (later strikes not counted)
    assert escalation_of(strikes[0], strikes, BOOK, None) == first
    assert third.escalation_id == f"c#u#{strikes[2].key}"


def test_no_escalation_for_a_strike_that_weighs_nothing_or_was_cleared() -> None:
    zero = strike(T0, weight=0.0)
    assert escalation_of(zero, [zero], BOOK, None) is None
    one = strike(T0)
    assert escalation_of(one, [one], BOOK, cleared_at=T0 + timedelta(seconds=1)) is None
    small = strike(T0, weight=0.3)
    assert escalation_of(small, [small], BOOK, None) is None  # under the first rung


def test_old_strikes_fade_so_a_user_who_stopped_starts_again_at_a_warning() -> None:
    old = [strike(T0 + timedelta(minutes=i)) for i in range(3)]  # a timeout, back then
    new = strike(T0 + timedelta(days=150))  # five half-lives later
    got = escalation_of(new, [*old, new], BOOK, None)
    assert got is not None
    assert got.rung is Rung.WARN


def test_a_ban_is_suggested_once_and_each_strike_after_it_is_the_longest_timeout() -> None:
    strikes = [strike(T0 + timedelta(minutes=i)) for i in range(6)]  # a moderator's removal each
    rungs = [escalation_of(s, strikes[: i + 1], BOOK, None) for i, s in enumerate(strikes)]
    assert [(e.rung, e.timeout_minutes) for e in rungs if e is not None] == [
        (Rung.WARN, None),
        (Rung.TIMEOUT, 10),
        (Rung.TIMEOUT, 20),
        (Rung.BAN_SUGGESTION, None),
        (Rung.TIMEOUT, POLICY.timeout_max_minutes),
        (Rung.TIMEOUT, POLICY.timeout_max_minutes),
    ]
    # cleared by a moderator, the ladder starts again
    after = strike(T0 + timedelta(hours=1))
    again = escalation_of(after, [*strikes, after], BOOK, cleared_at=T0 + timedelta(minutes=30))
    assert again is not None
    assert again.rung is Rung.WARN
