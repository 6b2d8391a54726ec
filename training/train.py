"""Fit the moderation model: featurize, a logistic regression chosen on validation, then calibration.

The regression learns from windows of tokens (weighted so each text counts once), as the scorer reads
long texts; C is chosen and the sigmoid calibration fitted on the validation texts' highest-window
scores — what serving computes.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from contracts.categories import Category
from stream_consumer.features import META_NAMES, WHOLE, TextFeaturizer, WindowSpec, fit_featurizer
from stream_consumer.normalize import NormalText, normal_form
from stream_consumer.scorer import BatchRows, CategoryModel, LinearScorer
from training.cascade import CascadeFit
from training.corpora import Example, ExampleSplits, bundled_count, categories_with_both_classes
from training.features import Design, Standardiser, design, window_rows
from training.identity import TERMS
from training.padding import identity_swaps, pad, pad_each


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
    # A category head (`fit_categories`) learns from whole texts and stacks its whole-text score with
    # its highest window's (see `scorer`); without, it learns from windows and reads the highest alone.
    stacked: bool = False
    # Whether the head also learns from the padded copies of training texts (`CategoryParams.padded_share`)
    # and fits its stack on padded copies of validation texts too: padding is no evasion.
    padded: bool = False
    # Counterfactual copies of training texts that name an identity, naming another instead
    # (`padding.identity_swaps`): "benign" copies the texts no category labels 1, "every" every one (the
    # hateful too), so that each identity stands in the same contexts as the others and which one a
    # message names stops being evidence.
    swaps: Literal["none", "benign", "every"] = "none"
    # Whether a stacked head reads every style feature; without, only the obfuscation signals
    # (`EVASION_SIGNALS`): word and character n-grams carry insults, hate and spam, and the style
    # features' scale slows the solver several-fold for no measured gain on them.
    style: bool = True
    # Whether a stacked head reads the words and word pairs of tokens shorter than
    # `CategoryParams.min_token_chars` (punctuation, single letters): the community's removals lean on
    # them (without, 11% of the steps of appending insults lowered its score, where the behaviour gate
    # allows 10%), and so does spam; toxicity and hate carry no source's habits without them.
    short_words: bool = True
    # Whether a stacked head reads the character n-grams: the community's removals of long comments
    # learn nothing more from them (r/science test ROC-AUC the same) and its solver takes minutes more.
    chars: bool = True


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


def labels(
    items: Sequence[Example], category: Category = Category.REMOVAL
) -> np.ndarray[Any, np.dtype[np.int_]]:
    """The items' labels of one category (each must label it)."""
    return np.fromiter((i.labels[category] for i in items), dtype=int, count=len(items))


def normal_forms(items: Sequence[Example]) -> list[NormalText]:
    return [normal_form(i.text) for i in items]


def _platt(
    raw: np.ndarray[Any, np.dtype[np.float64]], y: np.ndarray[Any, np.dtype[np.int_]]
) -> np.ndarray[Any, Any]:
    """Sigmoid calibration [a, b] with p = 1 / (1 + exp(a * raw + b)), fitted on (raw, y)."""
    lr = LogisticRegression(C=1e6, max_iter=1_000).fit(raw.reshape(-1, 1), y)
    return np.array([-float(lr.coef_[0, 0]), -float(lr.intercept_[0])])


def fit(
    train: Sequence[Example],
    validation: Sequence[Example],
    params: ModelParams = ModelParams(),  # noqa: B008
    category: Category = Category.REMOVAL,
) -> TrainedModel:
    """One category's model (the moderators' removals by default): one regression per C on train, the
    best on validation kept and calibrated on validation."""
    spec = WindowSpec(params.window_tokens, params.max_windows, params.row_norm)
    n_train, n_val = normal_forms(train), normal_forms(validation)
    y_train, y_val = labels(train, category), labels(validation, category)
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
    columns: NDArray[np.int64] | None = None,
) -> LinearScorer:
    """The numpy serving form of a fitted regression (uncalibrated until `fit` sets its calibration);
    `columns` names the design's columns the regression read (the others weigh 0)."""
    n = featurizer.n_columns
    coef = np.zeros(n + len(META_NAMES))
    coef[slice(None) if columns is None else columns] = lr.coef_[0]
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


class CategoryParams(BaseModel):
    """The knobs of a multi-category run: the shared featurizer's, then each category's regression
    and window (a community's removals read whole comments; insults, hate and spam short windows, so
    that padding cannot dilute them)."""

    model_config = ConfigDict(frozen=True)

    min_df: int = 2
    bigrams: bool = True
    chars: bool = True  # character n-grams of words beside the words (see `features.char_ngram_keys`)
    # Tokens of one character (punctuation, single letters) feed no character n-gram, and the heads
    # whose `short_words` is off read no word or word pair of them: learnt, they were each source's
    # habits ("@ user", "rt :", "&amp;") and did not carry to a source left out. They still count for
    # the windows and the style features.
    min_token_chars: int = Field(default=2, ge=1)
    # The share of training texts also learnt padded with benign words (20–60 of them, before or after:
    # `pad`) by the heads whose `padded` is set.
    padded_share: float = Field(default=0.5, ge=0, le=1)
    seed: int = 42
    # Copies of each text naming an identity for the heads copying every text (hate).
    identity_copies: int = Field(default=1, ge=1)
    heads: dict[Category, ModelParams] = {
        c: ModelParams(
            # Hate reads windows of 12: at 16, once one-character tokens fed no character n-gram, 43.8%
            # of its flags stayed flagged under fifty-odd padding words through the cascade (the gate
            # needs 45%); at 12, 50.5% (at 8, 51.4%).
            window_tokens=12 if c is Category.HATE else 16,
            max_windows=16,
            c_grid=(1.0,),  # validation chose 1 over 0.3 for every acting head in every full run
            # hate is rare: balanced weights made its identity terms weigh more (the templated bias gate)
            class_weight=None if c is Category.HATE else "balanced",
            stacked=True,
            padded=True,
            # Hate learns from every text's copies (its templated identity score rose most with them);
            # toxicity from the benign texts' (with every text's its identity-swap check reached its
            # limit).
            swaps={Category.HATE: "every", Category.TOXICITY: "benign"}.get(c, "none"),
            style=False,
            # Spam reads them: a link is spelt in them ("http : / / www . … . com"); left out, spam
            # without SMS fell from 0.809 to 0.781 (the baseline reads 0.817).
            short_words=c is Category.SPAM,
        )
        for c in (Category.TOXICITY, Category.HATE, Category.SPAM)
    } | {
        Category.REMOVAL: ModelParams(stacked=True, chars=False),
    }


@dataclass(frozen=True)
class TrainedCategories:
    """The exported category model and how each head was chosen."""

    model: CategoryModel
    chosen_c: dict[Category, float]
    validation_auc_by_c: dict[Category, dict[float, float]]
    cascade: "CascadeFit | None" = None  # the encoder heads' fit, when the model has them
    # every validation text (`splits.validation`, in order) normalised and featurised, as the heads were
    # chosen and stacked on it: the cascade's fit scores it without featurising it again
    validation_rows: BatchRows | None = None


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


STACK_PADDED_COPIES = 4  # padded copies of each validation text the stack of a padded head is fitted on


def _benign_mask(part: "_Part") -> NDArray[np.bool_]:
    """The texts of a part that no category labels 1 (every label it has is 0)."""
    n = len(part.texts)
    positive = np.zeros(n, dtype=bool)
    labelled = np.zeros(n, dtype=bool)
    for y in part.labels.values():
        positive |= y == 1
        labelled |= y >= 0
    out: NDArray[np.bool_] = labelled & ~positive
    return out


def _benign(part: "_Part") -> list[str]:
    return [part.texts[i].text for i in np.flatnonzero(_benign_mask(part))]


def _copies(part: "_Part", idx: NDArray[np.int64], texts: Sequence[str]) -> "_Part":
    """Copies of the part's texts `idx` (as `texts`), with their labels."""
    return _Part([normal_form(t) for t in texts], {c: y[idx] for c, y in part.labels.items()})


def _padded(part: "_Part", idx: NDArray[np.int64], benign: Sequence[str], seed: int) -> "_Part":
    """Padded copies of the part's texts `idx`, with their labels (one random stream)."""
    return _copies(part, idx, pad([part.texts[i].text for i in idx.tolist()], benign, seed))


def _padded_each(part: "_Part", start: int, benign: Sequence[str], seed: int, share: float) -> "_Part":
    """Padded copies of about `share` of the part's texts from `start` on (the run-time sets'), each
    text chosen and padded by its own random stream: one more decision changes no other copy."""
    idx = np.array(
        [
            i
            for i in range(start, len(part.texts))
            if random.Random(f"{seed}:chosen:{part.texts[i].text}").random() < share
        ],
        dtype=np.int64,
    )
    return _copies(part, idx, pad_each([part.texts[i].text for i in idx.tolist()], benign, seed))


def _head(part: "_Part", n: int) -> "_Part":
    return _Part(part.texts[:n], {c: y[:n] for c, y in part.labels.items()})


def _join(a: "_Part", b: "_Part") -> "_Part":
    return _Part(a.texts + b.texts, {c: np.concatenate([a.labels[c], b.labels[c]]) for c in a.labels})


def fit_stack(
    whole: NDArray[np.float64], highest: NDArray[np.float64], y: NDArray[np.int_]
) -> NDArray[np.float64]:
    """[whole, highest window, bias]: a logistic regression of y on the two linear scores, both weights at
    least 0 (a score that stops counting is dropped and the other refitted: more evidence never lowers)."""
    columns = [0, 1]
    while True:
        x = np.column_stack([whole, highest])[:, columns]
        lr = LogisticRegression(C=1e4, max_iter=1_000).fit(x, y)
        coef = lr.coef_[0]
        if (coef >= 0).all() or len(columns) == 1:
            out = np.zeros(3)
            out[columns] = np.maximum(coef, 0.0)
            out[2] = float(lr.intercept_[0])
            return out
        columns = [columns[int(np.argmax(coef))]]


def augmentations(
    train: _Part,
    validation: _Part,
    params: CategoryParams,
    wanted: Sequence[Category],
    bundled: tuple[int, int],
) -> tuple[dict[str, _Part], _Part | None]:
    """The copies the heads learn from beside the training texts (identity swaps by scope, padded
    copies) and the padded validation copies a padded head's stack is fitted on.

    `bundled`: how many training and validation texts (first in each part) come from the bundled sets.
    Their copies are drawn from one random stream and padded with their own benign words, exactly as a
    training on them alone draws them; the run-time sets' texts after them (moderators' decisions, which
    grow between retrainings) are chosen and padded each by its own stream. So a retraining on more
    decisions learns the bundled texts as the last one did, and heads the decisions never label move
    only by the shared featurizer."""
    n_train, n_val = bundled
    extra: dict[str, _Part] = {}
    adjectives = sorted({t.adjective.lower() for t in TERMS})
    for scope in sorted({params.heads[c].swaps for c in wanted} - {"none"}):
        which = np.flatnonzero(_benign_mask(train) | (scope == "every"))
        n_copies = params.identity_copies if scope == "every" else 1
        texts = [train.texts[i].text for i in which.tolist()]
        # one stream in text order: the bundled texts (first) draw what they drew without the others
        swaps = identity_swaps(texts, adjectives, params.seed, n_copies)
        idx = which[[i for i, _ in swaps]]
        extra[f"swapped_{scope}"] = _copies(train, idx, [t for _, t in swaps])
    padded_val: _Part | None = None
    if any(params.heads[c].padded for c in wanted):
        rng = np.random.default_rng(params.seed)
        chosen = np.sort(rng.choice(n_train, int(params.padded_share * n_train), replace=False))
        pool = _benign(_head(train, n_train))
        extra["padded"] = _join(
            _padded(train, chosen, pool, params.seed),
            _padded_each(train, n_train, pool, params.seed, params.padded_share),
        )
        index = np.arange(n_val)
        pool_val = _benign(_head(validation, n_val))
        # The stack weighs padded copies four to one (with two, hate's padded flags kept through the
        # cascade sat at its floor).
        for k in range(1, STACK_PADDED_COPIES + 1):
            copy = _join(
                _padded(validation, index, pool_val, params.seed + k),
                _padded_each(validation, n_val, pool_val, params.seed + k, 1.0),
            )
            padded_val = copy if padded_val is None else _join(padded_val, copy)
    return extra, padded_val


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
    featurizer = fit_featurizer(
        [t.text for t in train.texts], params.min_df, params.bigrams, params.chars, params.min_token_chars
    )
    bundled = (bundled_count(splits.train), bundled_count(splits.validation))
    extra, padded_val = augmentations(train, validation, params, wanted, bundled)
    designs: dict[tuple[WindowSpec, ...] | tuple[str, ...], tuple[Standardiser, Design]] = {}
    # The validation texts (and their padded copies) featurised once, read by every stacked head.
    val_rows = BatchRows(featurizer, validation.texts)
    padded = (padded_val, BatchRows(featurizer, padded_val.texts)) if padded_val is not None else None
    heads: dict[str, LinearScorer] = {}
    chosen_c: dict[Category, float] = {}
    aucs: dict[Category, dict[float, float]] = {}
    for category in wanted:
        head = params.heads[category]
        if not head.stacked:
            fitted = _fit_windows(featurizer, head, category, train, validation, designs)
        else:
            copies = (
                *(("padded",) if head.padded else ()),
                *(() if head.swaps == "none" else (f"swapped_{head.swaps}",)),
            )
            stack_on = padded if head.padded else None
            fitted = _fit_stacked(
                featurizer, head, category, train, extra, copies, (validation, val_rows), designs, stack_on
            )
        heads[category], chosen_c[category], aucs[category] = fitted
    model = CategoryModel(heads, {"categories": ",".join(heads)})
    return TrainedCategories(model, chosen_c, aucs, validation_rows=val_rows)


def _labelled(part: _Part, category: Category) -> tuple[list[NormalText], NDArray[np.int_]]:
    y = part.labels[category]
    idx = np.flatnonzero(y >= 0)
    return [part.texts[i] for i in idx], y[idx]


def _fit_stacked(
    featurizer: TextFeaturizer,
    head: ModelParams,
    category: Category,
    train: _Part,
    extra: dict[str, _Part],
    copies: tuple[str, ...],
    validation: tuple[_Part, BatchRows],
    designs: dict[tuple[WindowSpec, ...] | tuple[str, ...], tuple[Standardiser, Design]],
    padded_validation: tuple[_Part, BatchRows] | None = None,
) -> tuple[LinearScorer, float, dict[float, float]]:
    """A head that learns from whole texts and the `copies` (of `extra`) joined to them (C chosen on
    the validation texts' whole-text ROC-AUC), then stacks its whole-text and highest-window scores on
    validation (and its padded copies). Each validation part comes with its rows, featurised once for
    every head: a head scores the whole part and keeps the texts that label its category."""
    spec = WindowSpec(head.window_tokens, head.max_windows, head.row_norm)
    # Each part featurised whole once, standardised as the training texts are, shared by every head.
    if ("whole",) not in designs:
        rows = window_rows(featurizer, train.texts, WHOLE)
        standardiser = Standardiser.fit(rows.meta)
        designs[("whole",)] = (standardiser, design(rows, standardiser))
    standardiser = designs[("whole",)][0]
    for name in copies:
        if ("whole", name) not in designs:
            rows = window_rows(featurizer, extra[name].texts, WHOLE)
            designs[("whole", name)] = (standardiser, design(rows, standardiser))
    stacked_rows = sp.vstack(
        [designs[("whole", *k)][1].matrix for k in [(), *((c,) for c in copies)]], format="csr"
    )
    y_all = np.concatenate([train.labels[category], *(extra[name].labels[category] for name in copies)])
    labelled = np.flatnonzero(y_all >= 0)
    n = featurizer.n_columns
    style = range(len(META_NAMES)) if head.style else [META_NAMES.index(m) for m in EVASION_SIGNALS]
    text = np.arange(n if head.chars else featurizer.n_word_columns)
    if not head.short_words:
        text = np.setdiff1d(text, featurizer.short_word_columns())
    columns = np.r_[text, n + np.asarray(style, dtype=np.int64)]
    matrix = stacked_rows[labelled][:, columns]
    val_part, val_rows = validation
    lr = LogisticRegression(class_weight=head.class_weight, max_iter=head.max_iter, warm_start=True)
    scorers: dict[float, LinearScorer] = {}
    val_scores: dict[float, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    by_c: dict[float, float] = {}
    y_val = val_part.labels[category]
    for c in sorted(head.c_grid):
        lr.set_params(C=c)
        lr.fit(matrix, y_all[labelled])
        metadata = {"C": str(c), "category": category}
        scorers[c] = _export(featurizer, standardiser, lr, spec, metadata, columns)
        val_scores[c] = scorers[c].whole_and_highest(val_part.texts, val_rows)
        by_c[c] = float(roc_auc_score(y_val[y_val >= 0], val_scores[c][0][y_val >= 0]))
    best = max(by_c, key=lambda c: by_c[c])
    scorer = scorers[best]
    scored = [(y_val, val_scores[best])]
    if padded_validation is not None:
        padded_part, padded_rows = padded_validation
        scored.append(
            (padded_part.labels[category], scorer.whole_and_highest(padded_part.texts, padded_rows))
        )
    stack = fit_stack(
        np.concatenate([whole[y >= 0] for y, (whole, _) in scored]),
        np.concatenate([highest[y >= 0] for y, (_, highest) in scored]),
        np.concatenate([y[y >= 0] for y, _ in scored]),
    )
    metadata = {"C": str(best), "calibration": "stack", "category": category}
    # The stack is the calibration: its output is the log-odds, p = 1 / (1 + exp(-raw)).
    return replace(scorer, stack=stack, calibration_x=np.array([-1.0, 0.0]), metadata=metadata), best, by_c


def _fit_windows(
    featurizer: TextFeaturizer,
    head: ModelParams,
    category: Category,
    train: _Part,
    validation: _Part,
    designs: dict[tuple[WindowSpec, ...] | tuple[str, ...], tuple[Standardiser, Design]],
) -> tuple[LinearScorer, float, dict[float, float]]:
    """A head that learns from windows (each text counting once) and reads a text's highest window."""
    spec = WindowSpec(head.window_tokens, head.max_windows, head.row_norm)
    if (spec,) not in designs:
        windows = window_rows(featurizer, train.texts, spec)
        standardiser = Standardiser.fit(windows.meta)
        designs[(spec,)] = (standardiser, design(windows, standardiser))
    standardiser, rows = designs[(spec,)]
    y_all = train.labels[category]
    labelled = y_all[rows.text] >= 0
    matrix, text = rows.matrix[labelled], rows.text[labelled]
    weight = 1.0 / np.bincount(text)[text]
    n_texts = int((y_all >= 0).sum())
    val_batch, y_val = _labelled(validation, category)
    scorers: dict[float, LinearScorer] = {}
    by_c: dict[float, float] = {}
    # One regression refitted from the last solution as C grows (a warm start: fewer iterations).
    lr = LogisticRegression(class_weight=head.class_weight, max_iter=head.max_iter, warm_start=True)
    for c in sorted(head.c_grid):
        lr.set_params(C=c)
        lr.fit(matrix, y_all[text], sample_weight=weight * n_texts / weight.sum())
        scorers[c] = _export(featurizer, standardiser, lr, spec, {"C": str(c), "category": category})
        by_c[c] = float(roc_auc_score(y_val, scorers[c].decision(val_batch)))
    best = max(by_c, key=lambda c: by_c[c])
    calibration = _platt(scorers[best].decision(val_batch), y_val)
    metadata = {"C": str(best), "calibration": "sigmoid", "category": category}
    return replace(scorers[best], calibration_x=calibration, metadata=metadata), best, by_c
