"""`make bench`: every benchmark, results to benchmarks/results/*.json and `latest.md`.

python -m benchmarks [--skip-e2e] [--seconds 10]   # measure, write bench-<time>.json, render latest.md
                                                   # then categories-, proxies-, cascade-,
                                                   # baseline-, context-, strikes-, review- and
                                                   # shadow-<time>.json
python -m benchmarks report                        # render latest.md again from the results files
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    baseline,
    cascade,
    categories,
    compare,
    context,
    proxies,
    review,
    shadow,
    strikes,
    tradeoff,
)
from benchmarks.common import machine, run_pinned, write_results
from benchmarks.report import write_latest
from training.settings import TrainingSettings


def _say(what: str) -> None:
    print(f"benchmark: {what}", file=sys.stderr, flush=True)


def measure(data_dir: str, skip_e2e: bool, seconds: float, windows: int) -> dict[str, Any]:
    """Every suite, each in a pinned subprocess, on a champion trained by the first one."""
    from benchmarks.e2e import run as run_e2e  # noqa: PLC0415 - the emulators' imports, only to measure

    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        model_path = str(Path(tmp) / "scorer.npz")
        for suite in ("train", "model", "handler", "coldstart"):
            _say(f"{suite} …")
            results["training" if suite == "train" else suite] = run_pinned(
                "benchmarks.scoring", suite, data_dir, model_path
            )
        _say("hostile text and the evasion suite …")
        results["hostile"] = run_pinned("benchmarks.adversarial", "cost", data_dir, model_path)
        results["evasion"] = run_pinned("benchmarks.adversarial", "evasion", data_dir, model_path)
        if compare.available():
            _say(f"champion vs {compare.PACKAGE} …")
            results["compare"] = run_pinned("benchmarks.compare", data_dir, model_path)
        else:
            _say(f"comparison skipped: {compare.SKIPPED}")
            results["compare"] = {"skipped": compare.SKIPPED}
        _say("model trade-off …")
        results["tradeoff"] = {
            **run_pinned("benchmarks.tradeoff", "measure", data_dir, "--cv", timeout=1_800),
            **tradeoff.optional_rows(),
        }
        _say("drift detection …")
        results["drift"] = run_pinned("benchmarks.drift", data_dir, model_path, "--windows", str(windows))
        results["drift_with_text_content"] = run_pinned(
            "benchmarks.drift", data_dir, model_path, "--windows", "5", "--text-drift"
        )
        if not skip_e2e:
            results["e2e"] = []
            for emulator, rates in (
                ("localstack", [100.0, 250.0, 500.0, 1000.0]),
                ("moto", [250.0, 500.0, 1000.0]),
            ):
                _say(f"put→verdict via {emulator} at {rates} msg/s …")
                results["e2e"].append(run_e2e(Path(data_dir), Path(model_path), emulator, rates, seconds))
    results["elapsed_s"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "report"])
    parser.add_argument("--skip-e2e", action="store_true", help="only the in-process benchmarks")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per rate (e2e)")
    parser.add_argument("--windows", type=int, default=50, help="drift windows per tweet share")
    parser.add_argument(
        "--skip-categories",
        action="store_true",
        help="not the category model's suite, its proxies nor the cascade's",
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        data_dir = str(TrainingSettings().data_dir)
        path = write_results(measure(data_dir, args.skip_e2e, args.seconds, args.windows))
        print(f"results: {path}")
        if not args.skip_categories:
            _say("categories: train_flow on every set, handler and cold start with every category …")
            print(f"results: {categories.write(categories.measure(Path(data_dir)))}")
            _say("categories: the in-repo proxies (leave-one-out fits) …")
            print(f"results: {proxies.run(Path(data_dir))}")
            _say("cascade: escalation share vs ROC-AUC vs msg/s, languages, cold start …")
            print(f"results: {cascade.write(cascade.measure(Path(data_dir)))}")
            _say("baseline: the served model against a plain TF-IDF regression, sources left out too …")
            print(f"results: {baseline.run(Path(data_dir))}")
        _say("context: raids, floods and bursts through the mapping's windows; the context's cost …")
        print(f"results: {context.write(context.measure(Path(data_dir)))}")
        _say("strikes: one writer at 1,000 verdicts/s and draining a backlog (moto) …")
        strikes.main([])  # pinned to one core, moto's server on another; prints its results file
        _say("review: queue page, item, decision with 100,000 items in the table; 20 moderators racing …")
        print(f"results: {review.write(review.measure(100_000, 60))}")
        _say("shadow: the handler with a challenger published, 0, 25 and 100% drawn …")
        shadow.main(["--data-dir", data_dir])  # prints its results file
    latest = write_latest()
    print(latest.read_text())
    print(f"rendered: {latest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
