"""The category model's in-repo proxies: how each head ranks texts of a kind it was not fitted on.

Every fit is the project's own — `training.train.fit_categories` with `CategoryParams()` (the flow's
featurizer, windows, C grid and sigmoid calibration) on the project's split (`split_examples` with the
training settings' seed and shares) — and every score goes through `category_scores`, as served. A
proxy's test texts never reach its fit: each of them (case and white space ignored, as the split
dedupes) is taken out of training and validation, and the fit never reads a test part. A proxy fits only
the head it measures: a head depends on the training texts (the shared featurizer) and its own labels
alone, so it is the head a fit of every category would give. Removal is fitted as the flow fits.

  - spam, leave one YouTube video out: fitted on the train parts of SMS and the other videos (and of
    every other set, spam negatives), C and calibration on their validation parts; scored on every
    comment of the left-out video (its unique texts). Per video, then the mean and the minimum;
  - toxicity, leave one set out: fitted without OLID, scored on OLID's test part; then without Davidson,
    scored on Davidson's test part;
  - hate, HateXplain by 5-fold cross-validation: the folds (stratified by the hate label) cover
    HateXplain's train and validation parts (the shared file is HateXplain's own validation split; its
    test part here stays unused); each fold is scored by a head fitted without it, the other folds in the
    part the split gave them and every other set's train and validation parts as the flow has them;
  - removal: the flow's fit of every category on every set's train part, scored on r/science's test
    part. That same model's scores on every other test part (each set in training) are reported as
    `in_domain`, for comparison with the proxies.

ROC-AUC and PR-AUC (average precision) are scikit-learn's; sizes count the examples labelling the
category (`train_texts`: every training text, what the featurizer is fitted on).

  python -m benchmarks.proxies [--c 3.0]   # results/proxies-<time>.json and results/proxies-latest.json
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

from benchmarks.common import RESULTS, machine
from contracts.categories import Category
from stream_consumer.scorer import CategoryModel
from training.corpora import Example, ExampleSplits, Source, dedupe_key, load_all, split_examples
from training.serving import category_scores
from training.settings import TrainingSettings
from training.train import CategoryParams, fit_categories

PREFIX = "proxies-"
LATEST = f"{PREFIX}latest.json"
FOLDS = 5
LEFT_OUT_SETS = (Source.OLID, Source.DAVIDSON)


@dataclass(frozen=True)
class Proxy:
    """One measurement: the head, what it is fitted on (train and validation only) and what it scores."""

    name: str
    category: Category
    fit_on: ExampleSplits  # its test part is always empty
    test: list[Example]
    categories: tuple[Category, ...] = ()  # the heads to fit; () is the measured head alone


def held_out(
    name: str,
    category: Category,
    splits: ExampleSplits,
    test: Sequence[Example],
    leave_out: Callable[[Example], bool] = lambda e: False,
    categories: tuple[Category, ...] = (),
) -> Proxy:
    """A proxy scoring `test` (its examples labelling `category`), fitted on the splits' train and
    validation parts without any of `test`'s texts and without the examples `leave_out` names."""
    keys = {dedupe_key(e.text) for e in test}

    def keep(part: Sequence[Example]) -> list[Example]:
        return [e for e in part if not leave_out(e) and dedupe_key(e.text) not in keys]

    return Proxy(
        name,
        category,
        ExampleSplits(keep(splits.train), keep(splits.validation), []),
        [e for e in test if e.label(category) is not None],
        categories,
    )


def unique(examples: Sequence[Example], seed: int) -> list[Example]:
    """One example per text, as the project's split keeps them (a text labelled both ways dropped)."""
    return split_examples(examples, seed, validation=0.0, test=1.0).test


def _in_video(video: str) -> Callable[[Example], bool]:
    return lambda e: e.source == Source.YOUTUBE and e.group == video


def spam_by_video(examples: Sequence[Example], splits: ExampleSplits, seed: int) -> list[Proxy]:
    """Spam, each YouTube video left out in turn: scored on every comment of that video."""
    videos = sorted({e.group for e in examples if e.source == Source.YOUTUBE})
    proxies = []
    for video in videos:
        comments = [e for e in examples if e.source == Source.YOUTUBE and e.group == video]
        proxies.append(
            held_out(
                video,
                Category.SPAM,
                splits,
                unique(comments, seed),
                _in_video(video),
            )
        )
    return proxies


def toxicity_without(splits: ExampleSplits, source: Source) -> Proxy:
    """Toxicity fitted without one set, scored on that set's test part."""
    test = [e for e in splits.test if e.source == source]
    return held_out(str(source), Category.TOXICITY, splits, test, lambda e: e.source == source)


def hate_folds(splits: ExampleSplits, folds: int, seed: int) -> list[Proxy]:
    """Hate on HateXplain's train and validation parts, each of `folds` stratified folds left out."""
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

    posts = [
        e
        for e in splits.train + splits.validation
        if e.source == Source.HATEXPLAIN and e.label(Category.HATE) is not None
    ]
    y = np.array([e.labels[Category.HATE] for e in posts])
    split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return [
        held_out(f"fold {k + 1}", Category.HATE, splits, [posts[i] for i in held])
        for k, (_, held) in enumerate(split)
    ]


def removal(splits: ExampleSplits, categories: Sequence[Category]) -> Proxy:
    """Removal as the flow fits it (every category on every set's train part), on r/science's test part."""
    test = [e for e in splits.test if e.source == Source.RSCIENCE]
    return held_out(str(Source.RSCIENCE), Category.REMOVAL, splits, test, categories=tuple(categories))


def leaks(proxy: Proxy) -> list[str]:
    """The test texts of a proxy that its fit would read (none, by construction)."""
    seen = {dedupe_key(e.text) for e in proxy.fit_on.train + proxy.fit_on.validation + proxy.fit_on.test}
    return [e.text for e in proxy.test if dedupe_key(e.text) in seen]


def _labelling(examples: Sequence[Example], category: Category) -> list[Example]:
    return [e for e in examples if e.label(category) is not None]


def _quality(category: Category, examples: Sequence[Example], scores: np.ndarray[Any, Any]) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: PLC0415

    y = np.array([e.labels[category] for e in examples])
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "pr_auc": float(average_precision_score(y, scores)),
        "test": len(y),
        "test_positive": int(y.sum()),
    }


def measure_proxy(proxy: Proxy, params: CategoryParams) -> tuple[dict[str, Any], CategoryModel]:
    """Fit the proxy's heads, score its test examples; its row and the fitted model."""
    found = leaks(proxy)
    if found:
        raise AssertionError(f"{proxy.category} {proxy.name}: {len(found)} test texts in the fit")
    started = time.perf_counter()
    fitted = fit_categories(proxy.fit_on, params, list(proxy.categories or (proxy.category,)))
    fit_s = time.perf_counter() - started
    scores = category_scores(fitted.model, [e.text for e in proxy.test])[proxy.category]
    row = {
        **_quality(proxy.category, proxy.test, scores),
        "train": len(_labelling(proxy.fit_on.train, proxy.category)),
        "train_positive": sum(
            e.labels[proxy.category] for e in _labelling(proxy.fit_on.train, proxy.category)
        ),
        "validation": len(_labelling(proxy.fit_on.validation, proxy.category)),
        "train_texts": len(proxy.fit_on.train),
        "chosen_c": fitted.chosen_c[proxy.category],
        "validation_roc_auc_by_c": {str(c): a for c, a in fitted.validation_auc_by_c[proxy.category].items()},
        "fit_s": fit_s,
    }
    return row, fitted.model


def in_domain_quality(model: CategoryModel, test: Sequence[Example]) -> dict[str, dict[str, Any]]:
    """Each head of `model` on each set's test part labelling its category with both classes."""
    out: dict[str, dict[str, Any]] = {}
    for category in Category:
        if category not in model.categories:
            continue
        labelling = _labelling(test, category)
        scores = category_scores(model, [e.text for e in labelling])[category]
        for name in sorted({e.source for e in labelling}):
            mine = np.array([e.source == name for e in labelling])
            items = [e for e in labelling if e.source == name]
            if len({e.labels[category] for e in items}) == 2:
                out[f"{category}/{name}"] = _quality(category, items, scores[mine])
    return out


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    roc = [r["roc_auc"] for r in rows]
    pr = [r["pr_auc"] for r in rows]
    return {
        "mean_roc_auc": float(np.mean(roc)),
        "std_roc_auc": float(np.std(roc)),
        "min_roc_auc": float(np.min(roc)),
        "mean_pr_auc": float(np.mean(pr)),
        "std_pr_auc": float(np.std(pr)),
        "min_pr_auc": float(np.min(pr)),
    }


def _say(what: str) -> None:
    print(f"proxies: {what}", file=sys.stderr, flush=True)


def _run(proxy: Proxy, params: CategoryParams) -> tuple[dict[str, Any], CategoryModel]:
    row, model = measure_proxy(proxy, params)
    _say(
        f"{proxy.category} {proxy.name}: ROC-AUC {row['roc_auc']:.4f}, PR-AUC {row['pr_auc']:.4f} "
        f"(train {row['train']}, test {row['test']} with {row['test_positive']} positive; "
        f"C {row['chosen_c']}; {row['fit_s']:.0f} s)"
    )
    return row, model


def head_params(c: float | None) -> CategoryParams:
    """The flow's parameters; with `c`, every head's C grid is that one value."""
    params = CategoryParams()
    if c is None:
        return params
    return params.model_copy(
        update={"heads": {k: h.model_copy(update={"c_grid": (c,)}) for k, h in params.heads.items()}}
    )


def measure(data_dir: Path, c: float | None = None, folds: int = FOLDS) -> dict[str, Any]:
    """Every proxy on the project's split of the sets in `data_dir`."""
    settings = TrainingSettings()
    params = head_params(c)
    started = time.perf_counter()
    examples = load_all(data_dir, [Source(s) for s in settings.sources])
    splits = split_examples(examples, settings.seed, settings.validation_share, settings.test_share)

    videos = {}
    for proxy in spam_by_video(examples, splits, settings.seed):
        videos[proxy.name], _ = _run(proxy, params)
    toxicity = {}
    for source in LEFT_OUT_SETS:
        toxicity[str(source)], _ = _run(toxicity_without(splits, source), params)
    hate = [_run(p, params)[0] for p in hate_folds(splits, folds, settings.seed)]
    flow_proxy = removal(splits, settings.categories)
    removal_row, model = _run(flow_proxy, params)

    in_domain = in_domain_quality(model, splits.test)
    _say(
        "in-domain (the removal fit, every set in training): "
        + ", ".join(f"{name} {q['roc_auc']:.4f}" for name, q in in_domain.items())
    )

    return {
        "parameters": {
            "seed": settings.seed,
            "validation_share": settings.validation_share,
            "test_share": settings.test_share,
            "sources": [str(s) for s in settings.sources],
            "categories": [str(c) for c in settings.categories],
            "folds": folds,
            "c": c,
            "model": params.model_dump(mode="json"),
        },
        "data": {
            "examples": len(examples),
            "train": len(splits.train),
            "validation": len(splits.validation),
            "test": len(splits.test),
            "dropped": splits.dropped,
        },
        "proxies": {
            "spam_leave_one_video_out": {"videos": videos, **_summary(list(videos.values()))},
            "toxicity_leave_one_set_out": toxicity,
            "hate_hatexplain_cv": {"folds": hate, **_summary(hate)},
            "removal_rscience": removal_row,
        },
        "in_domain": in_domain,
        "elapsed_s": time.perf_counter() - started,
    }


def write(result: dict[str, Any], directory: Path = RESULTS, when: datetime | None = None) -> Path:
    """`proxies-<UTC time>.json` and `proxies-latest.json` in `directory`; the first's path."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    path = directory / f"{PREFIX}{(when or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.json"
    path.write_text(text)
    (directory / LATEST).write_text(text)
    return path


def run(data_dir: Path, c: float | None = None, folds: int = FOLDS) -> Path:
    """Measure every proxy and write the results; the results file's path."""
    started = datetime.now(UTC)
    info = machine()
    result = {
        "commit": info.get("commit"),
        "dirty": info.get("dirty"),
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        **measure(data_dir, c, folds),
    }
    return write(result, when=started)


def _row(proxy: str, held: str, r: dict[str, Any]) -> str:
    return (
        f"| {proxy} | {held} | {r['test']:,} ({r['test_positive']:,}) | {r['roc_auc']:.3f} "
        f"| {r['pr_auc']:.3f} | {r['chosen_c']:g} |"
    )


def _spread(proxy: str, what: str, s: dict[str, Any]) -> str:
    return (
        f"| {proxy} | {what}: mean ± sd (lowest) | | {s['mean_roc_auc']:.3f} ± {s['std_roc_auc']:.3f} "
        f"({s['min_roc_auc']:.3f}) | {s['mean_pr_auc']:.3f} ± {s['std_pr_auc']:.3f} "
        f"({s['min_pr_auc']:.3f}) | |"
    )


def render(result: dict[str, Any]) -> str:
    """Every proxy of a results file, one row per held-out part (test texts, of them positive), with the
    spread of the videos and of the folds."""
    p = result["proxies"]
    spam, tox, hate = p["spam_leave_one_video_out"], p["toxicity_leave_one_set_out"], p["hate_hatexplain_cv"]
    lines = [
        "| proxy | held out | n (positive) | ROC-AUC | PR-AUC | C |",
        "|---|---|---:|---:|---:|---:|",
        *(_row("spam, one video left out", f"video {v}", r) for v, r in spam["videos"].items()),
        _spread("spam, one video left out", "every video", spam),
        *(_row("toxicity, one set left out", f"{s}'s test part", r) for s, r in tox.items()),
        *(_row("hate, HateXplain CV", f"fold {i}", r) for i, r in enumerate(hate["folds"], 1)),
        _spread("hate, HateXplain CV", "every fold", hate),
        _row("removal, every set", "r/science's test part", p["removal_rscience"]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proxies", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="default: the training settings' DATA_DIR"
    )
    parser.add_argument(
        "--c", type=float, default=None, help="one C for every head (default: the flow's grids)"
    )
    parser.add_argument("--folds", type=int, default=FOLDS, help="HateXplain cross-validation folds")
    args = parser.parse_args(argv)
    path = run(args.data_dir or TrainingSettings().data_dir, args.c, args.folds)
    print(f"results: {path}; {path.parent / LATEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
