"""`make bench`: every benchmark, results to benchmarks/results/*.json and a markdown table.

python -m benchmarks [--skip-e2e] [--seconds 10]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import compare
from benchmarks.common import RESULTS, machine, previous_results, run_pinned, write_results
from benchmarks.e2e import run as run_e2e
from training.settings import TrainingSettings

ROWS = [
    ("training", "fit_s", "training time, r/science (s)", "lower"),
    ("model", "scores_msg_per_s_batch500", "model scores, msg/s/core (batch 500)", "higher"),
    (
        "model",
        "normalise_score_reasons_msg_per_s_batch500",
        "normalise + score + reasons, msg/s/core",
        "higher",
    ),
    ("handler", "handler_msg_per_s_batch100", "handler, msg/s/core (batch 100)", "higher"),
    ("handler", "handler_msg_per_s_batch500", "handler, msg/s/core (batch 500)", "higher"),
    ("hostile", "worst_ms_per_message", "hostile text: worst 10,000-char message (ms)", "lower"),
    ("hostile", "worst_over_ordinary", "… worst / ordinary text of the same length", "lower"),
    ("hostile", "worst_ms_per_batch_of_100", "… batch of 100 worst messages (ms)", "lower"),
    ("coldstart", "cold_start_s", "cold start: import + load champion (s)", "lower"),
    ("coldstart", "peak_rss_mb", "peak RSS after cold start (MB)", "lower"),
    ("handler", "peak_rss_mb", "peak RSS while handling (MB)", "lower"),
    ("drift", "flagged_share_0pct_tweets", "drift: false-alarm rate, same-community windows", "lower"),
    ("drift", "flagged_share_10pct_tweets", "drift: windows flagged with 10% tweets", "higher"),
    ("drift", "flagged_share_20pct_tweets", "drift: windows flagged with 20% tweets", "higher"),
    ("drift", "drift_check_s_per_10k_messages", "drift check per 10k messages (s)", "lower"),
    (
        "drift_with_text_content",
        "drift_check_s_per_10k_messages",
        "… with Evidently text-content drift (s)",
        "lower",
    ),
]


def _get(results: dict[str, Any], suite: str, key: str) -> float | None:
    value = results.get(suite, {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3f}"


def table(results: dict[str, Any], before: dict[str, Any] | None) -> str:
    """The markdown summary, with the change against the previous results file."""
    lines = ["| measure | value | previous | change |", "|---|---:|---:|---:|"]
    for suite, key, label, _ in ROWS:
        now, prev = _get(results, suite, key), _get(before or {}, suite, key)
        change = f"{(now / prev - 1) * 100:+.0f}%" if now is not None and prev else ""
        lines.append(f"| {label} | {_fmt(now)} | {_fmt(prev)} | {change} |")
    for emulator in results.get("e2e", []):
        for r in emulator["runs"]:
            p50 = f"{r['p50_s']:.3f}" if r["p50_s"] is not None else "–"
            p99 = f"{r['p99_s']:.3f}" if r["p99_s"] is not None else "–"
            name = emulator["emulator"]
            lines.append(
                f"| put→verdict at {r['rate_target']:.0f} msg/s via {name} "
                f"(achieved {r['rate_achieved']:.0f}, {r['verdicts']}/{r['messages']}) "
                f"| p50 {p50} s | p99 {p99} s | |"
            )
        best = emulator["max_rate_p99_under_1s"]
        lines.append(f"| highest rate with p99 < 1 s via {emulator['emulator']} | {best} | | |")
    return "\n".join(lines) + "\n"


def hostile_table(hostile: dict[str, Any]) -> str:
    """Milliseconds per 10,000-character message, per hostile generator."""
    lines = [
        "| hostile text, 10,000 characters | ms per message | ms per batch of 100 |",
        "|---|---:|---:|",
    ]
    for name, row in hostile["generators"].items():
        lines.append(f"| {name} | {row['ms_per_message']:.2f} | {row['ms_per_batch_of_100']:.0f} |")
    return "\n".join(lines) + "\n"


def evasion_before() -> dict[str, Any]:
    """The suite measured on the normal form and model before this one (`benchmarks/evasion_before.py`)."""
    files = sorted(RESULTS.glob("evasion-before-*.json"))
    return json.loads(files[-1].read_text()) if files else {}


def evasion_table(evasion: dict[str, Any], before: dict[str, Any]) -> str:
    """Per model and family: toxic messages removed in clean form still removed / still flagged, and the
    benign false-flag rate clean → obfuscated (before: the previous normal form, where measured)."""
    out = []
    for model, rows in evasion.items():
        old = {r["family"]: r for r in before.get("models", {}).get(model, [])}
        out += [
            f"Evasion suite, {model} "
            f"({rows[0]['toxic']} toxic removed in clean form, {rows[0]['benign']} benign):",
            "",
            "| family | still removed | still flagged | benign flagged | before: removed / flagged |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            b = old.get(r["family"])
            was = f"{b['still_removed']:.1%} / {b['still_flagged']:.1%}" if b else "–"
            out.append(
                f"| {r['family']} | {r['still_removed']:.1%} | {r['still_flagged']:.1%} "
                f"| {r['benign_flagged_clean']:.1%} → {r['benign_flagged']:.1%} | {was} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--skip-e2e", action="store_true", help="only the in-process benchmarks")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per rate (e2e)")
    parser.add_argument("--windows", type=int, default=50, help="drift windows per tweet share")
    args = parser.parse_args(argv)
    data_dir = str(TrainingSettings().data_dir)
    before = previous_results()
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        model_path = str(Path(tmp) / "scorer.npz")
        for suite in ("train", "model", "handler", "coldstart"):
            print(f"benchmark: {suite} …", file=sys.stderr, flush=True)
            results["training" if suite == "train" else suite] = run_pinned(
                "benchmarks.scoring", suite, data_dir, model_path
            )
        print("benchmark: hostile text and the evasion suite …", file=sys.stderr, flush=True)
        results["hostile"] = run_pinned("benchmarks.adversarial", "cost", data_dir, model_path)
        results["evasion"] = run_pinned("benchmarks.adversarial", "evasion", data_dir, model_path)
        if compare.available():
            print(f"benchmark: champion vs {compare.PACKAGE} …", file=sys.stderr, flush=True)
            results["compare"] = run_pinned("benchmarks.compare", data_dir, model_path)
        else:
            print(f"benchmark: comparison skipped: {compare.SKIPPED}", file=sys.stderr, flush=True)
            results["compare"] = {"skipped": compare.SKIPPED}
        print("benchmark: drift detection …", file=sys.stderr, flush=True)
        results["drift"] = run_pinned(
            "benchmarks.drift", data_dir, model_path, "--windows", str(args.windows)
        )
        results["drift_with_text_content"] = run_pinned(
            "benchmarks.drift", data_dir, model_path, "--windows", "5", "--text-drift"
        )
        if not args.skip_e2e:
            results["e2e"] = []
            for emulator, rates in (
                ("localstack", [100.0, 250.0, 500.0, 1000.0]),
                ("moto", [250.0, 500.0, 1000.0]),
            ):
                print(
                    f"benchmark: put→verdict via {emulator} at {rates} msg/s …", file=sys.stderr, flush=True
                )
                results["e2e"].append(
                    run_e2e(Path(data_dir), Path(model_path), emulator, rates, args.seconds)
                )
    path = write_results(results)
    summary = "\n".join(
        [
            table(results, before),
            hostile_table(results["hostile"]),
            evasion_table(results["evasion"], evasion_before()),
            compare.table(results["compare"]),
        ]
    )
    (RESULTS / "latest.md").write_text(summary)
    print(summary)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
