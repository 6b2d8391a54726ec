"""`EvalReport`: how well a model's calibrated scores separate removed from kept messages.

Pure: labels and scores in, a report out. Plots are drawn from the same numbers by `plots.py`.
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from contracts.policy import DEFAULT_THRESHOLDS, Thresholds

LENGTH_BUCKETS = ((0, 50), (50, 150), (150, 400), (400, 1_000_000))


class OperatingPoint(BaseModel):
    """Precision/recall/F1 when everything scoring at or above `threshold` is flagged."""

    model_config = ConfigDict(frozen=True)

    name: str
    threshold: float
    precision: float
    recall: float
    f1: float
    flagged_share: float
    confusion: list[list[int]]  # [[tn, fp], [fn, tp]]


class SliceMetrics(BaseModel):
    """Ranking quality on one part of the data (a domain or a length bucket)."""

    model_config = ConfigDict(frozen=True)

    n: int
    positives: int
    roc_auc: float | None  # None when the slice holds one class only
    pr_auc: float | None
    brier: float


class EvalReport(BaseModel):
    """The evaluation of one model on one labelled set."""

    model_config = ConfigDict(frozen=True)

    n: int
    positives: int
    roc_auc: float
    roc_auc_95: tuple[float, float] | None = None  # 2.5th–97.5th percentile over bootstrap resamples
    pr_auc: float
    brier: float
    operating_points: list[OperatingPoint]
    by_domain: dict[str, SliceMetrics]
    by_length: dict[str, SliceMetrics]

    def _point(self, name: str) -> OperatingPoint:
        return next(op for op in self.operating_points if op.name == name)

    @property
    def review_share(self) -> float:
        """The share of messages the thresholds send to a human (at or above review, below remove)."""
        return self._point("review").flagged_share - self._point("remove").flagged_share

    @property
    def remove_precision(self) -> float:
        """Of the messages removed automatically, the share that are the category."""
        return self._point("remove").precision

    @property
    def allow_precision(self) -> float:
        """Of the messages allowed automatically (below review), the share that are not the category."""
        (tn, _), (fn, _) = self._point("review").confusion
        return tn / (tn + fn) if tn + fn else 1.0

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat numbers for a tracking server."""
        out = {f"{prefix}roc_auc": self.roc_auc, f"{prefix}pr_auc": self.pr_auc, f"{prefix}brier": self.brier}
        if self.roc_auc_95 is not None:
            out[f"{prefix}roc_auc.lo"], out[f"{prefix}roc_auc.hi"] = self.roc_auc_95
        out |= {
            f"{prefix}review_share": self.review_share,
            f"{prefix}remove_precision": self.remove_precision,
            f"{prefix}allow_precision": self.allow_precision,
        }
        for op in self.operating_points:
            for key in ("precision", "recall", "f1", "flagged_share"):
                out[f"{prefix}{op.name}_{key}"] = getattr(op, key)
        for domain, s in self.by_domain.items():
            if s.roc_auc is not None:
                out[f"{prefix}{domain}_roc_auc"] = s.roc_auc
        return out


def _slice(y: NDArray[np.int_], p: NDArray[np.float64]) -> SliceMetrics:
    both = 0 < int(y.sum()) < len(y)
    return SliceMetrics(
        n=len(y),
        positives=int(y.sum()),
        roc_auc=float(roc_auc_score(y, p)) if both else None,
        pr_auc=float(average_precision_score(y, p)) if both else None,
        brier=float(brier_score_loss(y, p, labels=[0, 1])),
    )


def operating_point(
    name: str, y: NDArray[np.int_], p: NDArray[np.float64], threshold: float
) -> OperatingPoint:
    """The confusion of flagging every score at or above `threshold`."""
    flagged = (p >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, flagged, average="binary", zero_division=0.0
    )
    return OperatingPoint(
        name=name,
        threshold=threshold,
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        flagged_share=float(flagged.mean()),
        confusion=confusion_matrix(y, flagged, labels=[0, 1]).tolist(),
    )


def review_load(
    y: NDArray[np.int_], p: NDArray[np.float64], remove_precision: float, allow_precision: float
) -> dict[str, float]:
    """What moderators must see when the model acts alone only where it is precise enough: the highest
    scores removed while at least `remove_precision` of them are positive, the lowest allowed while at
    least `allow_precision` of them are negative, the rest sent to review. Cuts fall only between
    distinct scores (tied messages share an action)."""
    n = len(y)
    if n == 0:
        return {"review_share": 0.0, "remove_share": 0.0, "allow_share": 0.0}
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    k = np.arange(1, n + 1)
    cut = np.r_[ps[1:] < ps[:-1], True]  # after position i, a cut between distinct scores
    removed = k[cut & (np.cumsum(ys) / k >= remove_precision)]
    up, ps_up = ys[::-1], ps[::-1]  # lowest first
    cut_up = np.r_[ps_up[1:] > ps_up[:-1], True]
    kept = k[cut_up & (np.cumsum(1 - up) / k >= allow_precision)]
    n_remove = int(removed.max(initial=0))
    n_allow = min(int(kept.max(initial=0)), n - n_remove)
    return {
        "review_share": (n - n_remove - n_allow) / n,
        "remove_share": n_remove / n,
        "allow_share": n_allow / n,
    }


def _bootstrap_aucs(
    y: NDArray[np.int_], columns: Sequence[NDArray[np.float64]], resamples: int, seed: int
) -> NDArray[np.float64]:
    """ROC-AUC of each column of scores on the same bootstrap resamples of the examples (one row per
    resample holding both classes)."""
    from scipy.stats import rankdata  # noqa: PLC0415 - training-side only

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(resamples):
        pick = rng.integers(0, len(y), len(y))
        yy = y[pick]
        n_pos = int(yy.sum())
        if 0 < n_pos < len(yy):
            scale, offset = n_pos * (len(yy) - n_pos), n_pos * (n_pos + 1) / 2
            rows.append([(rankdata(c[pick])[yy == 1].sum() - offset) / scale for c in columns])
    return np.array(rows)


def auc_interval(
    y: NDArray[np.int_], p: NDArray[np.float64], resamples: int = 200, seed: int = 7
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of ROC-AUC over bootstrap resamples of the examples."""
    low, high = np.percentile(_bootstrap_aucs(y, [p], resamples, seed)[:, 0], [2.5, 97.5])
    return float(low), float(high)


def auc_difference_interval(
    y: NDArray[np.int_], a: NDArray[np.float64], b: NDArray[np.float64], resamples: int = 200, seed: int = 7
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of ROC-AUC(a) − ROC-AUC(b) over paired bootstrap resamples of
    the examples (both models scored on the same resample: the difference is far tighter than either)."""
    aucs = _bootstrap_aucs(y, [a, b], resamples, seed)
    low, high = np.percentile(aucs[:, 0] - aucs[:, 1], [2.5, 97.5])
    return float(low), float(high)


def evaluate(
    labels: Sequence[int],
    scores: Sequence[float] | NDArray[np.float64],
    domains: Sequence[str],
    lengths: Sequence[int],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    resamples: int = 200,
) -> EvalReport:
    """Score quality overall (ROC-AUC with a bootstrap interval over `resamples`; 0: none), at the
    policy's operating thresholds, and per domain and length bucket."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(scores, dtype=float)
    if len(y) != len(p) or len(y) != len(domains) or len(y) != len(lengths):
        raise ValueError("labels, scores, domains and lengths must be the same length")
    if not 0 < int(y.sum()) < len(y):
        raise ValueError("evaluation needs both removed and kept examples")
    dom = np.asarray(domains)
    length = np.asarray(lengths)
    by_length = {}
    for lo, hi in LENGTH_BUCKETS:
        mask = (length >= lo) & (length < hi)
        if mask.any():
            by_length[f"{lo}-{hi if hi < 1_000_000 else 'inf'}"] = _slice(y[mask], p[mask])
    return EvalReport(
        n=len(y),
        positives=int(y.sum()),
        roc_auc=float(roc_auc_score(y, p)),
        roc_auc_95=auc_interval(y, p, resamples) if resamples else None,
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        operating_points=[
            operating_point("review", y, p, thresholds.review),
            operating_point("remove", y, p, thresholds.remove),
        ],
        by_domain={d: _slice(y[dom == d], p[dom == d]) for d in sorted(set(domains))},
        by_length=by_length,
    )
