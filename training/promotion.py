"""Champion vs challenger: promote only a model that is better where it must be and no worse elsewhere.

Pure: metrics in, a decision with its reasons out.
"""

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field


class PromotionPolicy(BaseModel):
    """How much better a challenger must be, and how much worse it may be on guarded domains."""

    model_config = ConfigDict(frozen=True)

    min_gain: float = Field(default=0.002, ge=0.0)  # ROC-AUC on the target evaluation
    max_loss: float = Field(default=0.01, ge=0.0)  # ROC-AUC on each guarded evaluation
    # A guarded evaluation with fewer texts of either class than this is reported, not guarded: on a
    # handful of labels (a few moderator decisions in a category) ROC-AUC swings by tenths.
    min_guard_class: int = Field(default=20, ge=0)


class PromotionDecision(BaseModel):
    """Whether to move the `champion` alias, and why, for the audit trail."""

    model_config = ConfigDict(frozen=True)

    promote: bool
    reasons: list[str]
    # The gates that refused the challenger whatever the comparison (behaviour, evasion, bias, a missing
    # evaluation), each failure named: empty when none did.
    refused_by: list[str] = []
    target: str
    challenger: dict[str, float]
    champion: dict[str, float] | None


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    target: str,
    guarded: Sequence[str] = (),
    behaviour_failures: Sequence[str] = (),
    evasion_failures: Sequence[str] = (),
    bias_failures: Sequence[str] = (),
    policy: PromotionPolicy = PromotionPolicy(),  # noqa: B008 - frozen, so sharing it is safe
    sizes: Mapping[str, tuple[int, int]] | None = None,
    differences: Mapping[str, tuple[float, float]] | None = None,
) -> PromotionDecision:
    """Decide on ROC-AUCs measured on the same evaluation sets for both models.

    `target` must improve by at least `min_gain`; every `guarded` set may lose at most `max_loss`;
    a challenger that fails a behaviour test, falls below an evasion floor or fails the bias gate is
    never promoted. The first model ever is promoted when it passes all three. `sizes` gives each
    evaluation's (texts, positives): one with fewer than `min_guard_class` of either class guards nothing.
    `differences` gives each evaluation's 95% interval of challenger − champion ROC-AUC (paired
    bootstrap): a loss beyond `max_loss` (or, on a small set, beyond its ROC-AUC's standard error) blocks
    only when the interval lies below zero — a challenger that is surely worse, not one that drew a few
    unlucky texts of a small test split or a few unlucky draws of its own training.
    """
    gates: list[str] = [f"behaviour test failed: {f}" for f in behaviour_failures]
    gates += [f"evasion floor: {f}" for f in evasion_failures]
    gates += [f"bias gate: {f}" for f in bias_failures]
    missing = [name for name in (target, *guarded) if name not in challenger]
    gates += [f"challenger has no {name!r} evaluation" for name in missing]
    if champion is None:
        first = "no champion yet: the first model passing its behaviour, evasion and bias gates is promoted"
        return PromotionDecision(
            promote=not gates,
            reasons=gates or [first],
            refused_by=gates,
            target=target,
            challenger=dict(challenger),
            champion=None,
        )
    reasons: list[str] = []
    blocking = list(gates)
    if target in challenger and target in champion:
        gain = challenger[target] - champion[target]
        line = f"{target}: {challenger[target]:.4f} vs champion {champion[target]:.4f} ({gain:+.4f})"
        if gain < policy.min_gain:
            blocking.append(f"{line}, needs at least +{policy.min_gain:.4f}")
        else:
            reasons.append(line)
    for name in guarded:
        if name in challenger and name in champion:
            line, blocks = _guard(name, challenger[name], champion[name], policy, sizes, differences)
            (blocking if blocks else reasons).append(line)
    promote = not blocking
    return PromotionDecision(
        promote=promote,
        reasons=reasons if promote else blocking,
        refused_by=gates,
        target=target,
        challenger=dict(challenger),
        champion=dict(champion),
    )


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """The standard error of a ROC-AUC measured on this many texts of each class (Hanley & McNeil, 1982):
    how far the same model's ROC-AUC on another test sample of this size would typically lie."""
    if positives < 1 or negatives < 1:
        return float("inf")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(max(variance, 0.0))


def _guard(
    name: str,
    mine: float,
    theirs: float,
    policy: PromotionPolicy,
    sizes: Mapping[str, tuple[int, int]] | None,
    differences: Mapping[str, tuple[float, float]] | None,
) -> tuple[str, bool]:
    """One guarded evaluation: the line for the audit trail, and whether it blocks the promotion.

    A loss blocks when it exceeds the margin — `max_loss`, or on a small set its ROC-AUC's standard
    error, whichever is larger — and the paired interval says the challenger is surely worse on these
    texts. The paired interval sees only which texts were drawn, not that two trainings differ: a
    retraining that added labels of other categories moved hate on ethos's 150 test texts by −0.0159 and
    −0.0195 (quick demos), as much as that set's own standard error (0.039), while the head learnt from
    the very same hate texts."""
    loss = theirs - mine
    line = f"{name}: {mine:.4f} vs champion {theirs:.4f} ({-loss:+.4f})"
    n, positives = (sizes or {}).get(name, (None, None))
    margin = policy.max_loss
    if n is not None and positives is not None:
        if min(positives, n - positives) < policy.min_guard_class:
            return f"{line}, not guarded: {min(positives, n - positives)} texts of one class", False
        margin = max(margin, auc_standard_error(theirs, positives, n - positives))
    if loss <= margin:
        return (
            line if loss <= policy.max_loss else f"{line}, within the set's standard error {margin:.4f}",
            False,
        )
    interval = (differences or {}).get(name)
    if interval is not None and interval[1] >= 0:
        return f"{line}, within noise: paired 95% interval {interval[0]:+.4f}…{interval[1]:+.4f}", False
    return f"{line}, may lose at most {margin:.4f}", True
