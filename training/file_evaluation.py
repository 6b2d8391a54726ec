"""The served model on a labelled file: one category's scores out of what `predict` returns, and the report
`python -m training evaluate` prints.

`predict(frame)` of the registered model returns either a frame with one column per category, or a 1-D
array: the single-category model, whose one category is `removal`. Pure: no MLflow here.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from training.evaluate import OperatingPoint, SliceMetrics, evaluate
from training.labelled_file import LabelledFile

SINGLE_CATEGORY = "removal"  # what a model returning one score per text scores


class CategoryError(ValueError):
    """The model does not score the category asked for; the message lists the ones it does."""


class ModelError(Exception):
    """The model cannot be loaded, or its output is not one probability per text."""


def scored_categories(output: Any) -> list[str]:
    """The categories a model output holds scores for."""
    if isinstance(output, pd.DataFrame):
        return [str(c) for c in output.columns]
    return [SINGLE_CATEGORY]


def category_scores(output: Any, category: str, n: int) -> NDArray[np.float64]:
    """The `n` probabilities of `category` in a model's output (a frame by column, or a 1-D array)."""
    categories = scored_categories(output)
    if category not in categories:
        raise CategoryError(
            f"the model does not score category {category!r}; it scores {', '.join(categories)}"
        )
    column = output[category] if isinstance(output, pd.DataFrame) else output
    try:
        scores = np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ModelError(f"the model's {category!r} scores are not numbers: {err}") from err
    if scores.shape != (n,):
        raise ModelError(f"the model returned scores of shape {scores.shape} for {n} texts")
    if not np.isfinite(scores).all():
        raise ModelError(f"the model returned {int((~np.isfinite(scores)).sum())} non-finite scores")
    return scores


class FileReport(BaseModel):
    """How well one category's served scores separate a labelled file's classes, with its context."""

    model_config = ConfigDict(frozen=True)

    model_uri: str
    data: str
    category: str
    n: int
    positives: int
    skipped_empty: int
    roc_auc: float
    pr_auc: float
    brier: float
    operating_points: list[OperatingPoint]
    by_length: dict[str, SliceMetrics]

    def rows(self) -> dict[str, str]:
        """The report as label → value, for a table."""
        out = {"category": self.category, "n": str(self.n), "positives": str(self.positives)}
        out["skipped (empty text)"] = str(self.skipped_empty)
        out |= {
            "ROC-AUC": f"{self.roc_auc:.4f}",
            "PR-AUC": f"{self.pr_auc:.4f}",
            "Brier": f"{self.brier:.4f}",
        }
        for op in self.operating_points:
            for key in ("precision", "recall", "f1", "flagged_share"):
                out[f"{op.name} ≥ {op.threshold:g}: {key}"] = f"{getattr(op, key):.4f}"
        return out


def file_report(
    labelled: LabelledFile, scores: NDArray[np.float64], category: str, model_uri: str, data: Path
) -> FileReport:
    """The evaluation of one category's scores on the file's labels (at the policy's thresholds)."""
    report = evaluate(labelled.labels, scores, [data.stem] * labelled.n, [len(t) for t in labelled.texts])
    return FileReport(
        model_uri=model_uri,
        data=str(data),
        category=category,
        n=report.n,
        positives=report.positives,
        skipped_empty=labelled.skipped_empty,
        roc_auc=report.roc_auc,
        pr_auc=report.pr_auc,
        brier=report.brier,
        operating_points=report.operating_points,
        by_length=report.by_length,
    )
