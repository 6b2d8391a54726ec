"""The guard on the labels a retraining learns from: who supplied them, and whether they agree.

Pure: moderator decisions and the verdicts they were made on in, an audit with its alerts and the
decisions held out of training out. Two rules, both in `LabelGuardPolicy`:

- **share**: no labeller (a moderator, an appeal source) supplies more than `max_share` of one
  retraining's new labels. Over it, an alert, and the labeller's excess new labels are held out (the ones
  a hash of the message id ranks last, so the same ones on every run) unless an operator listed the
  labeller in `accepted`, which the audit records as the decision instead.
- **ranking**: in each category decided, how well the serving model's scores for it rank each
  labeller's decisions — a ROC-AUC — against how well they rank the others' pooled decisions in it.
  Moderators share out one queue, so the two should match within noise. A labeller whose AUC in a
  category is `max_gap` below the others' is flagged for **disagreement** (a flipper ranks near
  1 − AUC); one the model ranks far better — it mis-ranks at most `rubber_stamp` as many of their pairs
  (1 − AUC) — is flagged as a **rubber-stamp** (a labeller who labels as the model scored is at AUC 1
  and teaches the model nothing but its own errors). Either way the z of the difference must reach
  `min_z` (Hanley–McNeil errors; the labeller's also read at the others' AUC, the larger taken, so a
  perfect AUC on a few decisions is not certainty), and all of the labeller's labels in that category
  are held out. "The others" are not every other labeller — a flipper among them lowers their AUC and
  the honest look like rubber stamps beside it, rubber stamps raise it — but those within the z bar of
  the median labeller (the one holding the median decision among those the model ranks better than
  chance; the model is the witness, so four flippers of five are compared with the honest fifth).
  Per category, because the model ranks categories differently and a flipper in one would hide behind
  honesty in another. Labellers with fewer than `min_decisions` decisions in a category, and unnamed
  ones, are judged there together as one labeller (`POOLED`): forty ids of 29 flipped decisions are one
  labeller of 1,160, and if the pool is flagged every decision in it is held out. The z needed rises
  with the number of tests (two per (labeller, category) judged), so a team of hundreds does not flag
  an honest one by chance. Ranks, not a threshold, and relative, not absolute: a community the model
  reads badly or is miscalibrated on lowers every labeller's AUC alike.

What ranking cannot see (a simulation of five moderators sharing 3,000 decisions, the model at
ROC-AUC 0.83 on the honest ones): where the model reads nothing (AUC near 0.5 for everyone), a flipped
label cannot be told from an honest one; a moderator flipping a random 20% of their 600 decisions sits
at 0.69 (z 5.9), inside `max_gap` — at a gap of 0.1 it is flagged in 19 runs of 20, but real honest
moderators differ more than simulated ones; one flipping only where the model is unsure (scores
0.35–0.65) sits at 0.78 (z 2.9), within noise; a majority of rubber stamps is the median, so nothing
is flagged. The share rule and the promotion's held-out gates remain.

A hold names the labeller (`hold_key`): holding one out drops their decisions, never another labeller's
decision on the same message — the retraining learns the latest decision it kept. Each labeller is judged
on every message they decided, not only where theirs is the latest, since theirs is learnt when a later
one is held out. Held-out decisions stay held out (the caller keeps their keys): a label held out of one
retraining is not learnt by the next one because it is no longer new.

Times: a decision's `decided_at` is written by whoever writes the feedback (the review app sets it when
it receives the decision, the bot when it decides). A decision dated more than `clock_skew_s` after the
audit's `now` (the caller's clock) is not learnt — it would be the latest on its message for good — but
held out, counted and alerted on. A label is new when it is dated after `since` or its message's verdict
was processed after it (`processed_at`, the consumer's clock): backdating a decision on a message judged
since the last retraining does not take it out of the share rule.
"""

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from contracts.storage import ModeratorDecision
from contracts.verdict import Verdict

POOLED = "(labellers under {} decisions)"  # the name the pool of small labellers is judged under


class LabelGuardPolicy(BaseModel):
    """How much of a retraining's new labels one labeller may supply, and how far one may disagree."""

    model_config = ConfigDict(frozen=True)

    max_share: float = Field(default=0.4, gt=0.0, le=1.0)
    min_new_labels: int = Field(default=100, ge=1)  # below this many new labels, shares are not judged
    max_gap: float = Field(default=0.2, gt=0.0, le=1.0)  # model ROC-AUC on theirs, below the others'
    # Rubber-stamping: flagged when the model mis-ranks at most this share as many of a labeller's pairs
    # (1 - AUC) as of the others' — a labeller who labels as the model scored is at ROC-AUC 1.
    rubber_stamp: float = Field(default=0.5, gt=0.0, lt=1.0)
    # The z at which one labeller is flagged, either way; with more labellers and categories judged the bar
    # rises (Bonferroni), so that the chance of flagging any honest one stays what it is for one test.
    min_z: float = Field(default=3.0, ge=0.0)
    # A labeller with fewer decisions in a category (or unnamed) is judged in the pool of such labellers.
    min_decisions: int = Field(default=30, ge=1)
    # A decision dated more than this after the audit's time is not learnt (held out, counted): clock skew
    # between the writers of decisions and the monitor is allowed, a date in the future is not.
    clock_skew_s: float = Field(default=300.0, ge=0.0)
    accepted: tuple[str, ...] = ()  # labellers an operator accepted above the share (recorded)


class LabellerAudit(BaseModel):
    """One labeller in one audit."""

    model_config = ConfigDict(frozen=True)

    labeller: str
    decisions: int  # their latest decision on each message and category they decided
    new: int  # made since the last retraining
    share: float  # of the new labels
    flags: list[str]  # "disagreement", "rubber-stamp" (in any category), "share", "future"
    future: int  # of their decisions, dated after the audit's time (held out)
    held_out: int


class Judgement(BaseModel):
    """One labeller judged in one category: how the serving model ranks their decisions and the others'."""

    model_config = ConfigDict(frozen=True)

    labeller: str  # or the pool (POOLED): labellers under the minimum of decisions here, and unnamed ones
    category: str
    labellers: int  # how many labellers the row judges together (1, or the pool's)
    decisions: int  # theirs in the category that the serving model scored (the ones judged)
    model_auc: float | None  # the serving model's ROC-AUC on their decisions (None: one class only)
    # On the others' in the category: the labellers within noise of the median one (`_reference`).
    others_model_auc: float | None
    z: float | None  # positive: the model ranks theirs worse than the others'
    flag: str | None  # "disagreement" (below the others), "rubber-stamp" (far above them)
    held_out: int  # of their decisions in the category


class LabelAudit(BaseModel):
    """What the guard found and decided for one retraining."""

    model_config = ConfigDict(frozen=True)

    since: datetime | None
    now: datetime  # the audit's time: decisions dated after it (beyond the clock skew) are held out
    decisions: int
    new: int
    future: int  # decisions dated after the audit's time, held out
    labellers: list[LabellerAudit]
    z_bar: float  # the z a labeller had to reach: `min_z` raised for the number of tests
    judgements: list[Judgement]  # each labeller in each category they decided
    alerts: list[str]  # one line per rule that fired, with the decision taken
    # Holds (`<message id>/<category>/<labeller>`, `hold_key`) kept out of training: another labeller's
    # decision on the same message stays (the latest kept decision is learnt).
    held_out: list[str]


def decision_key(d: ModeratorDecision) -> str:
    """What a decision decides: the message and the category decided on (one label is learnt for each)."""
    return f"{d.message_id}/{d.category}"


def hold_key(d: ModeratorDecision) -> str:
    """What a hold names: one labeller's decision on a message and category (`<message id>/<category>/
    <labeller>`), so that holding a labeller out leaves another labeller's decision on it to be learnt."""
    return f"{decision_key(d)}/{d.decided_by}"


def _is_held(d: ModeratorDecision, held: set[str]) -> bool:
    # A bare `<message id>/<category>` holds every labeller's decision on it: holds recorded before
    # they named the labeller stay held.
    return hold_key(d) in held or decision_key(d) in held


def _latest(
    decisions: Iterable[ModeratorDecision], key: Callable[[ModeratorDecision], str]
) -> dict[str, ModeratorDecision]:
    """The latest decision of each key (of two at the same time, the later one read), as the retraining
    resolves them (`training.corpora.join_feedback`)."""
    latest: dict[str, ModeratorDecision] = {}
    for d in decisions:
        k = key(d)
        if k not in latest or d.decided_at >= latest[k].decided_at:
            latest[k] = d
    return latest


def _dated(
    decisions: Iterable[ModeratorDecision], now: datetime, policy: LabelGuardPolicy
) -> tuple[list[ModeratorDecision], list[ModeratorDecision]]:
    """The decisions dated up to the audit's time (and the clock skew), and those dated after it: a
    decision dated in the future would be the latest on its message for good, so it is not learnt."""
    latest = now + timedelta(seconds=policy.clock_skew_s)
    decisions = list(decisions)
    return [d for d in decisions if d.decided_at <= latest], [d for d in decisions if d.decided_at > latest]


def _received(d: ModeratorDecision, verdicts: Mapping[UUID, Verdict]) -> datetime:
    """When a decision was made, as far as the labeller cannot move it back: not before the consumer
    judged the message (its verdict's `processed_at`), whatever date the decision carries."""
    verdict = verdicts.get(d.message_id)
    return d.decided_at if verdict is None else max(d.decided_at, verdict.processed_at)


def _rank(message_id: UUID) -> int:
    return int.from_bytes(hashlib.blake2b(message_id.bytes, digest_size=8).digest(), "big")


def _score(verdict: Verdict, category: str) -> float | None:
    """The serving model's score of the message for the decided category (None: it did not score it)."""
    scored = verdict.categories.get(category)
    return scored.score if scored is not None else verdict.score


class _Ranked:
    """Serving-model scores of decided messages, split by the decision and sorted: what ROC-AUC needs.

    AUC = U / (removed × allowed), with U the Mann–Whitney count of (removed, allowed) pairs the scores
    rank the right way (ties count half). The others' U is everyone's minus the pairs that hold one
    of the labeller's own decisions, so each labeller costs a search of its own scores in everyone's —
    the audit stays O(n log n) however many labellers there are.
    """

    def __init__(self, pairs: list[tuple[float, bool]]) -> None:
        self.removed = np.sort(np.array([s for s, removed in pairs if removed], dtype=np.float64))
        self.allowed = np.sort(np.array([s for s, removed in pairs if not removed], dtype=np.float64))

    def above(self, allowed: NDArray[np.float64]) -> float:
        """Pairs of one of these removed scores with one of `allowed` ranked the right way."""
        left = np.searchsorted(self.removed, allowed, "left")
        right = np.searchsorted(self.removed, allowed, "right")
        return float((len(self.removed) - right).sum() + 0.5 * (right - left).sum())

    def below(self, removed: NDArray[np.float64]) -> float:
        """Pairs of one of `removed` with one of these allowed scores ranked the right way."""
        left = np.searchsorted(self.allowed, removed, "left")
        right = np.searchsorted(self.allowed, removed, "right")
        return float(left.sum() + 0.5 * (right - left).sum())


def _auc(u: float, removed: int, allowed: int) -> tuple[float, float] | None:
    """ROC-AUC from the Mann–Whitney count and its Hanley–McNeil variance (None without both classes)."""
    if not removed or not allowed:
        return None
    a = u / (removed * allowed)
    return a, _variance(a, removed, allowed)


def _variance(auc: float, removed: int, allowed: int) -> float:
    """The Hanley–McNeil variance of a ROC-AUC of `auc` on `removed` × `allowed` pairs."""
    pairs = removed * allowed
    # The variance is read at an AUC half a pair away from 0 and 1: at exactly 0 or 1 the formula gives
    # none, and a labeller the model ranks perfectly wrong beside others it ranks perfectly would look
    # like doubt (z 0) instead of the certainty it is; the half pair keeps few decisions uncertain.
    v = min(max(auc, 0.5 / pairs), 1 - 0.5 / pairs)
    q1, q2 = v / (2 - v), 2 * v * v / (1 + v)
    return max((v * (1 - v) + (removed - 1) * (q1 - v * v) + (allowed - 1) * (q2 - v * v)) / pairs, 0.0)


def audit_labels(
    decisions: Iterable[ModeratorDecision],
    verdicts: Mapping[UUID, Verdict],
    since: datetime | None,
    policy: LabelGuardPolicy,
    held_before: Iterable[str] = (),
    *,
    now: datetime,
) -> LabelAudit:
    """Audit the decisions a retraining would learn from; `since` marks the previous retraining, `now`
    is the audit's time (the caller's clock, never a labeller's)."""
    decisions, future = _dated(decisions, now, policy)
    # Each labeller is judged on every message and category they decided (their latest decision on it),
    # not only where theirs is the latest of all: if a later decision is held out, theirs is learnt.
    kept = list(_latest(decisions, hold_key).values())
    learnt = _latest(decisions, decision_key)  # the label each message and category would be learnt from
    new = [d for d in learnt.values() if since is None or _received(d, verdicts) > since]
    new_by = Counter(d.decided_by for d in new)
    held = set(held_before) | {hold_key(d) for d in future}
    future_by = Counter(d.decided_by for d in future)
    alerts: list[str] = []
    if future:
        alerts.append(
            f"{len(future)} decisions of {len(future_by)} labellers dated after the audit's time "
            f"(more than {policy.clock_skew_s:g} s ahead): held out"
        )
    judged, bar = _judge(kept, verdicts, policy)
    flagged_by: dict[str, list[str]] = {}
    for cell, _, flag in judged:
        if flag is not None:
            held |= {hold_key(d) for d in cell.decisions}
            for labeller in cell.labellers():
                flagged_by.setdefault(labeller, []).append(flag)
    alerts += [
        _judgement_line(cell, c, flag) for cell, c, flag in judged if c is not None and flag is not None
    ]
    by_labeller: dict[str, list[ModeratorDecision]] = {}
    for d in kept:
        by_labeller.setdefault(d.decided_by, []).append(d)
    labellers: list[LabellerAudit] = []
    for labeller in sorted(by_labeller.keys() | future_by.keys()):
        mine = by_labeller.get(labeller, [])
        flags = list(dict.fromkeys(flagged_by.get(labeller, [])))
        share = new_by[labeller] / len(new) if new else 0.0
        if len(new) >= policy.min_new_labels and share > policy.max_share:
            flags.append("share")
            line, excess = _over_share(labeller, new, policy)
            alerts.append(line)
            held |= excess
        if future_by[labeller]:
            flags.append("future")
        labellers.append(
            LabellerAudit(
                labeller=labeller,
                decisions=len(mine),
                new=new_by[labeller],
                share=round(share, 4),
                flags=flags,
                future=future_by[labeller],
                held_out=sum(_is_held(d, held) for d in mine) + future_by[labeller],
            )
        )
    present = {hold_key(d) for d in kept + future} | {decision_key(d) for d in kept + future}
    return LabelAudit(
        since=since,
        now=now,
        decisions=len(learnt),
        new=len(new),
        future=len(future),
        labellers=labellers,
        z_bar=round(bar, 2),
        judgements=[_judgement(cell, compared, flag, held) for cell, compared, flag in judged],
        alerts=alerts,
        held_out=sorted(held & present),
    )


@dataclass
class _Cell:
    """One labeller's decisions in one category, and the serving model's scores of those it scored."""

    labeller: str
    category: str
    decisions: list[ModeratorDecision] = field(default_factory=list)
    pairs: list[tuple[float, bool]] = field(default_factory=list)  # (score, removed)
    pooled: bool = False  # the labellers under the minimum of decisions in the category, together

    def labellers(self) -> set[str]:
        return {d.decided_by for d in self.decisions}


@dataclass
class _Compared:
    """A cell's AUC and the others' in its category, and the z of their difference."""

    mine: float
    others: float
    z: float  # positive: the model ranks the cell's decisions worse than the others'


def _judge(
    kept: list[ModeratorDecision], verdicts: Mapping[UUID, Verdict], policy: LabelGuardPolicy
) -> tuple[list[tuple[_Cell, _Compared | None, str | None]], float]:
    """Every labeller judged in each category they decided, against the other labellers in it, with the
    flag it earns; and the z bar, raised for the number of tests (two per (labeller, category) judged)."""
    cells: dict[tuple[str, str], _Cell] = {}
    for d in kept:
        cell = cells.setdefault((d.category, d.decided_by), _Cell(d.decided_by, d.category))
        cell.decisions.append(d)
        verdict = verdicts.get(d.message_id)
        score = None if verdict is None else _score(verdict, d.category)
        if score is not None:
            cell.pairs.append((score, d.label == "remove"))
    # Labellers with too few decisions in a category to be judged alone, and unnamed ones, are judged
    # together: forty ids of 29 flipped decisions each are one labeller of 1,160.
    by_category: dict[str, list[_Cell]] = {}
    pools: dict[str, _Cell] = {}
    for (category, labeller), cell in sorted(cells.items()):
        if len(cell.pairs) >= policy.min_decisions and labeller.strip():
            by_category.setdefault(category, []).append(cell)
            continue
        pool = pools.setdefault(category, _Cell(POOLED.format(policy.min_decisions), category, pooled=True))
        pool.decisions += cell.decisions
        pool.pairs += cell.pairs
    for category, pool in pools.items():
        by_category.setdefault(category, []).append(pool)
    # Each judged cell is tested both ways (below the others, above them).
    tests = 2 * sum(len(c.pairs) >= policy.min_decisions for cs in by_category.values() for c in cs)
    bar = NormalDist().inv_cdf(1 - (1 - NormalDist().cdf(policy.min_z)) / max(tests, 1))
    out: list[tuple[_Cell, _Compared | None, str | None]] = []
    for _, in_category in sorted(by_category.items()):
        out += _judge_category(in_category, policy, bar)
    return out, bar


def _judge_category(
    cells: list[_Cell], policy: LabelGuardPolicy, bar: float
) -> list[tuple[_Cell, _Compared | None, str | None]]:
    """The cells of one category, each compared with the others and the flag it earns."""
    reference = _reference(cells, policy, bar)
    return [
        (cell, c, _flag(cell, c, policy, bar))
        for cell, c in zip(cells, _compare(cells, reference), strict=True)
    ]


def _reference(cells: list[_Cell], policy: LabelGuardPolicy, bar: float) -> list[_Cell]:
    """The cells a labeller is compared with — "the others": those judged whose AUC is within the z bar
    of the median labeller's (the one that holds the median decision, of those the model ranks better
    than chance).

    Not every other cell: a flipper among them, even one within the gap, lowers their AUC and the honest
    would look like rubber stamps beside it; rubber stamps raise it and the honest would look like
    flippers. The median holds while the labellers within noise of each other hold most of the
    decisions; those below chance are left out of it, since the model is the witness: three flippers of
    five are still compared with the two honest.
    """
    judged: list[tuple[_Cell, float, float, int, int]] = []  # a cell, its AUC, variance, classes' sizes
    for cell in cells:
        own = _Ranked(cell.pairs)
        auc = _auc(own.above(own.allowed), len(own.removed), len(own.allowed))
        if auc is not None and len(cell.pairs) >= policy.min_decisions:
            judged.append((cell, *auc, len(own.removed), len(own.allowed)))
    above = sorted((a, var, len(cell.pairs)) for cell, a, var, _, _ in judged if a > 0.5)
    if not above:
        return cells
    weights = np.cumsum([n for _, _, n in above])
    m, var_m, _ = above[int(np.searchsorted(weights, weights[-1] / 2))]
    return [
        cell
        for cell, a, var_a, removed, allowed in judged
        if abs(a - m) < bar * math.sqrt(max(var_a, _variance(m, removed, allowed)) + var_m)
    ]


def _flag(cell: _Cell, c: _Compared | None, policy: LabelGuardPolicy, bar: float) -> str | None:
    """What a cell is flagged for against the others, if anything: far below them (disagreement) or far
    above them (rubber-stamp: the model mis-ranks at most `rubber_stamp` as many of its pairs, 1 - AUC,
    as of theirs)."""
    if c is None or len(cell.pairs) < policy.min_decisions:
        return None
    if c.others - c.mine >= policy.max_gap and c.z >= bar:
        return "disagreement"
    if 1 - c.mine <= policy.rubber_stamp * (1 - c.others) and -c.z >= bar:
        return "rubber-stamp"
    return None


def _compare(cells: list[_Cell], reference: list[_Cell]) -> list[_Compared | None]:
    """Each cell's AUC against the AUC of the reference cells' decisions pooled (less the cell's own, if
    it is one of them), in one category; None where either lacks a class."""
    everyone = _Ranked([p for c in reference for p in c.pairs])
    u_all = everyone.above(everyone.allowed)
    members = {id(c) for c in reference}
    out: list[_Compared | None] = []
    for cell in cells:
        own = _Ranked(cell.pairs)
        u_own = own.above(own.allowed)
        if id(cell) in members:
            # The others' pairs: everyone's, less those with one of this cell's decisions on either side.
            u_others = u_all - everyone.above(own.allowed) - everyone.below(own.removed) + u_own
            removed, allowed = (
                len(everyone.removed) - len(own.removed),
                len(everyone.allowed) - len(own.allowed),
            )
        else:
            u_others, removed, allowed = u_all, len(everyone.removed), len(everyone.allowed)
        mine = _auc(u_own, len(own.removed), len(own.allowed))
        others = _auc(u_others, removed, allowed)
        if mine is None or others is None:
            out.append(None)
            continue
        (a, var_a), (b, var_b) = mine, others
        # The cell's variance is also read at the others' AUC (what it would be if the cell were like
        # them), the larger taken: an AUC of exactly 1 or 0 on a few decisions is not certainty.
        var_a = max(var_a, _variance(b, len(own.removed), len(own.allowed)))
        out.append(_Compared(a, b, (b - a) / math.sqrt(var_a + var_b) if var_a + var_b > 0 else 0.0))
    return out


def _judgement_line(cell: _Cell, c: _Compared, flag: str) -> str:
    """The alert line for a flagged cell."""
    who = f"{cell.labeller} ({len(cell.labellers())} labellers)" if cell.pooled else cell.labeller
    return (
        f"{who}: the model ranks their {len(cell.pairs)} decisions at ROC-AUC {c.mine:.2f}, the "
        f"others' at {c.others:.2f} on {cell.category} (z {c.z:.1f}, {flag}): all {len(cell.decisions)} of "
        f"their {cell.category} labels held out"
    )


def _judgement(cell: _Cell, c: _Compared | None, flag: str | None, held: set[str]) -> Judgement:
    return Judgement(
        labeller=cell.labeller,
        category=cell.category,
        labellers=len(cell.labellers()),
        decisions=len(cell.pairs),
        model_auc=None if c is None else round(c.mine, 4),
        others_model_auc=None if c is None else round(c.others, 4),
        z=None if c is None else round(c.z, 2),
        flag=flag,
        held_out=sum(_is_held(d, held) for d in cell.decisions),
    )


def _over_share(
    labeller: str, new: list[ModeratorDecision], policy: LabelGuardPolicy
) -> tuple[str, set[str]]:
    """The alert line for a labeller over the share, and the new labels of theirs to hold out."""
    theirs = sorted((d for d in new if d.decided_by == labeller), key=lambda d: _rank(d.message_id))
    share = len(theirs) / len(new)
    head = f"{labeller} supplied {share:.0%} of {len(new)} new labels (> {policy.max_share:.0%})"
    if labeller in policy.accepted:
        return f"{head}: accepted by the policy, all kept", set()
    # Keep as many as would make their share the maximum beside the others' labels (the rule fires only
    # above the maximum, so it is below 1 here).
    allowed = math.floor(policy.max_share * (len(new) - len(theirs)) / (1 - policy.max_share))
    excess = {hold_key(d) for d in theirs[allowed:]}
    return f"{head}: {len(excess)} held out", excess


def kept_decisions(decisions: Iterable[ModeratorDecision], audit: LabelAudit) -> list[ModeratorDecision]:
    """The decisions a retraining may learn from: every one the audit did not hold out."""
    held = set(audit.held_out)
    return [d for d in decisions if not _is_held(d, held)]
