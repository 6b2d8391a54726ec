"""The category model as `train_flow` builds it from every labelled set: test ROC-AUC per category and
set (with bootstrap intervals), what the default thresholds do there (share sent to human review,
precision of the automatic removals and allows), the behaviour checks that gate promotion, the bias
metrics, and the consumer's handler and cold start with every category scored.

python -m benchmarks.categories [--data-dir DIR]   # → benchmarks/results/categories-<time>.json

`render` draws the category tables from a results file (docs/categories.md quotes them as they are).
"""

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import machine, run_pinned, write_named
from runtime.telemetry import quiet

if TYPE_CHECKING:
    from training.evaluate import EvalReport

LATEST = "categories-latest.json"
GOAL_HANDLER_MSG_PER_S = 10_000
GOAL_COLD_START_S = 1.0
GOAL_PADDING_KEPT = 0.90


def train(data_dir: Path, model_path: Path) -> dict[str, Any]:
    """The steps of `train_flow` up to registration — load and split every labelled set, fit every head,
    evaluate, run the behaviour checks and the bias metrics — in a flow of their own (nothing is
    registered or promoted); their results, and the exported model at `model_path`."""
    quiet()
    from prefect import flow  # noqa: PLC0415
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415

    from training.flow import behaviour, bias, evaluate_on_tests, fit_model, load_and_split  # noqa: PLC0415
    from training.serving import CachedScores  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415
    from training.train import CategoryParams  # noqa: PLC0415

    settings = TrainingSettings(data_dir=data_dir, publish=False)

    @flow(name="categories_benchmark")
    def steps() -> dict[str, Any]:
        started = time.perf_counter()
        data = load_and_split(settings)
        trained = fit_model(settings, data, CategoryParams())
        fitted = time.perf_counter()
        scores = CachedScores(trained.model)
        reports = evaluate_on_tests(scores, data)
        checks = behaviour(settings, scores, data)
        biases = bias(settings, scores, data)
        trained.model.save(model_path)
        return {
            "fit_s": fitted - started,
            "train_s": time.perf_counter() - started,
            "chosen_c": {str(c): v for c, v in trained.chosen_c.items()},
            "categories": list(trained.model.categories),
            "evaluations": {name: _evaluation(r) for name, r in reports.items()},
            "behaviour": {c.name: c.measured for c in checks.checks},
            "behaviour_failures": checks.failures,
            "bias": {name: _bias(b.model_dump(mode="json")) for name, b in biases.items()},
        }

    with prefect_test_harness():
        return steps()


def _evaluation(report: "EvalReport") -> dict[str, Any]:
    return {
        "n": report.n,
        "positives": report.positives,
        "roc_auc": report.roc_auc,
        "roc_auc_95": report.roc_auc_95,
        "pr_auc": report.pr_auc,
        "review_share": report.review_share,
        "remove_precision": report.remove_precision,
        "allow_precision": report.allow_precision,
    }


def _bias(report: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [report[key]["value"], report[key].get("lo"), report[key].get("hi")]
        for key in ("final", "overall_auc", "subgroup_auc", "bpsn_auc", "bnsp_auc")
    } | {"subgroups": len(report["subgroups"]), "n": report["n"]}


def measure(data_dir: Path) -> dict[str, Any]:
    """Training in one process, then the handler and the cold start each pinned to one core."""
    from training.corpora import Source, source_splits  # noqa: PLC0415

    comments = source_splits(data_dir, Source.RSCIENCE).test  # what the handler suite replays
    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(),
        "comment_chars": sum(len(c.text) for c in comments) / len(comments),
    }
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "scorer.npz"
        _say("train_flow on every labelled set …")
        results["training"] = train(data_dir, model_path)
        _say("handler, every category …")
        results["handler"] = run_pinned("benchmarks.scoring", "handler", str(data_dir), str(model_path))
        results["handler_tweets"] = run_pinned(
            "benchmarks.scoring", "handler_tweets", str(data_dir), str(model_path)
        )
        _say("cold start …")
        results["coldstart"] = run_pinned("benchmarks.scoring", "coldstart", str(data_dir), str(model_path))
    return results


def _say(what: str) -> None:
    print(f"categories: {what}", file=sys.stderr, flush=True)


def write(results: dict[str, Any]) -> Path:
    return write_named("categories", results)


def _ci(value: float, interval: list[float | None] | None) -> str:
    if not interval or interval[0] is None or interval[1] is None:
        return f"{value:.3f}"
    return f"{value:.3f} ({interval[0]:.3f}–{interval[1]:.3f})"


def render(results: dict[str, Any]) -> str:
    """The category tables of docs/categories.md, from one results file."""
    t = results["training"]
    lines = [
        "Test split of each labelled set, at each category's default thresholds:",
        "",
        "| category / set | n (positive) | ROC-AUC (95% bootstrap) | PR-AUC | to review | precision remove "
        "| precision allow |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in t["evaluations"].items():
        lines.append(
            f"| {name} | {e['n']:,} ({e['positives']:,}) | {_ci(e['roc_auc'], e['roc_auc_95'])} "
            f"| {e['pr_auc']:.3f} | {e['review_share']:.1%} | {e['remove_precision']:.1%} "
            f"| {e['allow_precision']:.1%} |"
        )
    lines += [
        "",
        "Bias by identity subgroup (Jigsaw final score and its parts, power mean p = −5, 95% bootstrap):",
        "",
        "| head / set | subgroups | final | overall AUC | subgroup AUC | BPSN AUC | BNSP AUC |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, b in t["bias"].items():
        parts = " | ".join(
            _ci(b[k][0], b[k][1:]) for k in ("final", "overall_auc", "subgroup_auc", "bpsn_auc", "bnsp_auc")
        )
        lines.append(f"| {name} | {b['subgroups']} | {parts} |")
    lines += [
        "",
        "Behaviour checks that gate promotion (measured):",
        "",
        "| check | measured |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {value:.3f} |" for name, value in t["behaviour"].items()]
    handler, tweets, cold = results["handler"], results["handler_tweets"], results["coldstart"]
    comment_chars = results["comment_chars"]
    lines += [
        "",
        "Serving every category (one core):",
        "",
        "| measure | value | goal |",
        "| --- | --- | --- |",
        f"| handler, tweets (chat-length), batches of 100 "
        f"| {tweets['handler_msg_per_s_batch100']:,.0f} msg/s "
        f"| ≥ {GOAL_HANDLER_MSG_PER_S:,} msg/s |",
        f"| handler, tweets, batches of 500 | {tweets['handler_msg_per_s_batch500']:,.0f} msg/s | |",
        f"| handler, r/science comments (mean {comment_chars:,.0f} characters), batches of 100 "
        f"| {handler['handler_msg_per_s_batch100']:,.0f} msg/s | |",
        f"| cold start (import + load + first score) | {cold['cold_start_s']:.2f} s "
        f"| < {GOAL_COLD_START_S:.0f} s |",
        f"| model archive | {cold['model_bytes'] / 1e6:.1f} MB | |",
        f"| training, every set: fit / with evaluation, behaviour and bias (2 cores) "
        f"| {t['fit_s']:.0f} s / {t['train_s']:.0f} s | |",
    ]
    return "\n".join(lines) + "\n"


# The fast model's goals per category, on held-out sets from other sources, with the baselines those
# sets were measured with (word+char TF-IDF models trained only on the shared data); the held-out sets
# are not in this repository, so each row reports the in-repo measure that stands for it.
GOALS: tuple[tuple[str, str, str, str], ...] = (
    ("removal", "r/science comments not in shared", "0.79", "≥ 0.80"),
    ("toxicity", "talk-page comments, identity-heavy", "0.94", "≥ 0.95"),
    ("toxicity", "OffensEval 2019 test", "0.82", "≥ 0.85"),
    ("hate", "HateXplain test, hate vs rest", "0.85", "≥ 0.87"),
    ("spam", "comments under a video not in shared", "0.99", "≥ 0.99"),
    ("bias", "templated identity set, Jigsaw final score", "—", "≥ 0.90, gating"),
)


def render_goals(results: dict[str, Any], proxies: dict[str, Any]) -> str:
    """The goal table: each held-out row beside the in-repo measure that stands for it."""
    t, p = results["training"], proxies["proxies"]
    ev = t["evaluations"]
    tox, spam, hate = p["toxicity_leave_one_set_out"], p["spam_leave_one_video_out"], p["hate_hatexplain_cv"]
    templated = t["bias"]["hate.templated"]["final"]

    def at(name: str) -> str:
        return _ci(ev[name]["roc_auc"], ev[name]["roc_auc_95"])

    measured = (
        f"r/science test split {at('removal/rscience')}",
        f"trained without Davidson, on its test part {tox['davidson']['roc_auc']:.3f}; "
        f"in-domain (all sets) {at('toxicity/davidson')}",
        f"trained without OLID, on its test part {tox['olid']['roc_auc']:.3f}; "
        f"in-domain {at('toxicity/olid')}",
        f"HateXplain, {len(hate['folds'])}-fold cross-validation {hate['mean_roc_auc']:.3f} ± "
        f"{hate['std_roc_auc']:.3f}; test split {at('hate/hatexplain')}",
        f"one video left out, each in turn: mean {spam['mean_roc_auc']:.3f}, "
        f"lowest {spam['min_roc_auc']:.3f}",
        f"hate head {_ci(templated[0], templated[1:])}",
    )
    lines = [
        "| category | held-out set | baseline | goal, fast model | measured here (in-repo proxy) |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {c} | {where} | {base} | {goal} | {m} |"
        for (c, where, base, goal), m in zip(GOALS, measured, strict=True)
    ]
    handler, cold = results["handler"], results["coldstart"]
    lines += [
        f"| throughput | handler, every category, one core | — | ≥ {GOAL_HANDLER_MSG_PER_S:,} msg/s "
        f"| {results['handler_tweets']['handler_msg_per_s_batch100']:,.0f} msg/s on tweets, "
        f"{handler['handler_msg_per_s_batch100']:,.0f} on r/science comments (batches of 100) |",
        f"| cold start | import, load, first score | — | < {GOAL_COLD_START_S:.0f} s "
        f"| {cold['cold_start_s']:.2f} s |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.categories")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--render", type=Path, default=None, help="print the tables of a results file")
    args = parser.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text())), end="")
        return
    from training.settings import TrainingSettings  # noqa: PLC0415

    data_dir = args.data_dir or TrainingSettings().data_dir
    path = write(measure(data_dir))
    _say(f"results: {path}")


if __name__ == "__main__":
    main()
