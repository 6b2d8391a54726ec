"""The model trade-off on r/science: what each feature set buys in ROC-AUC, and what it costs in speed.

Every model reads the project's normal form of a text and ends in a logistic regression whose C is
chosen on the validation split from the champion's grid; the splits are the project's own
(`training.corpora.source_splits`, the training settings' seed and shares), and the test split is only scored.

  - word 1-gram TF-IDF: scikit-learn's `TfidfVectorizer` (sublinear tf, min_df 2), one row per text;
  - word 1–2-gram TF-IDF: the same with bigrams;
  - the champion: `training.train.fit` with its defaults (the serving featurizer's word 1–2-grams, dense
    style features, windows, calibration) — what `python -m training train` registers;
  - the champion's features and character 1–5-grams (`TfidfVectorizer(analyzer="char_wb")`), in one
    regression trained on the same windows and weights.

Quality: ROC-AUC on the test split with a bootstrap 95% interval, PR-AUC, ROC-AUC on validation, and
5-fold cross-validated ROC-AUC on train + validation (C fixed at the one validation chose) for the rows
where it is cheap. Speed: raw text in, probability out (the normal form included), batches of 500 test
texts, best of three runs of at least two seconds, one core.

Models that need packages not installed by default (sentence embeddings, word vectors, a fine-tuned
encoder) are not measured here; rows for them are read from `benchmarks/results/optional-models.json`
when that file exists (see `OPTIONAL`) and the table says where they came from.

  python -m benchmarks.tradeoff [--no-cv]                 # measure on one core, write the results
  python -m benchmarks.tradeoff measure DATA_DIR [--cv]   # the pinned measuring run: JSON on stdout
"""

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common import RESULTS, describe, machine, run_pinned, when
from training.corpora import Example, ExampleSplits

BATCH = 500
FOLDS = 5
BOOTSTRAP = 1_000
PREFIX = "tradeoff-"
OPTIONAL = "optional-models.json"
OPTIONAL_KEYS = ("model", "test_roc_auc", "msg_per_s", "source")
NOT_MEASURED = (
    "Models that need packages not installed by default (sentence embeddings, word vectors, a "
    f"fine-tuned encoder) are not in this table: no `{OPTIONAL}` results file was present."
)

Scores = NDArray[np.float64]


@dataclass(frozen=True)
class Fitted:
    """One fitted row: raw texts in, a score per text out (higher: more likely removed)."""

    score: Callable[[Sequence[str]], Scores]
    chosen_c: float
    validation_roc_auc: float
    columns: int


FitFn = Callable[[Sequence[Example], Sequence[Example], tuple[float, ...]], Fitted]


@dataclass(frozen=True)
class Candidate:
    """A row of the table: how to fit it, and whether cross-validating it is cheap."""

    name: str
    fit: FitFn
    cv: bool


def _labels(items: Sequence[Example]) -> NDArray[np.int_]:
    from training.train import labels  # noqa: PLC0415

    return labels(items)


def _normal_texts(texts: Sequence[str]) -> list[str]:
    from stream_consumer.normalize import normal_form  # noqa: PLC0415

    return [normal_form(t).text for t in texts]


def _highest_per_text(decision: Scores, text: NDArray[np.int64], n: int) -> Scores:
    """Each text's highest window score (as the scorer reads a long text)."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, text, decision)
    return out


def _choose_c(
    fit_one: Callable[[float], Any],
    validation_scores: Callable[[Any], Scores],
    y_val: NDArray[np.int_],
    grid: tuple[float, ...],
) -> tuple[Any, float, float]:
    """The regression of the grid's C that ranks the validation texts best (its model, C, ROC-AUC)."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    best: tuple[Any, float, float] | None = None
    for c in grid:
        model = fit_one(c)
        auc = float(roc_auc_score(y_val, validation_scores(model)))
        if best is None or auc > best[2]:
            best = (model, c, auc)
    assert best is not None
    return best


def word_tfidf(ngrams: int) -> FitFn:
    """Word n-gram TF-IDF from scikit-learn's vectoriser, then a logistic regression."""

    def fit(train: Sequence[Example], validation: Sequence[Example], grid: tuple[float, ...]) -> Fitted:
        from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        vectoriser = TfidfVectorizer(ngram_range=(1, ngrams), min_df=2, sublinear_tf=True)
        x_train = vectoriser.fit_transform(_normal_texts([i.text for i in train]))
        x_val = vectoriser.transform(_normal_texts([i.text for i in validation]))
        y_train = _labels(train)
        lr, c, auc = _choose_c(
            lambda c: LogisticRegression(C=c, max_iter=5_000).fit(x_train, y_train),
            lambda lr: lr.decision_function(x_val),
            _labels(validation),
            grid,
        )

        def score(texts: Sequence[str]) -> Scores:
            probability: Scores = lr.predict_proba(vectoriser.transform(_normal_texts(texts)))[:, 1]
            return probability

        return Fitted(score, c, auc, x_train.shape[1])

    return fit


def champion(train: Sequence[Example], validation: Sequence[Example], grid: tuple[float, ...]) -> Fitted:
    """`training.train.fit` with its defaults but the grid: the model the project registers."""
    from stream_consumer.normalize import normal_form  # noqa: PLC0415
    from training.train import ModelParams, fit  # noqa: PLC0415

    model = fit(train, validation, ModelParams(c_grid=grid))
    scorer = model.scorer

    def score(texts: Sequence[str]) -> Scores:
        return scorer.predict_proba([normal_form(t) for t in texts])

    return Fitted(
        score,
        model.chosen_c,
        model.validation_auc_by_c[model.chosen_c],
        scorer.featurizer.n_columns + len(scorer.meta_weights),
    )


def champion_with_characters(
    train: Sequence[Example], validation: Sequence[Example], grid: tuple[float, ...]
) -> Fitted:
    """The champion's window rows (its featurizer, standardiser and text weights) beside character
    1–5-gram TF-IDF of the whole text, in one regression; a text scores as its highest window."""
    import scipy.sparse as sp  # noqa: PLC0415
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    from stream_consumer.features import WindowSpec, fit_featurizer  # noqa: PLC0415
    from stream_consumer.normalize import NormalText, normal_form  # noqa: PLC0415
    from training.features import Standardiser, design, window_rows  # noqa: PLC0415
    from training.train import ModelParams  # noqa: PLC0415

    params = ModelParams()
    spec = WindowSpec(params.window_tokens, params.max_windows)
    n_train = [normal_form(i.text) for i in train]
    featurizer = fit_featurizer([t.text for t in n_train], params.min_df, params.bigrams)
    standardiser = Standardiser.fit(window_rows(featurizer, n_train, spec).meta)
    characters = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), min_df=2, sublinear_tf=True)
    characters.fit([t.text for t in n_train])

    def matrix(batch: Sequence[NormalText]) -> tuple[Any, NDArray[np.int64]]:
        rows = design(window_rows(featurizer, batch, spec), standardiser)
        chars = characters.transform([t.text for t in batch])
        return sp.hstack([rows.matrix, chars[rows.text]], format="csr"), rows.text

    x, text = matrix(n_train)
    weight = 1.0 / np.bincount(text)[text]
    weight *= len(train) / weight.sum()
    y_rows = _labels(train)[text]
    x_val, text_val = matrix([normal_form(i.text) for i in validation])

    def decide(lr: Any, x: Any, text: NDArray[np.int64], n: int) -> Scores:
        return _highest_per_text(lr.decision_function(x), text, n)

    lr, c, auc = _choose_c(
        lambda c: LogisticRegression(C=c, max_iter=5_000).fit(x, y_rows, sample_weight=weight),
        lambda lr: decide(lr, x_val, text_val, len(validation)),
        _labels(validation),
        grid,
    )

    def score(texts: Sequence[str]) -> Scores:
        x_new, text_new = matrix([normal_form(t) for t in texts])
        return decide(lr, x_new, text_new, len(texts))

    return Fitted(score, c, auc, x.shape[1])


CANDIDATES = (
    Candidate("word 1-gram TF-IDF + LR (scikit-learn vectoriser)", word_tfidf(1), cv=True),
    Candidate("word 1–2-gram TF-IDF + LR (scikit-learn vectoriser)", word_tfidf(2), cv=True),
    Candidate("word 1–2-gram TF-IDF + style features + LR (the champion)", champion, cv=True),
    Candidate("the champion's features + character 1–5-grams", champion_with_characters, cv=False),
)


def _roc_auc_by_rank(y: NDArray[np.int_], scores: Scores) -> float:
    """ROC-AUC from average ranks (the Mann–Whitney statistic): ties count half."""
    from scipy.stats import rankdata  # noqa: PLC0415

    ranks = rankdata(scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_interval(y: NDArray[np.int_], scores: Scores, seed: int = 7) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of test ROC-AUC over `BOOTSTRAP` resamples of the test texts."""
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(y), len(y))
        if 0 < y[pick].sum() < len(pick):
            aucs.append(_roc_auc_by_rank(y[pick], scores[pick]))
    low, high = np.percentile(aucs, [2.5, 97.5])
    return float(low), float(high)


def cross_validated(candidate: Candidate, items: Sequence[Example], c: float, seed: int) -> list[float]:
    """ROC-AUC of each held-out fold, fitting on the other folds with C fixed."""
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

    y = _labels(items)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    # With one C in the grid the held-out fold only measures: its ROC-AUC is the fit's validation one.
    return [
        candidate.fit([items[i] for i in fit_on], [items[i] for i in held], (c,)).validation_roc_auc
        for fit_on, held in folds
    ]


def measure_row(candidate: Candidate, splits: ExampleSplits, seed: int, cv: bool) -> dict[str, Any]:
    """One row: fit on train (C on validation), score test, time it, and cross-validate if cheap."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: PLC0415

    from benchmarks.scoring import _best_rate  # noqa: PLC0415
    from training.train import ModelParams  # noqa: PLC0415

    started = time.perf_counter()
    fitted = candidate.fit(splits.train, splits.validation, ModelParams().c_grid)
    fit_s = time.perf_counter() - started
    texts, y = [x.text for x in splits.test], _labels(splits.test)
    scores = fitted.score(texts)
    low, high = bootstrap_interval(y, scores)
    batches = [texts[i : i + BATCH] for i in range(0, len(texts) - BATCH + 1, BATCH)]

    def run() -> int:
        for b in batches:
            fitted.score(b)
        return sum(map(len, batches))

    row: dict[str, Any] = {
        "model": candidate.name,
        "chosen_c": fitted.chosen_c,
        "columns": fitted.columns,
        "fit_s": fit_s,
        "validation_roc_auc": fitted.validation_roc_auc,
        "test_roc_auc": float(roc_auc_score(y, scores)),
        "test_roc_auc_95": [low, high],
        "test_pr_auc": float(average_precision_score(y, scores)),
        "msg_per_s": _best_rate(run),
        "cv_roc_auc": None,
    }
    if cv and candidate.cv:
        started = time.perf_counter()
        aucs = cross_validated(candidate, [*splits.train, *splits.validation], fitted.chosen_c, seed)
        row["cv_roc_auc"] = {"mean": float(np.mean(aucs)), "std": float(np.std(aucs)), "folds": aucs}
        row["cv_s"] = time.perf_counter() - started
    return row


def measure(data_dir: Path, cv: bool) -> dict[str, Any]:
    """Every candidate on the project's r/science splits."""
    from training.corpora import Source, source_splits  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415

    settings = TrainingSettings()
    splits = source_splits(
        data_dir,
        Source.RSCIENCE,
        seed=settings.seed,
        validation=settings.validation_share,
        test=settings.test_share,
    )
    started = time.perf_counter()
    rows = [measure_row(c, splits, settings.seed, cv) for c in CANDIDATES]
    return {
        "splits": {
            "seed": settings.seed,
            "train": len(splits.train),
            "validation": len(splits.validation),
            "test": len(splits.test),
            "test_removed": int(_labels(splits.test).sum()),
        },
        "batch_size": BATCH,
        "folds": FOLDS if cv else 0,
        "bootstrap": BOOTSTRAP,
        "rows": rows,
        "elapsed_s": time.perf_counter() - started,
    }


def optional_rows(directory: Path = RESULTS) -> dict[str, Any]:
    """Rows measured outside this script (models needing optional packages), when their file exists."""
    path = directory / OPTIONAL
    if not path.is_file():
        return {"optional_rows": [], "optional_note": NOT_MEASURED}
    rows = json.loads(path.read_text())["rows"]
    for row in rows:
        missing = [k for k in OPTIONAL_KEYS if k not in row]
        if missing:
            raise ValueError(f"{path}: a row lacks {missing}")
    return {"optional_rows": rows, "optional_note": f"Rows marked † are read from `{OPTIONAL}`."}


def _cv(row: dict[str, Any]) -> str:
    cv = row.get("cv_roc_auc")
    return f"{cv['mean']:.3f} ± {cv['std']:.3f}" if cv else "–"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def table(result: dict[str, Any], source: str) -> str:
    """The markdown table of a trade-off results file, with its caption and the optional rows' note."""
    s = result["splits"]
    cv = (
        f"CV: {result['folds']}-fold on train + validation where a fit is cheap"
        if result["folds"]
        else "no CV"
    )
    elapsed = f"; {result['elapsed_s']:.0f} s in all" if "elapsed_s" in result else ""
    lines = [
        f"Model trade-off, from `{source}` ({when(Path(source))}; {describe(result.get('machine', {}))}): "
        f"r/science test split of {s['test']} comments, {s['test_removed']} removed; {cv}; "
        f"speed on one core, batches of {result['batch_size']}{elapsed}:",
        "",
        "| model | test ROC-AUC (95% bootstrap) | test PR-AUC | CV ROC-AUC | msg/s/core |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        low, high = r["test_roc_auc_95"]
        lines.append(
            f"| {r['model']} | {r['test_roc_auc']:.3f} ({low:.3f}–{high:.3f}) | {r['test_pr_auc']:.3f} "
            f"| {_cv(r)} | {_rate(r['msg_per_s'])} |"
        )
    for r in result.get("optional_rows", []):
        lines.append(f"| {r['model']} † | {r['test_roc_auc']:.3f} | – | {_cv(r)} | {_rate(r['msg_per_s'])} |")
    lines += ["", result["optional_note"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tradeoff", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--no-cv", action="store_true", help="skip the 5-fold cross-validation")
    args = parser.parse_args(argv)
    from training.settings import TrainingSettings  # noqa: PLC0415

    data_dir = str(TrainingSettings().data_dir)
    started = datetime.now(UTC)
    print("benchmark: model trade-off …", file=sys.stderr, flush=True)
    result = {
        "machine": machine(),
        **run_pinned(
            "benchmarks.tradeoff", "measure", data_dir, *([] if args.no_cv else ["--cv"]), timeout=1_800
        ),
        **optional_rows(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{PREFIX}{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result, path.name))
    print(f"results: {path} (`python -m benchmarks report` renders latest.md)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure(Path(sys.argv[2]), cv="--cv" in sys.argv[3:])))
    else:
        sys.exit(main())
