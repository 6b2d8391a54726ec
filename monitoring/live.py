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

import numpy as np
from numpy.typing import NDArray

from contracts.verdict import Action


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
