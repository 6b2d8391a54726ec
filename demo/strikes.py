"""The run's strikes in the closing summary: the table reconciled with the ledger (every strike the
verdicts and decisions call for, none other), and the ladder per rung — users, escalations, seconds
from a user's first strike — for the repeat offenders and for everyone else."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from statistics import median

from pydantic import BaseModel

from contracts.strikes import Escalation, Rung
from producer_sim.replay import OFFENDER_PREFIX
from strikes.core import StrikeId

ORDINARY_PREFIX = "user-"  # the simulator's ordinary users (raiders and offenders are named apart)
_ORDER = list(Rung)
_BEYOND_WARNING = (Rung.TIMEOUT, Rung.BAN_SUGGESTION)


class RungResult(BaseModel):
    """One rung of the ladder over the run: who reached it, how often, how soon."""

    users: int = 0  # (channel, user) pairs that reached it
    offenders: int = 0  # of them, repeat offenders
    escalations: int = 0  # escalations applied at this rung
    median_s_from_first_strike: float | None = None  # to the first time each user reached it


class StrikesResult(BaseModel):
    """The strikes of the run, reconciled, and the ladder."""

    held: int  # strikes in the table
    expected: int  # strikes the verdicts and decisions call for
    lost: int  # expected, not held: must be 0
    extra: int  # held, not expected: must be 0
    escalations: int  # applied by the bot (each id once)
    repeats_suppressed: int  # escalations delivered again and not applied again
    rungs: dict[str, RungResult]
    ordinary_users: int  # (channel, user) pairs of ordinary users who posted
    ordinary_beyond_warning: int  # of them, timed out or suggested for a ban
    # (channel, user) pairs of any kind timed out or suggested for a ban though at most one of their
    # messages there was harmful by the ground truth: the innocent the ladder hit
    innocent_beyond_warning: int = 0
    posters: int = 0  # (channel, user) pairs who posted
    offenders: int  # (channel, offender) pairs with a strike
    offenders_timed_out: int  # of them, reached a timeout (or higher)
    offenders_timed_out_by_third: int  # … at their third escalation or sooner

    @property
    def ordinary_beyond_warning_share(self) -> float | None:
        return self.ordinary_beyond_warning / self.ordinary_users if self.ordinary_users else None

    @property
    def innocent_beyond_warning_share(self) -> float | None:
        return self.innocent_beyond_warning / self.posters if self.posters else None


def strikes_result(
    held: set[StrikeId],
    expected: set[StrikeId],
    applied: Iterable[Escalation],
    posters: Iterable[tuple[str, str]],
    repeats_suppressed: int,
    harmful: Mapping[tuple[str, str], int] | None = None,
) -> StrikesResult:
    """`applied`: the bot's escalations; `posters`: every (channel, user) that posted; `harmful`: how
    many of each one's messages the ground truth calls harmful (absent: none)."""
    by_user: dict[tuple[str, str], list[Escalation]] = defaultdict(list)
    for e in applied:
        by_user[(e.channel_id, e.user_id)].append(e)
    rungs = {r.value: RungResult() for r in _ORDER if r is not Rung.NONE}
    waits: dict[str, list[float]] = defaultdict(list)
    timed_out = by_third = 0
    for (_, user), escalations in by_user.items():
        escalations.sort(key=lambda e: e.at)
        first: datetime = escalations[0].at
        offender = user.startswith(OFFENDER_PREFIX)
        reached: set[Rung] = set()
        for e in escalations:
            rungs[e.rung].escalations += 1
            if e.rung in reached:
                continue
            reached.add(e.rung)
            rungs[e.rung].users += 1
            rungs[e.rung].offenders += offender
            waits[e.rung].append((e.at - first).total_seconds())
        if offender:
            at_timeout = [n for n, e in enumerate(escalations, 1) if e.rung in _BEYOND_WARNING]
            timed_out += bool(at_timeout)
            by_third += bool(at_timeout) and at_timeout[0] <= 3
    for rung, seconds in waits.items():
        rungs[rung].median_s_from_first_strike = round(median(seconds), 1)
    everyone = set(posters)
    ordinary = {p for p in everyone if p[1].startswith(ORDINARY_PREFIX)}
    innocent = {
        key
        for key, escalations in by_user.items()
        if (harmful or {}).get(key, 0) <= 1 and any(e.rung in _BEYOND_WARNING for e in escalations)
    }
    beyond = {
        key
        for key, escalations in by_user.items()
        if key in ordinary and any(e.rung in _BEYOND_WARNING for e in escalations)
    }
    return StrikesResult(
        held=len(held),
        expected=len(expected),
        lost=len(expected - held),
        extra=len(held - expected),
        escalations=sum(len(v) for v in by_user.values()),
        repeats_suppressed=repeats_suppressed,
        rungs=rungs,
        ordinary_users=len(ordinary),
        ordinary_beyond_warning=len(beyond),
        innocent_beyond_warning=len(innocent),
        posters=len(everyone),
        offenders=len({(c, u) for c, u, _ in held if u.startswith(OFFENDER_PREFIX)}),
        offenders_timed_out=timed_out,
        offenders_timed_out_by_third=by_third,
    )
