"""Fit the cascade over a trained fast model (see `stream_consumer.cascade`).

Per category: a logistic regression on the training texts' embeddings (C chosen on validation); on
the validation texts, the stacked calibration (the fast score's logit and the encoder's raw score) and
the encoder-alone calibration; then the uncertain band: the fast scores around the category's review
threshold (where a verdict turns between allow and review) holding `share` / (number of categories) of
every validation text, so that all bands together escalate at most `share` of them. A band anchored
where decisions turn, not placed where validation ROC-AUC gains most, stays put from one retraining to
the next (placed by validation it moved, and moved the champion-challenger comparison by more than the
promotion margin on small test splits).
The languages the fast model knows are those of its training texts (at least `min_texts` of them).
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from contracts.categories import DEFAULT_ACTING, Category
from contracts.policy import CATEGORY_THRESHOLDS, DEFAULT_THRESHOLDS
from stream_consumer.cascade import Cascade, EncoderHead, logit, uncertain
from stream_consumer.encoder import ENCODER_NAME
from stream_consumer.language import UNDETERMINED, identify
from stream_consumer.moderation import encoder_input
from stream_consumer.normalize import normal_form
from stream_consumer.scorer import BatchRows, CategoryModel
from training.corpora import Example, ExampleSplits, bundled_count
from training.padding import pad
from training.serving import category_scores

Embed = Callable[[Sequence[str]], NDArray[np.float32]]
PADDED_VALIDATION = 10_000  # validation texts padded for the stacked calibration (each embedded once)
BAND_POSITIONS = 41  # window starts tried between the lowest and the highest validation scores


@dataclass(frozen=True)
class CascadeFit:
    """The cascade and, per category, what validation said of it."""

    cascade: Cascade
    chosen_c: dict[str, float]
    validation_auc: dict[str, dict[str, float]]  # category → fast, encoder, stacked, cascade
    escalated_share: dict[str, float]  # of validation texts, per category's band


def encoder_text(text: str) -> str:
    """What the consumer's encoder reads of a text (no channel policy)."""
    return encoder_input(text, normal_form(text))


def languages_of(inputs: Sequence[str], min_texts: int) -> tuple[str, ...]:
    """The languages with at least `min_texts` of the texts, given as the encoder reads them
    (`encoder_text`; undetermined ones not counted)."""
    counts = Counter(identify(t) for t in inputs)
    return tuple(sorted(lang for lang, n in counts.items() if lang != UNDETERMINED and n >= min_texts))


def _labels(examples: Sequence[Example], category: str) -> NDArray[np.int_]:
    labels = [e.label(Category(category)) for e in examples]
    return np.array([-1 if y is None else int(y) for y in labels], dtype=np.int_)


def _platt(x: NDArray[np.float64], y: NDArray[np.int_]) -> NDArray[np.float64]:
    """[weights..., bias] of a near-unregularised logistic regression of y on the columns of x."""
    lr = LogisticRegression(C=1e4, max_iter=1_000).fit(x, y)
    return np.array([*lr.coef_[0].tolist(), float(lr.intercept_[0])])


def choose_band(population: NDArray[np.float64], share: float, center: float) -> tuple[float, float]:
    """The narrowest band of fast scores around `center` (the category's review threshold, where a
    verdict turns) holding `share` of `population` (every validation text's fast score)."""
    if share <= 0 or len(population) == 0:
        return (1.0, 0.0)  # an empty band: nothing escalates
    if share >= 1:
        return (0.0, 1.0)  # every score: everything escalates
    distance = np.sort(np.abs(population - center))
    radius = float(distance[min(int(np.ceil(share * len(distance))), len(distance)) - 1])
    return (center - radius, center + radius)


def band_share(share: float, categories: int) -> float:
    """Each category's band's share of the validation texts: an equal part of `share` (all of them
    when `share` is everything)."""
    return 1.0 if share >= 1.0 else share / categories


def _padded_validation(
    validation: Sequence[Example], categories: Sequence[Category]
) -> tuple[list[Example], list[str]]:
    """The validation texts of the acting categories to pad (up to `PADDED_VALIDATION`) and their padded
    copies: of the bundled sets' texts alone, as a training on them alone pads them, so that more
    moderators' decisions in a retraining change none of these copies."""
    base = [
        e for e in validation[: bundled_count(validation)] if any(e.label(c) is not None for c in categories)
    ]
    acting = [e for e in base if any(e.label(c) is not None for c in categories if c in DEFAULT_ACTING)]
    padded = acting[:PADDED_VALIDATION]
    benign = [e.text for e in base if e.labels and not any(e.labels.values())]
    return padded, pad([e.text for e in padded], benign, seed=len(base))


def _validation_read(
    fast_model: CategoryModel, val: Sequence[Example], rows: BatchRows | None
) -> tuple[list[str], dict[str, NDArray[np.float64]]]:
    """The validation texts as the encoder reads them (`encoder_text`) and the fast model's scores of
    them (`fast_scores`): from `rows`, their normal forms and features when given (`val` being every
    validation text, in order), else afresh."""
    if rows is None:
        return [encoder_text(e.text) for e in val], fast_scores(fast_model, [e.text for e in val])
    inputs = [encoder_input(e.text, n) for e, n in zip(val, rows.batch, strict=True)]
    return inputs, fast_model.predict_proba(rows.batch, rows)


def fit_cascade(
    model: CategoryModel,
    splits: ExampleSplits,
    embed: Embed,
    encoder_sha256: str,
    share: float,
    c_grid: Sequence[float] = (0.3, 1.0, 3.0),
    min_language_texts: int = 200,
    validation_rows: BatchRows | None = None,
) -> CascadeFit:
    """Encoder heads for every category of `model` that the splits label with both classes.

    `validation_rows`: every validation text as `fit_categories` normalised and featurised it (its
    `TrainedCategories.validation_rows`), scored from those rows when every validation text labels a
    category of `model` (else the texts are scored afresh)."""
    fast_model = replace(model, cascade=None)
    categories = [Category(c) for c in model.categories]
    train = [e for e in splits.train if any(e.label(c) is not None for c in categories)]
    val = [e for e in splits.validation if any(e.label(c) is not None for c in categories)]
    train_inputs = [encoder_text(e.text) for e in train]  # read once: embedded, then their languages
    e_train = embed(train_inputs)
    val_inputs, fast_val = _validation_read(
        fast_model, val, validation_rows if len(val) == len(splits.validation) else None
    )
    e_val = embed(val_inputs)
    # Padded copies of validation texts (of the categories acting by default), for the stacked
    # calibration: the fast model's highest window keeps a padded message's evidence, the encoder reads
    # it diluted, and a calibration fitted on unpadded text alone would let the encoder lower it.
    padded, padded_texts = _padded_validation(splits.validation, categories)
    e_pad = embed([encoder_text(t) for t in padded_texts])
    fast_pad = fast_scores(fast_model, padded_texts)
    heads: dict[str, EncoderHead] = {}
    chosen: dict[str, float] = {}
    aucs: dict[str, dict[str, float]] = {}
    shares: dict[str, float] = {}
    for category in model.categories:
        y_train, y_val = _labels(train, category), _labels(val, category)
        rows, vrows = y_train >= 0, y_val >= 0
        if len(set(y_train[rows].tolist())) < 2 or len(set(y_val[vrows].tolist())) < 2:
            continue
        x, xv, yv = e_train[rows].astype(np.float64), e_val[vrows].astype(np.float64), y_val[vrows]
        by_c: dict[float, tuple[float, Any]] = {}
        for c in c_grid:
            lr = LogisticRegression(C=c, max_iter=2_000).fit(x, y_train[rows])
            by_c[c] = (float(roc_auc_score(yv, xv @ lr.coef_[0] + lr.intercept_[0])), lr)
        best_c = max(by_c, key=lambda c: by_c[c][0])
        lr = by_c[best_c][1]
        weights, intercept = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        raw = xv @ weights + intercept
        fv = fast_val[category][vrows]
        fit_x, fit_y = np.column_stack([logit(fv), raw]), yv
        y_pad = _labels(padded, category)
        if Category(category) in DEFAULT_ACTING and (y_pad >= 0).any():
            prows = y_pad >= 0
            pad_x = np.column_stack(
                [logit(fast_pad[category][prows]), e_pad[prows].astype(np.float64) @ weights + intercept]
            )
            fit_x, fit_y = np.vstack([fit_x, pad_x]), np.concatenate([yv, y_pad[prows]])
        stacked = _platt(fit_x, fit_y)
        alone = _platt(raw.reshape(-1, 1), yv)
        head = EncoderHead(weights, intercept, stacked, alone, (1.0, 0.0))
        combined = head.combine(fv, raw)
        center = CATEGORY_THRESHOLDS.get(Category(category), DEFAULT_THRESHOLDS).review
        band = choose_band(fast_val[category], band_share(share, len(categories)), center)
        heads[category] = replace(head, band=band)
        cascade_auc = float(roc_auc_score(yv, np.where(heads[category].uncertain(fv), combined, fv)))
        chosen[category] = best_c
        aucs[category] = {
            "fast": float(roc_auc_score(yv, fv)),
            "encoder": float(roc_auc_score(yv, raw)),
            "stacked": float(roc_auc_score(yv, combined)),
            "cascade": cascade_auc,
        }
        shares[category] = float(heads[category].uncertain(fast_val[category]).mean())
    languages = languages_of(train_inputs, min_language_texts)
    cascade = Cascade(ENCODER_NAME, encoder_sha256, heads, languages)
    return CascadeFit(cascade, chosen, aucs, shares)


def fast_scores(model: CategoryModel, texts: Sequence[str]) -> dict[str, NDArray[np.float64]]:
    """The fast model's probabilities per category, as the consumer computes them (no cascade)."""
    return category_scores(replace(model, cascade=None), texts)


def escalation(
    cascade: Cascade, fast: dict[str, NDArray[np.float64]], texts: Sequence[str], languages: Sequence[str]
) -> float:
    """The share of texts the cascade sends to the encoder (any category's band, a named identity
    group, or the language)."""
    n = len(languages)
    if n == 0:
        return 0.0
    out = np.fromiter((not cascade.knows(lang) for lang in languages), dtype=bool, count=n)
    return float((out | uncertain(cascade, fast, texts)).mean())
