"""Unintended-bias metrics by identity subgroup (Borkan et al., 2019; the Jigsaw Unintended Bias score).

Pure: scores, labels and each example's subgroups in, a `BiasReport` out. Per subgroup g:
- Subgroup AUC: the examples that mention g only (does the model rank within g?);
- BPSN AUC (background positive, subgroup negative): benign messages mentioning g against toxic ones
  that do not; low when the model scores g's mere mention as toxic;
- BNSP AUC (background negative, subgroup positive): toxic messages mentioning g against benign ones
  that do not; low when toxic messages about g score too low.
Each family is summarised by the power mean with p = -5, which leans towards the worst subgroup, and
the final score weighs the overall AUC and the three means by a quarter each. Percentile bootstrap
intervals resample examples; every resample is scored at once on a weights matrix (an example drawn
k times weighs k), so 200 resamples of ~2,000 examples take well under a second.
"""

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict

from contracts.categories import Category
from training.corpora import Example
from training.identity import templated_set

POWER = -5.0
WEIGHTS = (0.25, 0.25, 0.25, 0.25)  # overall AUC, power means of subgroup, BPSN and BNSP AUCs
HATEXPLAIN_MIN_POSTS = 30
NOT_A_COMMUNITY = frozenset({"Other", "None"})  # HateXplain's catch-all targets name no identity

Score = Callable[[list[str]], NDArray[np.float64]]  # texts in, calibrated probabilities of one category out


class Estimate(BaseModel):
    """A point estimate with its bootstrap interval (None when no resample could measure it)."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float | None
    hi: float | None


class SubgroupBias(BaseModel):
    """One subgroup's three AUCs."""

    model_config = ConfigDict(frozen=True)

    name: str
    n: int
    positives: int
    subgroup_auc: Estimate
    bpsn_auc: Estimate
    bnsp_auc: Estimate


class SkippedSubgroup(BaseModel):
    """A subgroup left out of the means, and why."""

    model_config = ConfigDict(frozen=True)

    name: str
    n: int
    positives: int
    reason: str


class BiasReport(BaseModel):
    """The bias metrics of one scorer on one labelled set with identity subgroups."""

    model_config = ConfigDict(frozen=True)

    name: str
    n: int
    positives: int
    power: float
    level: float
    n_boot: int
    seed: int
    overall_auc: Estimate
    subgroup_auc: Estimate  # the power mean over subgroups
    bpsn_auc: Estimate
    bnsp_auc: Estimate
    final: Estimate
    subgroups: list[SubgroupBias]
    skipped: list[SkippedSubgroup]

    def metrics(self) -> dict[str, float]:
        """Flat numbers for a tracking server: `bias.<set>.final`, `bias.<set>.final.lo`, …"""
        base = f"bias.{self.name}"
        out = {f"{base}.n": float(self.n), f"{base}.positives": float(self.positives)}
        out |= {f"{base}.subgroups": float(len(self.subgroups)), f"{base}.skipped": float(len(self.skipped))}
        for key in ("overall_auc", "subgroup_auc", "bpsn_auc", "bnsp_auc", "final"):
            out |= _flat(f"{base}.{key}", getattr(self, key))
        for row in self.subgroups:
            name = f"{base}.subgroup.{_slug(row.name)}"
            out[f"{name}.n"] = float(row.n)
            for key in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
                out |= _flat(f"{name}.{key}", getattr(row, key))
        return out


def _flat(name: str, e: Estimate) -> dict[str, float]:
    out = {name: e.value}
    if e.lo is not None and e.hi is not None:
        out |= {f"{name}.lo": e.lo, f"{name}.hi": e.hi}
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


def power_mean(values: Sequence[float] | NDArray[np.float64], p: float = POWER) -> float:
    """The generalised mean (mean of v**p)**(1/p); a zero AUC makes a negative-p mean zero."""
    return float(_power_means(np.asarray(values, dtype=np.float64)[None, :], p)[0])


def final_score(overall: float, subgroup: float, bpsn: float, bnsp: float) -> float:
    """The Jigsaw score: a quarter each of the overall AUC and the three power means."""
    return float(np.dot(WEIGHTS, (overall, subgroup, bpsn, bnsp)))


def _power_means(values: NDArray[np.float64], p: float) -> NDArray[np.float64]:
    """Row-wise power means, ignoring NaN (a subgroup a resample could not measure)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.power(np.nanmean(np.power(values, p), axis=1), 1.0 / p), dtype=np.float64)


def _ties(sorted_scores: NDArray[np.float64]) -> NDArray[np.intp]:
    """Where each run of equal scores starts in the sorted order."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def _auc(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise weighted AUC from positive and negative weights per run of tied scores, lowest first."""
    # the chance a positive outscores a negative, a tie counting a half: what roc_auc_score gives
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


@dataclass(frozen=True)
class _Resamples:
    """Row 0 weighs every example once (the point estimate); each other row counts how often one
    resample drew each example. Columns are in score order, so AUCs need no sorting per resample."""

    weights: NDArray[np.float64]
    order: NDArray[np.intp]
    runs: NDArray[np.intp]  # where each run of tied scores starts

    @classmethod
    def draw(cls, scores: NDArray[np.float64], n_boot: int, seed: int) -> "_Resamples":
        n = len(scores)
        draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n)) + np.arange(n_boot)[:, None] * n
        counts = np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n)
        order = np.argsort(scores, kind="stable")
        weights = np.vstack([np.ones((1, n)), counts]).astype(np.float64)[:, order]
        return cls(weights, order, _ties(scores[order]))

    def per_run(self, mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Each resample's weight of the masked examples in each run of tied scores."""
        return np.add.reduceat(self.weights * mask[self.order], self.runs, axis=1)


def _estimate(values: NDArray[np.float64], level: float) -> Estimate:
    boot = values[1:]
    boot = boot[~np.isnan(boot)]
    if not len(boot):
        return Estimate(value=float(values[0]), lo=None, hi=None)
    lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
    return Estimate(value=float(values[0]), lo=float(lo), hi=float(hi))


def _skip_reason(n: int, pos: int, bg_n: int, bg_pos: int, min_size: int) -> str | None:
    if n < min_size:
        return f"{n} examples (fewer than {min_size})"
    if pos in {0, n}:
        return f"one class only ({pos} positive of {n})"
    if bg_pos in {0, bg_n}:
        return f"background has one class only ({bg_pos} positive of {bg_n})"
    return None


def bias_report(
    name: str,
    scores: ArrayLike,
    labels: ArrayLike,
    subgroups: Sequence[Collection[str]],
    names: Sequence[str] | None = None,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    min_size: int = 1,
    power: float = POWER,
) -> BiasReport:
    """Overall, per-subgroup, BPSN and BNSP AUCs, their power means and the final score, with intervals."""
    # subgroups[i]: the subgroups example i mentions (any number); names: which are reported, in order
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if not (s.ndim == y.ndim == 1 and len(s) == len(y) == len(subgroups)) or not len(s):
        raise ValueError(f"scores, labels and subgroups differ in length or are empty: {len(s)}, {len(y)}")
    if y.all() or not y.any():
        raise ValueError("the labels hold one class only: no AUC is defined")
    resamples = _Resamples.draw(s, n_boot, seed)
    all_pos, all_neg = resamples.per_run(y), resamples.per_run(~y)
    overall = _auc(all_pos, all_neg)
    rows: list[SubgroupBias] = []
    skipped: list[SkippedSubgroup] = []
    families: list[tuple[NDArray[np.float64], ...]] = []
    for g in names if names is not None else sorted({m for ms in subgroups for m in ms}):
        member = np.fromiter((g in ms for ms in subgroups), dtype=bool, count=len(s))
        n, pos = int(member.sum()), int((member & y).sum())
        reason = _skip_reason(n, pos, len(s) - n, int(y.sum()) - pos, min_size)
        if reason:
            skipped.append(SkippedSubgroup(name=g, n=n, positives=pos, reason=reason))
            continue
        sub_pos, sub_neg = resamples.per_run(member & y), resamples.per_run(member & ~y)
        three = (_auc(sub_pos, sub_neg), _auc(all_pos - sub_pos, sub_neg), _auc(sub_pos, all_neg - sub_neg))
        families.append(three)
        sub, bpsn, bnsp = (_estimate(v, level) for v in three)
        rows.append(SubgroupBias(name=g, n=n, positives=pos, subgroup_auc=sub, bpsn_auc=bpsn, bnsp_auc=bnsp))
    nan = np.full_like(overall, np.nan)
    means = [
        _power_means(np.column_stack([f[k] for f in families]), power) if families else nan for k in range(3)
    ]
    final = np.dot(WEIGHTS, np.vstack([overall, *means]))
    return BiasReport(
        name=name,
        n=len(s),
        positives=int(y.sum()),
        power=power,
        level=level,
        n_boot=n_boot,
        seed=seed,
        overall_auc=_estimate(overall, level),
        subgroup_auc=_estimate(means[0], level),
        bpsn_auc=_estimate(means[1], level),
        bnsp_auc=_estimate(means[2], level),
        final=_estimate(final, level),
        subgroups=rows,
        skipped=skipped,
    )


def hatexplain_communities(example: Example) -> frozenset[str]:
    """The identity communities a HateXplain post targets (named by at least two annotators)."""
    return frozenset(t for t in example.group.split("|") if t and t not in NOT_A_COMMUNITY)


def bias_reports(
    score: Score,
    hatexplain_examples: Sequence[Example],
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    min_posts: int = HATEXPLAIN_MIN_POSTS,
) -> dict[str, BiasReport]:
    """One category's scorer on the templated identity set and on HateXplain by target community (when
    posts are given)."""
    # HateXplain twice: hate speech as the positive class, then offensive-or-hate
    identity = templated_set()
    reports = {
        "templated": bias_report(
            "templated",
            score([e.text for e in identity]),
            [e.label for e in identity],
            [{e.subgroup} for e in identity],
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
    }
    posts = [
        e for e in hatexplain_examples if None not in (e.label(Category.HATE), e.label(Category.TOXICITY))
    ]
    if not posts:  # HateXplain not among the sets: the templated set alone
        return reports
    post_scores = score([e.text for e in posts])
    communities = [hatexplain_communities(e) for e in posts]
    for name, category in (("hatexplain_hate", Category.HATE), ("hatexplain_toxic", Category.TOXICITY)):
        reports[name] = bias_report(
            name,
            post_scores,
            [int(e.labels[category]) for e in posts],
            communities,
            n_boot=n_boot,
            level=level,
            seed=seed,
            min_size=min_posts,
        )
    return reports
