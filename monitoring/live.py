"""Live quality from moderators' labels, without the queue's bias.

People label what the system shows them: the verdicts it queued (review, and removals in a channel that
confirms them) and the uniform audit sample (`sampling.audit`: every message drawn by a hash of its id,
whatever its verdict). Labels of queued messages alone over-represent the messages the model was unsure
of, so plain ROC-AUC or precision over every label is biased: a challenger cannot be judged on them.

The estimator here is Horvitz–Thompson: each labelled message counts 1/π, π the probability that it was
labelled at all, known by design — 1 for a queued verdict (every one reaches a person), the audit share
for any other. Labels outside the design (a hidden removal someone opened, an appeal) have no known π
and are left out. Weighted that way, every sum over the labelled messages estimates the same sum over
all messages without bias, and so do the ROC-AUC (over weighted pairs) and the precisions of automatic
removal and automatic allow built from those sums. With no queued verdicts it is the audit sample
alone, unweighted. `tests/unit/test_live_quality.py` holds it against a simulated population whose
truth is known, beside the naive estimate (every label counted once), which misses by far more.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from contracts.policy import PolicyBook, drawn
from contracts.storage import ArchivedMessage, ModeratorDecision
from contracts.verdict import Action
from stream_consumer.identity import names_identity


@dataclass(frozen=True, slots=True)
class Labelled:
    """One message a moderator labelled for a category: the model's probability for it, the action the
    verdict took, the label, and the probability that the message was labelled at all."""

    score: float
    action: Action
    label: int
    inclusion: float


def inclusion(queued: bool, audited: bool, audit_share: float) -> float | None:
    """A labelled message's inclusion probability under the design: 1 when its verdict queued it, the
    audit share when only the audit draw did, None when neither (a label outside the design)."""
    if queued:
        return 1.0
    if audited and audit_share > 0:
        return audit_share
    return None


@dataclass(frozen=True)
class LiveQuality:
    """Estimates for one category over its labelled messages (None where a class or an action has no
    labelled message), and the messages they rest on."""

    n: int
    positives: int
    roc_auc: float | None
    remove_precision: float | None  # of the messages the verdict removed, the share that were harmful
    allow_precision: float | None  # of the messages the verdict allowed, the share that were not


def weighted_auc(
    scores: NDArray[np.float64], labels: NDArray[np.int_], weights: NDArray[np.float64]
) -> float | None:
    """ROC-AUC over weighted pairs: the weighted share of (harmful, harmless) pairs the score orders
    right, ties counting half; None without both classes."""
    pos, neg = labels == 1, labels == 0
    if not pos.any() or not neg.any():
        return None
    order = np.argsort(scores, kind="stable")
    s, w, y = scores[order], weights[order], labels[order]
    # per distinct score: the negative weight strictly below it, and the negative weight at it
    uniq, start = np.unique(s, return_index=True)
    neg_w = np.where(y == 0, w, 0.0)
    neg_at = np.add.reduceat(neg_w, start)
    below = np.concatenate([[0.0], np.cumsum(neg_at)[:-1]])
    group = np.searchsorted(uniq, s)
    won = np.where(y == 1, w * (below[group] + 0.5 * neg_at[group]), 0.0).sum()
    return float(won / (weights[pos].sum() * weights[neg].sum()))


def estimate(items: Sequence[Labelled], weighted: bool = True) -> LiveQuality:
    """The live quality of one category's scores: Horvitz–Thompson weighted (`weighted`), or naive
    (every label once: what the queue's bias does to a plain estimate)."""
    if not items:
        return LiveQuality(0, 0, None, None, None)
    scores = np.array([i.score for i in items], dtype=np.float64)
    labels = np.array([i.label for i in items], dtype=np.int_)
    w = (
        np.array([1.0 / i.inclusion for i in items], dtype=np.float64)
        if weighted
        else np.ones(len(items), dtype=np.float64)
    )
    removed = np.array([i.action is Action.REMOVE for i in items])
    allowed = np.array([i.action is Action.ALLOW for i in items])

    def share(mask: NDArray[np.bool_], of: NDArray[np.bool_]) -> float | None:
        total = w[of].sum()
        return float(w[of & mask].sum() / total) if total > 0 else None

    return LiveQuality(
        n=len(items),
        positives=int(labels.sum()),
        roc_auc=weighted_auc(scores, labels, w),
        remove_precision=share(labels == 1, removed),
        allow_precision=share(labels == 0, allowed),
    )


# --- the challenger against the champion, on the same live messages -------------------------------


@dataclass(frozen=True)
class Paired:
    """One category's live comparison: both models' estimates on the same labelled, shadow-scored
    messages, the paired bootstrap interval of the ROC-AUC difference (challenger − champion), and how
    often the two took another action on every shadow-scored message (labelled or not)."""

    category: str
    champion: LiveQuality
    challenger: LiveQuality
    difference: float | None
    interval: tuple[float, float] | None
    shadow_scored: int
    disagreed: int
    # the share of the shadow-scored messages each model sends to a person (a uniform draw of the
    # traffic: no weights needed): the moderators' load either way
    review_shares: tuple[float, float] | None = None


def paired(
    category: str,
    champion: Sequence[Labelled],
    challenger: Sequence[Labelled],
    shadow_scored: int,
    disagreed: int,
    resamples: int = 200,
    seed: int = 0,
    review_shares: tuple[float, float] | None = None,
) -> Paired:
    """Both models on the same labelled messages (`champion[i]` and `challenger[i]` are one message):
    Horvitz–Thompson estimates and a paired bootstrap of their ROC-AUC difference (messages resampled
    with their weights, both models together)."""
    if len(champion) != len(challenger):
        raise ValueError("the two models' labels must be of the same messages, in the same order")
    mine, theirs = estimate(champion), estimate(challenger)
    difference = (
        theirs.roc_auc - mine.roc_auc if mine.roc_auc is not None and theirs.roc_auc is not None else None
    )
    interval = None
    if difference is not None:
        y = np.array([i.label for i in champion], dtype=np.int_)
        w = np.array([1.0 / i.inclusion for i in champion], dtype=np.float64)
        a = np.array([i.score for i in champion], dtype=np.float64)
        b = np.array([i.score for i in challenger], dtype=np.float64)
        rng = np.random.default_rng(seed)
        diffs = []
        for _ in range(resamples):
            k = rng.integers(0, len(y), len(y))
            one, two = weighted_auc(a[k], y[k], w[k]), weighted_auc(b[k], y[k], w[k])
            if one is not None and two is not None:
                diffs.append(two - one)
        if diffs:
            interval = (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))
    return Paired(category, mine, theirs, difference, interval, shadow_scored, disagreed, review_shares)


@dataclass(frozen=True)
class LiveDecision:
    """Whether the live evidence promotes the challenger, and why (one line per acting category)."""

    promote: bool
    reasons: list[str]


IDENTITY_MARGIN = 0.02  # the most more of the harmless messages naming a group a new model may flag
MIN_IDENTITY = 30  # labelled harmless messages naming a group before the check can refuse


def live_decision(
    comparisons: Sequence[Paired],
    margin: float,
    min_labels: int,
    identity: "IdentityCheck | None" = None,
    identity_margin: float = IDENTITY_MARGIN,
) -> LiveDecision:
    """Promote only when, on every acting category, both models were judged on at least `min_labels`
    labelled messages, the challenger's ROC-AUC is higher by at least `margin`, the paired interval
    of the difference excludes no gain (its lower end above 0), and (`identity`) it flags no more of the
    harmless messages naming an identity group than the champion, by over `identity_margin`."""
    reasons, promote = [], bool(comparisons)
    for c in comparisons:
        if c.champion.n < min_labels or c.difference is None or c.interval is None:
            reasons.append(
                f"{c.category}: {c.champion.n} labelled messages (needs {min_labels} of both classes)"
            )
            promote = False
        elif c.difference < margin or c.interval[0] <= 0:
            reasons.append(
                f"{c.category}: {c.difference:+.3f} (95% {c.interval[0]:+.3f}..{c.interval[1]:+.3f}) "
                f"is not a gain of {margin:.3f} that excludes none"
            )
            promote = False
        else:
            reasons.append(
                f"{c.category}: {c.difference:+.3f} (95% {c.interval[0]:+.3f}..{c.interval[1]:+.3f}) "
                f"on {c.champion.n} labelled messages"
            )
    if not comparisons:
        reasons.append("no category was compared")
    if identity is not None:
        refused, line = identity.judged(identity_margin, MIN_IDENTITY)
        reasons.append(line)
        promote = promote and not refused
    return LiveDecision(promote, reasons)


def _latest(
    shadowed: dict[UUID, ArchivedMessage], decisions: Sequence[ModeratorDecision]
) -> dict[tuple[UUID, str], ModeratorDecision]:
    """Each shadow-scored message's newest decision per category."""
    latest: dict[tuple[UUID, str], ModeratorDecision] = {}
    for d in decisions:
        key = (d.message_id, d.category)
        if d.message_id in shadowed and (key not in latest or d.decided_at >= latest[key].decided_at):
            latest[key] = d
    return latest


def _inclusion(m: ArchivedMessage, book: PolicyBook) -> float | None:
    """A labelled message's inclusion probability under its channel's policy (its served verdict is
    what a person saw)."""
    v = m.verdict
    _, policy = book.for_channel(v.channel_id)
    queued = v.action is Action.REVIEW or (v.action is Action.REMOVE and policy.review.confirm_removals)
    audit = policy.sampling.audit
    return inclusion(queued, drawn(m.message.message_id, audit, "audit"), audit)


def shadow_comparisons(
    archived: Sequence[ArchivedMessage],
    decisions: Sequence[ModeratorDecision],
    book: PolicyBook,
    categories: Sequence[str],
    resamples: int = 200,
    canary: bool = False,
) -> list[Paired]:
    """Per category, the champion and the challenger on the shadow-scored messages a moderator labelled
    within the design (each label its message's newest decision on that category, weighted by the
    inverse of the probability it was asked for under its channel's policy). `canary`: the served
    verdicts are the canary's and the shadow ones the champion's (the roles swap: the challenger is the
    one serving)."""
    shadowed = {m.message.message_id: m for m in archived if m.shadow is not None}
    latest = _latest(shadowed, decisions)
    disagreed = sum(
        m.shadow is not None and m.shadow.action is not m.verdict.action for m in shadowed.values()
    )
    served_review = sum(m.verdict.action is Action.REVIEW for m in shadowed.values())
    shadow_review = sum(m.shadow is not None and m.shadow.action is Action.REVIEW for m in shadowed.values())
    shares = (served_review / len(shadowed), shadow_review / len(shadowed)) if shadowed else None
    reviewed = (shares[1], shares[0]) if canary and shares else shares
    out = []
    for category in categories:
        served: list[Labelled] = []
        shadow: list[Labelled] = []
        for (message_id, decided_on), d in sorted(latest.items(), key=lambda kv: str(kv[0])):
            m = shadowed[message_id]
            if decided_on != category or m.shadow is None:
                continue
            pi = _inclusion(m, book)
            scored = m.verdict.categories.get(category)
            if pi is None or scored is None or category not in m.shadow.scores:
                continue
            y = int(d.label == "remove")
            served.append(Labelled(scored.score, m.verdict.action, y, pi))
            shadow.append(Labelled(m.shadow.scores[category], m.shadow.action, y, pi))
        champion, challenger = (shadow, served) if canary else (served, shadow)
        out.append(
            paired(
                category, champion, challenger, len(shadowed), disagreed, resamples, review_shares=reviewed
            )
        )
    return out


@dataclass(frozen=True)
class IdentityCheck:
    """The live bias metric: of the labelled harmless messages that name an identity group (no category
    labelled remove), the Horvitz–Thompson share each model flagged (sent to a person or removed) — a
    model that learnt a group's name as an insult flags far more of them, and each flag is a moderator's
    time or a user wronged. `n`: the messages it rests on."""

    n: int
    champion_flagged: float | None
    challenger_flagged: float | None

    def regressed(self, margin: float, min_messages: int) -> bool:
        """Whether the challenger flags more of them than the champion by over `margin`."""
        if self.n < min_messages or self.champion_flagged is None or self.challenger_flagged is None:
            return False
        return self.challenger_flagged - self.champion_flagged > margin

    def judged(self, margin: float, min_messages: int) -> tuple[bool, str]:
        """Whether it regressed (`regressed`), and the line that says what was weighed."""
        refused = self.regressed(margin, min_messages)
        return refused, self.describe() + (f": over {margin:.0%} more" if refused else "")

    def describe(self) -> str:
        if self.champion_flagged is None or self.challenger_flagged is None:
            return "identity: no labelled harmless message names a group"
        return (
            f"identity: {self.challenger_flagged:.1%} of {self.n} labelled harmless messages naming a group "
            f"flagged (champion {self.champion_flagged:.1%})"
        )


def identity_check(
    archived: Sequence[ArchivedMessage],
    decisions: Sequence[ModeratorDecision],
    book: PolicyBook,
    canary: bool = False,
) -> IdentityCheck:
    """Both models on the labelled harmless messages that name an identity group (`canary`: the served
    verdicts are the challenger's, as in `shadow_comparisons`)."""
    shadowed = {m.message.message_id: m for m in archived if m.shadow is not None}
    labels: dict[UUID, list[str]] = {}
    for (message_id, _), d in _latest(shadowed, decisions).items():
        labels.setdefault(message_id, []).append(d.label)
    n, total, served_flagged, shadow_flagged = 0, 0.0, 0.0, 0.0
    for message_id, given in labels.items():
        m = shadowed[message_id]
        pi = _inclusion(m, book)
        if pi is None or "remove" in given or m.shadow is None or not names_identity(m.message.text):
            continue
        n, w = n + 1, 1.0 / pi
        total += w
        served_flagged += w * (m.verdict.action is not Action.ALLOW)
        shadow_flagged += w * (m.shadow.action is not Action.ALLOW)
    if total == 0:
        return IdentityCheck(0, None, None)
    served, shadow = served_flagged / total, shadow_flagged / total
    return IdentityCheck(n, served, shadow) if not canary else IdentityCheck(n, shadow, served)
