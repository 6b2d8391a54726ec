"""ROC, precision-recall, reliability and bias plots, saved as PNG files for the tracking server."""

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # headless: no display on servers and CI

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from training.bias import BiasReport, Estimate


def _domains(
    y: NDArray[np.int_], p: NDArray[np.float64], domains: NDArray[np.str_]
) -> list[tuple[str, NDArray[np.int_], NDArray[np.float64]]]:
    parts = [("all", y, p)]
    for d in sorted(set(domains.tolist())):
        mask = domains == d
        if 0 < y[mask].sum() < mask.sum() and len(set(domains.tolist())) > 1:
            parts.append((d, y[mask], p[mask]))
    return parts


def save_plots(
    out_dir: Path,
    labels: NDArray[np.int_],
    scores: NDArray[np.float64],
    domains: NDArray[np.str_],
    title: str,
) -> list[Path]:
    """Draw the three plots for one evaluation; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = _domains(labels, scores, domains)
    written = []

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, y, p in parts:
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}")
    ax.legend(loc="lower right")
    written.append(_save(fig, out_dir / "roc.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, y, p in parts:
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=f"{name} (base {y.mean():.2f})")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall — {title}", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    written.append(_save(fig, out_dir / "pr.png"))

    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True)
    for name, y, p in parts:
        frac, mean_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(mean_pred, frac, marker="o", ms=3, label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(ylabel="observed share removed", title=f"Reliability — {title}")
    ax.legend(loc="upper left")
    hist.hist(scores, bins=40, color="grey")
    hist.set(xlabel="calibrated score", ylabel="messages")
    written.append(_save(fig, out_dir / "calibration.png"))
    return written


def save_bias_plot(out_dir: Path, report: BiasReport) -> Path:
    """Per subgroup, its subgroup, BPSN and BNSP AUCs with their intervals; returns the file written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted(
        report.subgroups, key=lambda r: min(r.subgroup_auc.value, r.bpsn_auc.value, r.bnsp_auc.value)
    )
    fig, ax = plt.subplots(figsize=(6.5, 2.4 + 0.32 * max(len(rows), 1)))
    at = np.arange(len(rows), dtype=np.float64)
    for offset, (key, label) in zip(
        (-0.22, 0.0, 0.22),
        (("subgroup_auc", "subgroup"), ("bpsn_auc", "BPSN"), ("bnsp_auc", "BNSP")),
        strict=True,
    ):
        points: list[Estimate] = [getattr(r, key) for r in rows]
        values = np.array([e.value for e in points])
        lo = np.array([e.value if e.lo is None else e.lo for e in points])
        hi = np.array([e.value if e.hi is None else e.hi for e in points])
        mean: Estimate = getattr(report, key)
        ax.errorbar(
            values,
            at + offset,
            xerr=(
                np.maximum(values - lo, 0),
                np.maximum(hi - values, 0),
            ),  # a skewed interval may miss the point
            fmt="o",
            ms=4,
            capsize=2,
            lw=1,
            label=f"{label} (power mean {mean.value:.3f})",
        )
    ax.axvline(
        report.overall_auc.value, ls="--", c="grey", lw=0.8, label=f"overall {report.overall_auc.value:.3f}"
    )
    ax.set_yticks(at, [f"{r.name} ({r.n})" for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the worst subgroup on top
    level = f"{report.level:.0%} intervals, {report.n_boot} resamples"
    ax.set(xlabel="AUC", title=f"Bias — {report.name}\nfinal score {report.final.value:.3f} ({level})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize="small")  # off the dots
    return _save(fig, out_dir / f"bias_{report.name}.png")


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
