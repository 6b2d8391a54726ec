"""The bar every head must clear: a plain word + character TF-IDF logistic regression per category,
fitted on exactly the texts the served head learns from, beside the served score (the fast model and
the cascade, as the consumer runs them).

The baseline, per category: scikit-learn `TfidfVectorizer(ngram_range=(1, 2), min_df=2,
sublinear_tf=True)` ∪ `TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
sublinear_tf=True)` → `LogisticRegression(C=4, class_weight="balanced")`, on the raw text.

Rows (ROC-AUC with 95% bootstrap intervals, and the paired difference's):
  - test: every set's test split, both models fitted on every set's train split (the served one as
    `train_flow` fits it, its C and stack chosen on the validation split);
  - loso (leave one source out): both fitted without a source — OLID, HateXplain, Davidson, GermEval,
    ETHOS, each YouTube video, SMS — and scored on all of it (its unique texts): the in-repo stand-in for
    sources never seen;
  - bias: the Jigsaw final score (Borkan et al.) of the toxicity and hate heads on the templated identity
    set and on HateXplain's test posts by target community.
A row is won when the served score beats the baseline by at least the baseline's own 95% interval
half-width or 0.01, whichever is larger.

Also, per category on the test splits: the share of messages a moderator must see when automatic
removals are held to 95% precision and automatic allows to 99% (`training.evaluate.review_load`), and
both models' messages per second on the same texts, one process.

  python -m benchmarks.baseline [--data-dir DIR] [--resamples 200] [--skip-loso]
  → results/baseline-<time>.json and results/baseline-latest.json
"""

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline, make_union

from benchmarks.common import RESULTS, machine, run_pinned, write_named
from benchmarks.proxies import held_out, leaks, unique
from contracts.categories import Category
from stream_consumer.scorer import CategoryModel
from training.bias import bias_reports
from training.corpora import Example, ExampleSplits, Source, load_all, split_examples
from training.evaluate import auc_difference_interval, auc_interval, review_load
from training.serving import category_scores
from training.settings import TrainingSettings
from training.train import CategoryParams, ModelParams, fit_categories

NAME = "baseline"
LATEST = f"{NAME}-latest.json"
ACTING = (Category.TOXICITY, Category.HATE, Category.SPAM)
MIN_MARGIN = 0.01
REMOVE_PRECISION = 0.95
ALLOW_PRECISION = 0.99
SPEED_TEXTS = 4_000
Score = Callable[[Sequence[str]], NDArray[np.float64]]


def fit_baseline(texts: Sequence[str], labels: Sequence[int] | NDArray[np.int_]) -> Pipeline:
    """The plain pipeline, on raw text."""
    pipeline = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
        ),
        LogisticRegression(C=4.0, class_weight="balanced", max_iter=3_000),
    )
    return pipeline.fit(list(texts), np.asarray(labels))


def source_of(example: Example) -> str:
    """The source a row leaves out: the set, or the YouTube video."""
    return f"youtube/{example.group}" if example.source == Source.YOUTUBE else str(example.source)


def left_out_sources(examples: Sequence[Example], category: Category) -> list[str]:
    """The sources labelling `category` with both classes, each left out in turn (r/science, the only
    source of removals, has nothing to learn from without it)."""
    classes: dict[str, set[int]] = {}
    for e in examples:
        if e.source in (Source.RSCIENCE,):
            continue
        y = e.label(category)
        if y is not None and e.source in LABELLING[category]:
            classes.setdefault(source_of(e), set()).add(y)
    return sorted(s for s, ys in classes.items() if ys == {0, 1})


# The sets whose annotators labelled each category (not assumed negatives): the sources left out.
LABELLING: dict[Category, frozenset[str]] = {
    Category.TOXICITY: frozenset({Source.OLID, Source.HATEXPLAIN, Source.DAVIDSON, Source.GERMEVAL}),
    Category.HATE: frozenset({Source.DAVIDSON, Source.HATEXPLAIN, Source.ETHOS}),
    Category.SPAM: frozenset({Source.YOUTUBE, Source.SMS}),
}


def served(
    splits: ExampleSplits,
    categories: Sequence[Category],
    settings: TrainingSettings,
    params: CategoryParams | None = None,
) -> CategoryModel:
    """The model as `train_flow` fits it: the heads, then the cascade's encoder heads over them."""
    from stream_consumer import encoder  # noqa: PLC0415 - loads the encoder's weights
    from training.cascade import fit_cascade  # noqa: PLC0415
    from training.embeddings import EmbeddingCache  # noqa: PLC0415

    model = fit_categories(splits, params or CategoryParams(), categories).model
    if not settings.cascade:
        return model
    enc = encoder.shared()
    cache = EmbeddingCache(settings.embedding_cache, enc)
    fit = fit_cascade(
        model,
        splits,
        cache.embed,
        enc.sha256,
        settings.escalation_share,
        min_language_texts=settings.min_language_texts,
    )
    return CategoryModel(model.heads, model.metadata, model.normal_form, fit.cascade)


def compare(
    y: NDArray[np.int_], champion: NDArray[np.float64], baseline: NDArray[np.float64], resamples: int
) -> dict[str, Any]:
    """Both ROC-AUCs with their intervals, the paired difference's interval, the margin and the verdict."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    def one(p: NDArray[np.float64]) -> dict[str, float]:
        lo, hi = auc_interval(y, p, resamples)
        return {"roc_auc": float(roc_auc_score(y, p)), "lo": lo, "hi": hi}

    mine, theirs = one(champion), one(baseline)
    lo, hi = auc_difference_interval(y, champion, baseline, resamples)
    margin = max(MIN_MARGIN, (theirs["hi"] - theirs["lo"]) / 2)
    gain = mine["roc_auc"] - theirs["roc_auc"]
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "champion": mine,
        "baseline": theirs,
        "difference": {"value": gain, "lo": lo, "hi": hi},
        "margin": margin,
        "won": gain >= margin,
        "ahead": gain > 0,
    }


def _labelled(examples: Sequence[Example], category: Category) -> tuple[list[str], NDArray[np.int_]]:
    items = [e for e in examples if e.label(category) is not None]
    return [e.text for e in items], np.array([e.labels[category] for e in items], dtype=np.int_)


def _say(what: str) -> None:
    print(f"baseline: {what}", file=sys.stderr, flush=True)


def test_rows(
    splits: ExampleSplits, model: CategoryModel, resamples: int
) -> tuple[list[dict[str, Any]], dict[Category, Pipeline], list[dict[str, Any]]]:
    """Every category's test rows per set, the baselines fitted on the same train split, and the load."""
    rows: list[dict[str, Any]] = []
    load: list[dict[str, Any]] = []
    baselines: dict[Category, Pipeline] = {}
    for category in [c for c in Category if c in model.categories]:
        texts, y = _labelled(splits.train, category)
        baselines[category] = base = fit_baseline(texts, y)
        test = [e for e in splits.test if e.label(category) is not None]
        mine = category_scores(model, [e.text for e in test])[category]
        theirs = base.predict_proba([e.text for e in test])[:, 1]
        labels = np.array([e.labels[category] for e in test], dtype=np.int_)
        sources = np.array([source_of(e) for e in test])
        for source in sorted(set(sources.tolist())):
            here = sources == source
            if 0 < labels[here].sum() < here.sum():
                row = compare(labels[here], mine[here], theirs[here], resamples)
                rows.append({"category": str(category), "kind": "test", "source": source, **row})
                _say(_line(rows[-1]))
        load.append(
            {
                "category": str(category),
                "n": len(labels),
                "champion": review_load(labels, mine, REMOVE_PRECISION, ALLOW_PRECISION),
                "baseline": review_load(labels, theirs, REMOVE_PRECISION, ALLOW_PRECISION),
            }
        )
    return rows, baselines, load


def loso_rows(
    examples: Sequence[Example],
    splits: ExampleSplits,
    settings: TrainingSettings,
    resamples: int,
    rows: list[dict[str, Any]],
    saved: Callable[[], None] = lambda: None,
) -> None:
    """Each acting category with each of its sources left out of both fits, scored on all of it: a row
    appended to `rows` each, `saved` after each (a long run keeps what it measured)."""
    for category in ACTING:
        for source in left_out_sources(examples, category):
            started = time.perf_counter()
            gone = [e for e in examples if source_of(e) == source]

            def leave_out(e: Example, source: str = source) -> bool:
                return source_of(e) == source

            proxy = held_out(source, category, splits, unique(gone, settings.seed), leave_out)
            if leaks(proxy):
                raise AssertionError(f"{category} without {source}: test texts in the fit")
            model = served(proxy.fit_on, [category], settings)
            texts, y = _labelled(proxy.fit_on.train, category)
            base = fit_baseline(texts, y)
            test_texts, labels = _labelled(proxy.test, category)
            mine = category_scores(model, test_texts)[category]
            theirs = base.predict_proba(test_texts)[:, 1]
            row = compare(labels, mine, theirs, resamples)
            rows.append(
                {"category": str(category), "kind": "loso", "source": source, **row}
                | {"fit_s": time.perf_counter() - started}
            )
            _say(_line(rows[-1]))
            saved()


def bias_rows(
    splits: ExampleSplits,
    model: CategoryModel,
    baselines: dict[Category, Pipeline],
    resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    """The Jigsaw final score of the toxicity and hate heads, served and baseline, on the templated set
    and on HateXplain's test posts by target community."""
    posts = [e for e in splits.test if e.source == Source.HATEXPLAIN]
    rows = []
    for category in (Category.TOXICITY, Category.HATE):
        if category not in model.categories or category not in baselines:
            continue
        base = baselines[category]

        def served_score(texts: Sequence[str], category: Category = category) -> NDArray[np.float64]:
            return category_scores(model, texts)[category]

        def baseline_score(texts: Sequence[str], base: Pipeline = base) -> NDArray[np.float64]:
            out: NDArray[np.float64] = base.predict_proba(list(texts))[:, 1]
            return out

        scorers: dict[str, Score] = {"champion": served_score, "baseline": baseline_score}
        found = {
            who: bias_reports(score, posts, n_boot=resamples, seed=seed, min_posts=20)
            for who, score in scorers.items()
        }
        own = "hatexplain_hate" if category is Category.HATE else "hatexplain_toxic"
        for name in ("templated", own):
            mine, theirs = found["champion"].get(name), found["baseline"].get(name)
            if mine is None or theirs is None:
                continue
            half = ((theirs.final.hi or 0.0) - (theirs.final.lo or 0.0)) / 2
            margin = max(MIN_MARGIN, half)
            gain = mine.final.value - theirs.final.value
            worst = min(mine.subgroups, key=lambda s: s.bpsn_auc.value if s.bpsn_auc else 1.0, default=None)
            rows.append(
                {
                    "category": str(category),
                    "kind": "bias",
                    "source": name,
                    "champion": {"roc_auc": mine.final.value, "lo": mine.final.lo, "hi": mine.final.hi},
                    "baseline": {"roc_auc": theirs.final.value, "lo": theirs.final.lo, "hi": theirs.final.hi},
                    "difference": {"value": gain},
                    "margin": margin,
                    "won": gain >= margin,
                    "ahead": gain > 0,
                    "lowest_bpsn": (
                        {"subgroup": worst.name, "bpsn": worst.bpsn_auc.value}
                        if worst is not None and worst.bpsn_auc
                        else None
                    ),
                }
            )
            _say(_line(rows[-1]))
    return rows


def speed(
    splits: ExampleSplits, model: CategoryModel, baselines: dict[Category, Pipeline], seed: int
) -> dict[str, Any]:
    """Messages per second of the served model (every category, the cascade without a time budget) and
    of the baselines (every category), on the same test texts, in this one process."""
    texts = [e.text for e in splits.test]
    random.Random(seed).shuffle(texts)
    texts = texts[:SPEED_TEXTS]
    out: dict[str, Any] = {"texts": len(texts), "categories": [str(c) for c in baselines]}
    for who, run in (
        ("champion", lambda batch: category_scores(model, batch)),
        ("baseline", lambda batch: {c: b.predict_proba(batch) for c, b in baselines.items()}),
    ):
        started = time.perf_counter()
        for i in range(0, len(texts), 100):
            run(texts[i : i + 100])
        out[f"{who}_msg_per_s"] = len(texts) / (time.perf_counter() - started)
    return out


def serving(data_dir: Path, model: CategoryModel) -> dict[str, Any]:
    """The consumer's handler on the chat mix (one pinned core, in-memory sinks) with the served model:
    the fast path alone and with the cascade, on tweets, and the cold start with its peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        cascaded, fast = Path(tmp) / "served.npz", Path(tmp) / "fast.npz"
        model.save(cascaded)
        replace(model, cascade=None).save(fast)
        args = [str(data_dir)]
        return {
            "handler_fast_mix": run_pinned("benchmarks.scoring", "handler_mix", *args, str(fast)),
            "handler_fast_tweets": run_pinned("benchmarks.scoring", "handler_tweets", *args, str(fast)),
            "handler_cascade_mix": run_pinned("benchmarks.scoring", "handler_mix", *args, str(cascaded)),
            "coldstart": run_pinned("benchmarks.scoring", "coldstart", *args, str(cascaded)),
        }


def _line(row: dict[str, Any]) -> str:
    verdict = "won" if row["won"] else "ahead" if row["ahead"] else "behind"
    return (
        f"{row['category']} {row['kind']} {row['source']}: served {row['champion']['roc_auc']:.3f}, "
        f"baseline {row['baseline']['roc_auc']:.3f} ({verdict}, margin {row['margin']:.3f})"
    )


# The design before the stacked heads: windows of 16 tokens read by their highest alone, word n-grams
# only, learnt from windows without class weights (measured beside the served one: before → after).
PREVIOUS = CategoryParams(
    chars=False,
    heads={c: ModelParams(window_tokens=16, max_windows=16, c_grid=(1.0, 3.0, 10.0)) for c in ACTING}
    | {Category.REMOVAL: ModelParams()},
)


def previous_rows(
    splits: ExampleSplits, settings: TrainingSettings, resamples: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The previous design's test rows (ROC-AUC with intervals) and moderators' load, served as the
    consumer runs it (its own cascade)."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    model = served(splits, list(Category), settings, PREVIOUS)
    rows, load = [], []
    for category in [c for c in Category if c in model.categories]:
        test = [e for e in splits.test if e.label(category) is not None]
        scores = category_scores(model, [e.text for e in test])[category]
        labels = np.array([e.labels[category] for e in test], dtype=np.int_)
        sources = np.array([source_of(e) for e in test])
        for source in sorted(set(sources.tolist())):
            here = sources == source
            if 0 < labels[here].sum() < here.sum():
                lo, hi = auc_interval(labels[here], scores[here], resamples)
                auc = float(roc_auc_score(labels[here], scores[here]))
                rows.append({"category": str(category), "source": source, "roc_auc": auc, "lo": lo, "hi": hi})
        load.append(
            {"category": str(category), **review_load(labels, scores, REMOVE_PRECISION, ALLOW_PRECISION)}
        )
    return rows, load


def measure(
    data_dir: Path,
    resamples: int,
    skip_loso: bool,
    previous: bool = False,
    save: Callable[[dict[str, Any]], None] = lambda results: None,
) -> dict[str, Any]:
    """Every row; `save` is handed the results so far after each phase and each left-out source."""
    settings = TrainingSettings(data_dir=data_dir, publish=False)
    examples = load_all(data_dir, list(Source))
    splits = split_examples(examples, settings.seed, settings.validation_share, settings.test_share)
    started = time.perf_counter()
    _say("the served model on every set …")
    model = served(splits, list(Category), settings)
    rows, baselines, load = test_rows(splits, model, resamples)
    rows += bias_rows(splits, model, baselines, resamples, settings.seed)
    results: dict[str, Any] = {
        "machine": machine(),
        "baseline": "word(1-2) + char_wb(2-5) TF-IDF, logistic regression C=4, balanced",
        "remove_precision": REMOVE_PRECISION,
        "allow_precision": ALLOW_PRECISION,
        "load": load,
        "speed": speed(splits, model, baselines, settings.seed) | serving(data_dir, model),
    }
    if previous:
        _say("the previous design on every set …")
        rows_before, load_before = previous_rows(splits, settings, resamples)
        results["previous"] = {"rows": rows_before, "load": load_before}
    results["rows"] = rows
    results["loso_sources"] = 0 if skip_loso else sum(len(left_out_sources(examples, c)) for c in ACTING)
    save(results)
    if not skip_loso:
        _say("leave one source out …")
        loso_rows(examples, splits, settings, resamples, rows, lambda: save(results))
    results["elapsed_s"] = time.perf_counter() - started
    save(results)
    return results


HEADER = (
    "| category | rows | source | n (positive) | served ROC-AUC (95%) | baseline (95%) | difference "
    "| result |"
)


def render(results: dict[str, Any]) -> str:
    """The served-vs-baseline table, the moderators' load (and the previous design's, before → after)
    and both models' speed, as Markdown."""
    before = {(r["category"], r["source"]): r for r in results.get("previous", {}).get("rows", [])}
    lines = [HEADER + (" previous design |" if before else ""), "|---" * (9 if before else 8) + "|"]
    for r in results["rows"]:
        c, b = r["champion"], r["baseline"]
        n = f"{r['n']:,} ({r['positives']:,})" if "n" in r else "–"
        verdict = "**won**" if r["won"] else "ahead" if r["ahead"] else "behind"
        was = before.get((r["category"], r["source"])) if r["kind"] == "test" else None
        lines.append(
            f"| {r['category']} | {r['kind']} | {r['source']} | {n} | {c['roc_auc']:.3f} ({_ci(c)}) | "
            f"{b['roc_auc']:.3f} ({_ci(b)}) | {r['difference']['value']:+.3f} (needs +{r['margin']:.3f}) | "
            f"{verdict} |" + ((f" {was['roc_auc']:.3f} |" if was else " – |") if before else "")
        )
    done = sum(r["kind"] == "loso" for r in results["rows"])
    if done < results.get("loso_sources", 0):
        lines += [
            "",
            f"Leave one source out: {done} of {results['loso_sources']} sources measured (the run stopped).",
        ]
    previous = {row["category"]: row for row in results.get("previous", {}).get("load", [])}
    lines += [
        "",
        f"Share sent to human review with automatic removals at ≥ {results['remove_precision']:.0%} "
        f"precision and automatic allows at ≥ {results['allow_precision']:.0%} (test splits, every set):",
        "",
        "| category | n | served: review | removed | allowed | baseline: review | previous design: review |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["load"]:
        m, b = row["champion"], row["baseline"]
        was = previous.get(row["category"])
        lines.append(
            f"| {row['category']} | {row['n']:,} | {m['review_share']:.1%} | {m['remove_share']:.1%} | "
            f"{m['allow_share']:.1%} | {b['review_share']:.1%} | "
            f"{f'{was["review_share"]:.1%}' if was else '–'} |"
        )
    s = results["speed"]
    lines += [
        "",
        f"Messages per second, every category, {s['texts']:,} test texts in batches of 100, one process: "
        f"served {s['champion_msg_per_s']:,.0f} (fast model and cascade), "
        f"baseline {s['baseline_msg_per_s']:,.0f}.",
    ]
    if "handler_fast_mix" in s:
        cold = s["coldstart"]
        lines += [
            "",
            "| the consumer's handler, one core, batches of 100 | msg/s |",
            "|---|---|",
            f"| fast path, chat mix | {s['handler_fast_mix']['handler_msg_per_s_batch100']:,.0f} |",
            f"| fast path, tweets | {s['handler_fast_tweets']['handler_msg_per_s_batch100']:,.0f} |",
            f"| cascade, chat mix ({s['handler_cascade_mix']['escalated_share']:.1%} escalated) "
            f"| {s['handler_cascade_mix']['handler_msg_per_s_batch100']:,.0f} |",
            "",
            f"Cold start (import, encoder, model, first score) {cold['cold_start_s']:.2f} s; "
            f"peak RSS {cold['peak_rss_mb']:.0f} MB.",
        ]
    return "\n".join(lines)


def _ci(e: dict[str, Any]) -> str:
    return "–" if e.get("lo") is None else f"{e['lo']:.3f}–{e['hi']:.3f}"


def run(data_dir: Path, resamples: int = 200, skip_loso: bool = False, previous: bool = True) -> Path:
    """Measure and write the results file (again after each phase, so a stopped run keeps its rows);
    its path."""
    path = RESULTS / f"{NAME}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"

    def save(results: dict[str, Any]) -> None:
        write_named(NAME, results, path)

    results = measure(data_dir, resamples, skip_loso, previous, save)
    print(render(results), file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--skip-loso", action="store_true", help="the test splits and bias rows only")
    parser.add_argument("--skip-previous", action="store_true", help="not the previous design's test rows")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or TrainingSettings().data_dir
    print(f"results: {run(data_dir, args.resamples, args.skip_loso, not args.skip_previous)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
