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
from strikes.core import (
    decayed,
    decision_strike,
    escalation_of,
    expected_strikes,
    rung_of,
    standing,
    strike_of,
)
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


def test_a_moderators_removal_counts_more_and_an_allow_takes_the_strike_back() -> None:
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


def test_no_escalation_for_a_strike_of_no_weight_or_cleared() -> None:
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


def test_a_strike_is_made_when_the_record_arrived_and_names_what_decided_it() -> None:
    late = verdict(Action.REMOVE).model_copy(
        update={"processed_at": T0, "latency_ms": 5000.0, "category": None, "reasons": ["rule:block_terms"]}
    )
    got = strike_of(late, BOOK, 30)
    assert got is not None
    assert got.at == T0 - timedelta(seconds=5)
    assert got.category == "rule:block_terms"
    bare = strike_of(late.model_copy(update={"reasons": []}), BOOK, 30)
    assert bare is not None
    assert bare.category is None
    # a flood lifted it: the first reason names it, whatever follows
    flood = strike_of(late.model_copy(update={"reasons": ["context:flood", "idiot"]}), BOOK, 30)
    assert flood is not None
    assert (flood.source, flood.category) == (StrikeSource.FLOOD, "flood")


def test_without_windows_every_flooded_second_is_a_strike_of_its_own() -> None:
    def flooded(seconds: float) -> str:
        v = verdict(Action.REMOVE).model_copy(
            update={"reasons": ["context:flood"], "processed_at": T0 + timedelta(seconds=seconds)}
        )
        got = strike_of(v, BOOK, 0)
        assert got is not None
        return got.key

    assert flooded(1) != flooded(2)


def test_a_decision_strike_keeps_its_message_category_time_and_the_channels_weight() -> None:
    made = decision("remove")
    book = PolicyBook(channels={"c": ChannelPolicy(strikes=StrikePolicy(moderator_weight=2.0))})
    got = decision_strike(made, book)
    assert got is not None
    assert (got.key, got.category, got.decided_at, got.weight) == (
        strike_key(made.message_id),
        "toxicity",
        made.decided_at,
        2.0,
    )


def test_an_escalation_names_its_message_category_and_the_rounded_total_under_the_channels_ladder() -> None:
    first, second = strike(T0), strike(T0 + timedelta(minutes=1), weight=0.5)
    first = first.model_copy(update={"category": "hate"})
    second = second.model_copy(update={"category": "hate"})
    got = escalation_of(second, [first, second], BOOK, None)
    assert got is not None
    assert got.strikes == 1.5  # 1.49998… rounded to four places
    assert got.message_id is not None
    assert str(got.message_id) == second.key.removeprefix("msg#")
    assert got.category == "hate"
    flood = strike(T0, key="flood#1764590400")
    on_flood = escalation_of(flood, [flood], BOOK, None)
    assert on_flood is not None
    assert on_flood.message_id is None
    strict = PolicyBook(channels={"c": ChannelPolicy(strikes=StrikePolicy(warn_at=0.2, timeout_at=0.5))})
    half = strike(T0, weight=0.5)
    on_strict = escalation_of(half, [half], strict, None)
    assert on_strict is not None
    assert on_strict.rung is Rung.TIMEOUT


def test_a_strike_of_no_weight_or_older_than_a_clearing_escalates_nothing_whatever_follows() -> None:
    heavy = [strike(T0 + timedelta(minutes=i)) for i in range(1, 4)]
    zero = strike(T0 + timedelta(minutes=5), weight=0.0)
    assert escalation_of(zero, [*heavy, zero], BOOK, None) is None
    old = strike(T0)
    later = [strike(T0 + timedelta(minutes=i)) for i in range(2, 5)]
    assert escalation_of(old, [old, *later], BOOK, cleared_at=T0 + timedelta(minutes=1)) is None
    assert escalation_of(old, [old, *later], BOOK, cleared_at=T0) is None  # made at the clearing itself


def test_after_a_clearing_a_ban_is_suggested_again_and_a_total_exactly_at_the_rung_was_suggested() -> None:
    before = [strike(T0 + timedelta(minutes=i)) for i in range(5)]  # a ban suggested back then
    cleared = T0 + timedelta(minutes=10)
    after = [strike(T0 + timedelta(minutes=11 + i)) for i in range(4)]
    got = escalation_of(after[-1], [*before, *after], BOOK, cleared)
    assert got is not None
    assert got.rung is Rung.BAN_SUGGESTION
    book = PolicyBook(channels={"c": ChannelPolicy(strikes=StrikePolicy(ban_suggestion_at=4.0))})
    at_once = [strike(T0) for _ in range(5)]  # no decay between them: the others total 4.0 exactly
    fifth = escalation_of(at_once[-1], at_once, book, None)
    assert fifth is not None
    assert fifth.rung is Rung.TIMEOUT


def test_the_ledger_holds_every_removal_and_decision_once_and_one_strike_per_flooded_window() -> None:
    removed = [verdict(Action.REMOVE, user="a") for _ in range(2)]
    flood = [
        verdict(Action.REMOVE, user="b").model_copy(update={"reasons": ["context:flood"], "processed_at": T0})
        for _ in range(3)
    ]
    allowed = verdict(Action.ALLOW, user="a")
    got = expected_strikes(
        [*removed, *removed, *flood, allowed], [decision("allow"), decision("remove", channel=None)], BOOK, 30
    )
    assert len(got) == 2 + 1 + 1
    assert ("c", "a", strike_key(removed[0].message_id)) in got
    assert None not in got


def test_where_a_user_stands_counts_the_strikes_since_the_last_clearing_newest_first() -> None:
    now = T0 + timedelta(minutes=10)
    strikes = [strike(T0 + timedelta(minutes=i)) for i in range(3)] + [strike(now, weight=0.5)]
    cleared = T0 + timedelta(seconds=30)
    got = standing(strikes, cleared, now, POLICY)
    assert [s.key for s in got.strikes] == [strikes[3].key, strikes[2].key, strikes[1].key]
    assert got.total == 2.5  # 2.49999… to three places
    assert got.cleared_at == cleared
    assert (got.rung, got.timeout_minutes) == (Rung.TIMEOUT, 20)
    future = standing([strike(now + timedelta(minutes=1))], None, now, POLICY)
    assert (future.strikes, future.total, future.rung) == ([], 0.0, Rung.NONE)
