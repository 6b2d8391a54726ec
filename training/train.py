"""Fit the moderation model: featurize, a logistic regression chosen on validation, then calibration."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from stream_consumer.normalize import normalize
from stream_consumer.scorer import LinearScorer
from training.data import LabelledText
from training.features import TEXT_COLUMN, TextFeatures


class ModelParams(BaseModel):
    """The knobs of one training run (logged as the run's parameters)."""

    model_config = ConfigDict(frozen=True)

    min_df: int = 2
    bigrams: bool = True
    c_grid: tuple[float, ...] = (0.3, 1.0, 3.0)
    class_weight: Literal["balanced"] | None = None
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    max_iter: int = 5_000


@dataclass(frozen=True)
class TrainedModel:
    """The calibrated scikit-learn estimator (logged to MLflow) and its numpy serving form."""

    estimator: CalibratedClassifierCV
    scorer: LinearScorer
    chosen_c: float
    validation_auc_by_c: dict[float, float]


def frame(items: Sequence[LabelledText]) -> pd.DataFrame:
    """The model's input: a DataFrame with a `text` column (as MLflow's pyfunc hands it over)."""
    return pd.DataFrame({TEXT_COLUMN: [i.text for i in items]})


def labels(items: Sequence[LabelledText]) -> np.ndarray[Any, np.dtype[np.int_]]:
    return np.fromiter((i.y for i in items), dtype=int, count=len(items))


def _pipeline(params: ModelParams, c: float) -> Pipeline:
    return Pipeline(
        [
            ("features", TextFeatures(min_df=params.min_df, bigrams=params.bigrams)),
            (
                "classifier",
                LogisticRegression(C=c, class_weight=params.class_weight, max_iter=params.max_iter),
            ),
        ]
    )


def fit(
    train: Sequence[LabelledText],
    validation: Sequence[LabelledText],
    params: ModelParams = ModelParams(),  # noqa: B008
) -> TrainedModel:
    """Fit one pipeline per C on train, keep the best on validation, calibrate it on validation."""
    x_train, y_train = frame(train), labels(train)
    x_val, y_val = frame(validation), labels(validation)
    fitted: dict[float, Pipeline] = {}
    aucs: dict[float, float] = {}
    for c in params.c_grid:
        pipe = _pipeline(params, c).fit(x_train, y_train)
        fitted[c] = pipe
        aucs[c] = float(roc_auc_score(y_val, pipe.predict_proba(x_val)[:, 1]))
    best = max(aucs, key=lambda c: aucs[c])
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted[best]), method=params.calibration)
    calibrated.fit(x_val, y_val)
    scorer = export(calibrated, {"C": str(best), "calibration": params.calibration})
    return TrainedModel(calibrated, scorer, best, aucs)


def export(calibrated: CalibratedClassifierCV, metadata: dict[str, str]) -> LinearScorer:
    """The numpy serving form of a calibrated pipeline (same features, weights and calibration)."""
    inner = calibrated.calibrated_classifiers_[0]
    pipe: Pipeline = inner.estimator.estimator  # FrozenEstimator -> Pipeline
    features: TextFeatures = pipe.named_steps["features"]
    classifier: LogisticRegression = pipe.named_steps["classifier"]
    f = features.featurizer_
    coef = classifier.coef_[0]
    calibrator = inner.calibrators[0]
    if calibrated.method == "sigmoid":
        cal_x, cal_y = np.array([calibrator.a_, calibrator.b_]), np.zeros(0)
    else:
        cal_x, cal_y = np.asarray(calibrator.X_thresholds_), np.asarray(calibrator.y_thresholds_)
    return LinearScorer(
        featurizer=f,
        text_weights=coef[: f.n_columns].astype(np.float64),
        meta_weights=coef[f.n_columns :].astype(np.float64),
        meta_mean=features.meta_mean_,
        meta_scale=features.meta_scale_,
        intercept=float(classifier.intercept_[0]),
        calibration=calibrated.method,
        calibration_x=cal_x,
        calibration_y=cal_y,
        feature_names=f.feature_names(),
        metadata=metadata,
    )


def serving_scores(scorer: LinearScorer, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Scores exactly as the consumer computes them: normalise once, then the exported scorer."""
    return scorer.predict_proba([normalize(t) for t in texts])
