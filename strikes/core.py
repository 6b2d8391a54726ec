"""The strikes' pure core: which verdict or decision is a strike, how strikes decay, and which rung of
the ladder a new one reaches. No I/O: `strikes.store` keeps them, `strikes.writer` feeds them.

- A model's removal is a strike of `model_weight` on its author, keyed by its message. A removal the
  flood signal raised is a strike of `flood_weight` keyed by the tumbling window it fell in, so a
  flood counts once per window however many of its messages were removed. A removal the raid signal
  raised strikes its author (a raider); the user a raid targets is never its author, and the signal
  never attaches a raid to the first poster of a text (`stream_consumer.context`).
- A moderator's decision on a message is a strike of `moderator_weight` (remove) or takes the strike
  back (allow: overturned, weight 0). The latest decision is the one that counts.
- Strikes decay: a strike of weight w made at t weighs w * 2^-(now - t)/half-life at `now`. Only
  strikes made after the user's strikes were last cleared by a moderator count.
- A new strike's rung is read from the decayed total at its offence (the strikes made before it, and
  itself), so reading it again later, or replaying it, gives the same rung. A ban is suggested once,
  when the total crosses its rung; each strike after that, until a moderator acts (bans, or clears the
  strikes), is the longest timeout — one suggestion per user for the moderators, not one per message.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.policy import PolicyBook, StrikePolicy
from contracts.storage import ModeratorDecision
from contracts.strikes import Escalation, Rung, Strike, StrikeSource, flood_key, strike_key
from contracts.verdict import Action, Verdict

FLOOD_REASON = "context:flood"


def arrival(verdict: Verdict) -> datetime:
    """When the message's record reached the stream (what the event source mapping's windows follow)."""
    return verdict.processed_at - timedelta(milliseconds=verdict.latency_ms)


def strike_of(verdict: Verdict, book: PolicyBook, window_s: float) -> Strike | None:
    """The strike a verdict gives its author (None: it removed nothing)."""
    if verdict.action is not Action.REMOVE:
        return None
    policy = book.for_channel(verdict.channel_id)[1].strikes
    at = arrival(verdict)
    if verdict.reasons[:1] == [FLOOD_REASON]:  # the flood signal lifted it: once per window
        start = math.floor(at.timestamp() / window_s) * window_s if window_s > 0 else at.timestamp()
        return Strike(
            key=flood_key(start),
            channel_id=verdict.channel_id,
            user_id=verdict.user_id,
            at=at,
            weight=policy.flood_weight,
            source=StrikeSource.FLOOD,
            category="flood",
        )
    return Strike(
        key=strike_key(verdict.message_id),
        channel_id=verdict.channel_id,
        user_id=verdict.user_id,
        at=at,
        weight=policy.model_weight,
        source=StrikeSource.MODEL,
        category=verdict.category or (verdict.reasons[0] if verdict.reasons else None),
    )


def decision_strike(decision: ModeratorDecision, book: PolicyBook) -> Strike | None:
    """A moderator's decision as the strike it sets on its message (None: the decision does not name
    its message's channel and author — decisions written before they did)."""
    if decision.channel_id is None or decision.user_id is None:
        return None
    policy = book.for_channel(decision.channel_id)[1].strikes
    removes = decision.label == "remove"
    return Strike(
        key=strike_key(decision.message_id),
        channel_id=decision.channel_id,
        user_id=decision.user_id,
        at=decision.sent_at or decision.decided_at,
        weight=policy.moderator_weight if removes else 0.0,
        source=StrikeSource.MODERATOR if removes else StrikeSource.OVERTURNED,
        category=decision.category,
        decided_at=decision.decided_at,
    )


def decayed(
    strikes: Iterable[Strike], at: datetime, half_life_days: float, cleared_at: datetime | None
) -> float:
    """The weight at `at` of the strikes made by then (and after the last clearing)."""
    half_life_s = half_life_days * 86_400
    total = 0.0
    for s in strikes:
        if s.at > at or (cleared_at is not None and s.at <= cleared_at):
            continue
        total += s.weight * 0.5 ** ((at - s.at).total_seconds() / half_life_s)
    return total


def rung_of(total: float, policy: StrikePolicy) -> tuple[Rung, int | None]:
    """The rung a decayed total reaches, and a timeout's minutes (doubled for each full strike past
    `timeout_at`, at most `timeout_max_minutes`)."""
    if total >= policy.ban_suggestion_at:
        return Rung.BAN_SUGGESTION, None
    if total >= policy.timeout_at:
        doublings = math.floor(total - policy.timeout_at)
        return Rung.TIMEOUT, min(policy.timeout_minutes * 2**doublings, policy.timeout_max_minutes)
    if total >= policy.warn_at:
        return Rung.WARN, None
    return Rung.NONE, None


@dataclass(frozen=True)
class Standing:
    """A user's strikes in a channel as of now: the decayed total, the rung it stands on, and the
    strikes that still count, newest first."""

    total: float
    rung: Rung
    timeout_minutes: int | None
    strikes: list[Strike]
    cleared_at: datetime | None


def standing(
    strikes: Iterable[Strike], cleared_at: datetime | None, now: datetime, policy: StrikePolicy
) -> Standing:
    """Where a user stands now (what a moderator sees beside their message)."""
    counted = sorted(
        (s for s in strikes if s.at <= now and (cleared_at is None or s.at > cleared_at)),
        key=lambda s: s.at,
        reverse=True,
    )
    total = decayed(counted, now, policy.half_life_days, None)
    rung, minutes = rung_of(total, policy)
    return Standing(round(total, 3), rung, minutes, counted, cleared_at)


def escalation_of(
    strike: Strike, strikes: Iterable[Strike], book: PolicyBook, cleared_at: datetime | None
) -> Escalation | None:
    """What a new strike escalates to, from the user's strikes in the channel (itself among them, or
    not: it is counted once either way); None when it weighs nothing or stays under the first rung."""
    if strike.weight <= 0 or (cleared_at is not None and strike.at <= cleared_at):
        return None
    policy = book.for_channel(strike.channel_id)[1].strikes
    others = [s for s in strikes if s.key != strike.key]
    total = decayed([*others, strike], strike.at, policy.half_life_days, cleared_at)
    rung, minutes = rung_of(total, policy)
    if rung is Rung.NONE:
        return None
    if rung is Rung.BAN_SUGGESTION and decayed(others, strike.at, policy.half_life_days, cleared_at) >= (
        policy.ban_suggestion_at
    ):
        # suggested already (a moderator has it): until they act, each strike is the longest timeout
        rung, minutes = Rung.TIMEOUT, policy.timeout_max_minutes
    return Escalation(
        escalation_id=f"{strike.channel_id}#{strike.user_id}#{strike.key}",
        channel_id=strike.channel_id,
        user_id=strike.user_id,
        rung=rung,
        timeout_minutes=minutes,
        strikes=round(total, 4),
        message_id=strike.key.removeprefix("msg#") if strike.key.startswith("msg#") else None,
        category=strike.category,
        at=strike.at,
    )


type StrikeId = tuple[str, str, str]  # channel, user, strike key


def expected_strikes(
    verdicts: Iterable[Verdict], decisions: Iterable[ModeratorDecision], book: PolicyBook, window_s: float
) -> set[StrikeId]:
    """The strikes a writer must hold after reading `verdicts` and `decisions` (each read any number of
    times): the ledger the end-to-end and chaos runs reconcile the table against."""
    out: set[StrikeId] = set()
    for verdict in verdicts:
        if (strike := strike_of(verdict, book, window_s)) is not None:
            out.add((strike.channel_id, strike.user_id, strike.key))
    for decision in decisions:
        if (strike := decision_strike(decision, book)) is not None:
            out.add((strike.channel_id, strike.user_id, strike.key))
    return out
