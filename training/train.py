"""Fit the moderation model: featurize, a logistic regression chosen on validation, then calibration.

The regression learns from windows of tokens (weighted so each text counts once), as the scorer reads
long texts; C is chosen and the sigmoid calibration fitted on the validation texts' highest-window
scores — what serving computes.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from contracts.categories import Category
from contracts.policy import ChannelPolicy
from stream_consumer import cascade, encoder
from stream_consumer.features import META_NAMES, TextFeaturizer, WindowSpec, fit_featurizer
from stream_consumer.language import identify
from stream_consumer.moderation import encoder_input, model_input
from stream_consumer.normalize import NormalText, normal_form
from stream_consumer.policy import RuleOutcome, rules
from stream_consumer.scorer import CategoryModel, LinearScorer
from training.cascade import CascadeFit
from training.corpora import Example, ExampleSplits, categories_with_both_classes
from training.data import LabelledText
from training.features import Design, Standardiser, design, window_rows


class ModelParams(BaseModel):
    """The knobs of one training run (logged as the run's parameters)."""

    model_config = ConfigDict(frozen=True)

    min_df: int = 2
    bigrams: bool = True
    c_grid: tuple[float, ...] = (0.3, 1.0, 3.0)
    class_weight: Literal["balanced"] | None = None
    max_iter: int = 5_000
    # Windows of tokens (see `features.WindowSpec`): r/science's removals depend on a whole comment, so
    # the default window holds nearly any comment; a model of insults reads shorter windows.
    window_tokens: int = 256
    max_windows: int = 16
    row_norm: float = 0.0  # 0: l2 rows; above 0: rows divided by it (see `features.WindowSpec`)


# Style features that only an obfuscation sets: their weights are kept at zero or above. Without
# Davidson's and GermEval's tweets, the few mixed-script training texts are benign and taught the
# toxicity head a negative weight — look-alike letters then lowered an insult's score below review.
EVASION_SIGNALS = ("mixed_script_share",)


@dataclass(frozen=True)
class TrainedModel:
    """The exported serving form and how it was chosen."""

    scorer: LinearScorer
    chosen_c: float
    validation_auc_by_c: dict[float, float]


def labels(items: Sequence[LabelledText]) -> np.ndarray[Any, np.dtype[np.int_]]:
    return np.fromiter((i.y for i in items), dtype=int, count=len(items))


def normal_forms(items: Sequence[LabelledText]) -> list[NormalText]:
    return [normal_form(i.text) for i in items]


def _platt(
    raw: np.ndarray[Any, np.dtype[np.float64]], y: np.ndarray[Any, np.dtype[np.int_]]
) -> np.ndarray[Any, Any]:
    """Sigmoid calibration [a, b] with p = 1 / (1 + exp(a * raw + b)), fitted on (raw, y)."""
    lr = LogisticRegression(C=1e6, max_iter=1_000).fit(raw.reshape(-1, 1), y)
    return np.array([-float(lr.coef_[0, 0]), -float(lr.intercept_[0])])


def fit(
    train: Sequence[LabelledText],
    validation: Sequence[LabelledText],
    params: ModelParams = ModelParams(),  # noqa: B008
) -> TrainedModel:
    """Fit one regression per C on train, keep the best on validation, calibrate it on validation."""
    spec = WindowSpec(params.window_tokens, params.max_windows, params.row_norm)
    n_train, n_val = normal_forms(train), normal_forms(validation)
    y_train, y_val = labels(train), labels(validation)
    featurizer = fit_featurizer([t.text for t in n_train], params.min_df, params.bigrams)
    windows = window_rows(featurizer, n_train, spec)
    standardiser = Standardiser.fit(windows.meta)
    rows = design(windows, standardiser)
    weight = 1.0 / np.bincount(rows.text)[rows.text]
    scorers: dict[float, LinearScorer] = {}
    aucs: dict[float, float] = {}
    for c in params.c_grid:
        lr = LogisticRegression(C=c, class_weight=params.class_weight, max_iter=params.max_iter)
        lr.fit(rows.matrix, y_train[rows.text], sample_weight=weight * len(train) / weight.sum())
        scorers[c] = _export(featurizer, standardiser, lr, spec, {"C": str(c)})
        aucs[c] = float(roc_auc_score(y_val, scorers[c].decision(n_val)))
    best = max(aucs, key=lambda c: aucs[c])
    calibration = _platt(scorers[best].decision(n_val), y_val)
    scorer = replace(
        scorers[best], calibration_x=calibration, metadata={"C": str(best), "calibration": "sigmoid"}
    )
    return TrainedModel(scorer, best, aucs)


def _export(
    featurizer: TextFeaturizer,
    standardiser: Standardiser,
    lr: LogisticRegression,
    spec: WindowSpec,
    metadata: dict[str, str],
) -> LinearScorer:
    """The numpy serving form of a fitted regression (uncalibrated until `fit` sets its calibration)."""
    coef = lr.coef_[0]
    n = featurizer.n_columns
    meta_weights = coef[n:].astype(np.float64)
    for name in EVASION_SIGNALS:  # an obfuscation never lowers a score, whatever the data taught
        i = META_NAMES.index(name)
        meta_weights[i] = max(meta_weights[i], 0.0)
    return LinearScorer(
        featurizer=featurizer,
        text_weights=coef[:n].astype(np.float64),
        meta_weights=meta_weights,
        meta_mean=standardiser.mean,
        meta_scale=standardiser.scale,
        intercept=float(lr.intercept_[0]),
        calibration="sigmoid",
        calibration_x=np.array([-1.0, 0.0]),
        calibration_y=np.zeros(0),
        feature_names=featurizer.feature_names(),
        metadata=metadata,
        window=spec,
    )


def category_scores(
    model: CategoryModel, texts: Sequence[str], policy: ChannelPolicy | None = None
) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Every category's scores exactly as the consumer computes them: the normal form once, the
    channel's allow terms taken out (when a policy is given), the fast model, then the cascade (when
    the model has encoder heads: every escalation embedded, no time budget)."""
    batch = [normal_form(t) for t in texts]
    outcomes = [rules(policy, b) for b in batch] if policy is not None else None
    inputs = [model_input(b, o) for b, o in zip(batch, outcomes, strict=True)] if outcomes else batch
    fast = model.predict_proba(inputs)
    if model.cascade is None or not texts:
        return fast
    each: list[RuleOutcome | None] = list(outcomes) if outcomes else [None] * len(batch)
    originals = [encoder_input(t, b, o) for t, b, o in zip(texts, batch, each, strict=True)]
    languages = [identify(o) for o in originals]
    return cascade.run(model.cascade, fast, originals, languages, encoder.shared()).probability


def serving_scores(
    scorer: LinearScorer, texts: Sequence[str], policy: ChannelPolicy | None = None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Scores exactly as the consumer computes them: the normal form once, the channel's allow terms
    taken out (when a policy is given), then the exported scorer."""
    batch = [normal_form(t) for t in texts]
    if policy is not None:
        batch = [model_input(b, rules(policy, b)) for b in batch]
    return scorer.predict_proba(batch)


class CategoryParams(BaseModel):
    """The knobs of a multi-category run: the shared featurizer's, then each category's regression
    and window (a community's removals read whole comments; insults, hate and spam short windows, so
    that padding cannot dilute them)."""

    model_config = ConfigDict(frozen=True)

    min_df: int = 2
    bigrams: bool = True
    heads: dict[Category, ModelParams] = {
        c: ModelParams(window_tokens=16, max_windows=16, c_grid=(1.0, 3.0, 10.0))
        for c in (Category.TOXICITY, Category.HATE, Category.SPAM)
    } | {
        Category.REMOVAL: ModelParams(),
    }


@dataclass(frozen=True)
class TrainedCategories:
    """The exported category model and how each head was chosen."""

    model: CategoryModel
    chosen_c: dict[Category, float]
    validation_auc_by_c: dict[Category, dict[float, float]]
    cascade: "CascadeFit | None" = None  # the encoder heads' fit, when the model has them


@dataclass(frozen=True)
class _Part:
    texts: list[NormalText]
    labels: dict[Category, np.ndarray[Any, np.dtype[np.int_]]]  # -1 where a text does not label it


def _part(examples: Sequence[Example], categories: Sequence[Category]) -> _Part:
    texts = [normal_form(e.text) for e in examples]
    labels = {
        c: np.fromiter(
            (-1 if e.label(c) is None else e.labels[c] for e in examples), dtype=int, count=len(examples)
        )
        for c in categories
    }
    return _Part(texts, labels)


def fit_categories(
    splits: ExampleSplits,
    params: CategoryParams = CategoryParams(),  # noqa: B008
    categories: Sequence[Category] | None = None,
) -> TrainedCategories:
    """One featurizer for every category (fitted on all training texts), then one regression per
    category on the texts that label it, C chosen and calibration fitted on its validation texts."""
    teachable = categories_with_both_classes(splits.train)
    wanted = [c for c in (categories or list(params.heads)) if c in params.heads and c in teachable]
    if not wanted:
        raise ValueError("no category has both classes in the training data")
    train, validation = _part(splits.train, wanted), _part(splits.validation, wanted)
    featurizer = fit_featurizer([t.text for t in train.texts], params.min_df, params.bigrams)
    designs: dict[WindowSpec, tuple[Standardiser, Design]] = {}
    heads: dict[str, LinearScorer] = {}
    chosen: dict[Category, float] = {}
    aucs: dict[Category, dict[float, float]] = {}
    for category in wanted:
        head = params.heads[category]
        spec = WindowSpec(head.window_tokens, head.max_windows, head.row_norm)
        if spec not in designs:
            windows = window_rows(featurizer, train.texts, spec)
            standardiser = Standardiser.fit(windows.meta)
            designs[spec] = (standardiser, design(windows, standardiser))
        standardiser, rows = designs[spec]
        y_all = train.labels[category]
        labelled = y_all[rows.text] >= 0
        matrix, text = rows.matrix[labelled], rows.text[labelled]
        weight = 1.0 / np.bincount(text)[text]
        n_texts = int((y_all >= 0).sum())
        y_val_all = validation.labels[category]
        val_idx = np.flatnonzero(y_val_all >= 0)
        val_batch = [validation.texts[i] for i in val_idx]
        y_val = y_val_all[val_idx]
        scorers: dict[float, LinearScorer] = {}
        by_c: dict[float, float] = {}
        # One regression refitted from the last solution as C grows (a warm start: fewer iterations).
        lr = LogisticRegression(class_weight=head.class_weight, max_iter=head.max_iter, warm_start=True)
        for c in sorted(head.c_grid):
            lr.set_params(C=c)
            lr.fit(matrix, y_all[text], sample_weight=weight * n_texts / weight.sum())
            scorers[c] = _export(featurizer, standardiser, lr, spec, {"C": str(c), "category": category})
            raw = scorers[c].decision(val_batch)
            by_c[c] = float(roc_auc_score(y_val, raw))
        best = max(by_c, key=lambda c: by_c[c])
        calibration = _platt(scorers[best].decision(val_batch), y_val)
        heads[category] = replace(
            scorers[best],
            calibration_x=calibration,
            metadata={"C": str(best), "calibration": "sigmoid", "category": category},
        )
        chosen[category], aucs[category] = best, by_c
    return TrainedCategories(CategoryModel(heads, {"categories": ",".join(heads)}), chosen, aucs)
