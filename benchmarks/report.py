"""`benchmarks/results/latest.md`: the markdown of the newest results files, rendered from them alone.

One section per suite, each from that suite's newest results file, through the suite's own renderer:
`make bench`'s newest `bench-*.json` (speed, hostile text, evasion, drift, put→verdict, the comparison),
the model trade-off (the newest `tradeoff-*.json` or bench file holding one), and the `*-latest.json` of
the categories, their in-repo proxies, the cascade, the context signals and the baseline comparison. A
suite without a results file gets a line saying how to measure it.

The documentation's pages quote its tables; `tests/unit/test_readme_numbers.py` renders it again from
the files it names and holds the pages to it. `python -m benchmarks report` rewrites it without measuring.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import (
    baseline,
    cascade,
    categories,
    compare,
    context,
    mutation,
    proxies,
    shadow,
    strikes,
    tradeoff,
)
from benchmarks.common import RESULTS, describe, stamp, when

BENCH_PREFIX = "bench-"
EVASION_BEFORE_PREFIX = "evasion-before-"
LATEST = "latest.md"
BASELINE_LATEST = "baseline-latest.json"
TWEETS_MODEL = "offensive tweets, 16-token windows"
RSCIENCE_MODEL = "r/science champion"

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


@dataclass(frozen=True)
class Sources:
    """The results files `latest.md` is rendered from (None: no such file yet)."""

    bench: Path | None
    previous: Path | None  # the bench file before `bench`: the "previous" column
    evasion_before: Path | None
    comparison: Path | None  # the newest bench file whose comparison ran
    tradeoff: Path | None  # the newest bench file with a trade-off, or standalone trade-off file
    # each suite's `<suite>-latest.json` (the copy of its newest `<suite>-<time>.json`)
    categories: Path | None = None
    proxies: Path | None = None
    cascade: Path | None = None
    context: Path | None = None
    baseline: Path | None = None
    mutation: Path | None = None
    strikes: Path | None = None
    shadow: Path | None = None


def load(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def sources(directory: Path = RESULTS) -> Sources:
    """The newest bench file, the one before it, and the newest file holding each optional part."""
    bench = sorted(directory.glob(f"{BENCH_PREFIX}*.json"))
    before = sorted(directory.glob(f"{EVASION_BEFORE_PREFIX}*.json"))
    compared = [p for p in bench if "skipped" not in load(p).get("compare", {"skipped": ""})]
    traded = [p for p in bench if "tradeoff" in load(p)]
    traded += directory.glob(f"{tradeoff.PREFIX}[0-9]*.json")

    def latest(name: str) -> Path | None:
        path = directory / name
        return path if path.is_file() else None

    return Sources(
        bench=bench[-1] if bench else None,
        previous=bench[-2] if len(bench) > 1 else None,
        evasion_before=before[-1] if before else None,
        comparison=compared[-1] if compared else None,
        tradeoff=max(traded, key=stamp) if traded else None,
        categories=latest(categories.LATEST),
        proxies=latest(proxies.LATEST),
        cascade=latest(cascade.LATEST),
        context=latest(context.LATEST),
        baseline=latest(BASELINE_LATEST),
        mutation=latest(mutation.LATEST),
        strikes=latest(strikes.LATEST),
        shadow=latest(shadow.LATEST),
    )


def _get(results: dict[str, Any], suite: str, key: str) -> float | None:
    value = results.get(suite, {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3f}"


def bench_caption(bench: Path, results: dict[str, Any], previous: Path | None) -> str:
    """The line that names where the benchmark table comes from."""
    before = f'; "previous" is `{previous.name}`' if previous else ""
    elapsed = f", {results['elapsed_s'] / 60:.0f} min" if "elapsed_s" in results else ""
    machine = describe(results.get("machine", {}))
    return f"From `{bench.name}` (`make bench`, {when(bench)}{elapsed}; {machine}){before}:"


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


def _was(before: dict[str, Any] | None, key: str) -> str:
    return f"{before[key]:.0%} → " if before else "– → "


def evasion_before_after(evasion: dict[str, Any], before: dict[str, Any], source: str) -> str:
    """Both models side by side, before (the earlier normal form and model) → after, in whole percents."""
    tweets, rscience = evasion.get(TWEETS_MODEL), evasion.get(RSCIENCE_MODEL)
    if not tweets or not rscience:
        return ""
    old = {m: {r["family"]: r for r in rows} for m, rows in before.get("models", {}).items()}
    old_rscience = before.get("models", {}).get(RSCIENCE_MODEL, [{}])[0].get("toxic", "–")
    by_family = {r["family"]: r for r in rscience}
    lines = [
        f"Model of offensive tweets ({tweets[0]['toxic']} toxic removed in clean form, "
        f"{tweets[0]['benign']} benign) and the r/science champion ({rscience[0]['toxic']} removed in "
        f"clean form; before: {old_rscience}); before (commit {before.get('commit', '–')}, `{source}`) "
        "→ after:",
        "",
        f"| family | offensive tweets: still removed | still flagged "
        f"| benign flagged (clean {tweets[0]['benign_flagged_clean']:.1%}) "
        "| r/science champion: still removed | still flagged |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in tweets:
        r = by_family[t["family"]]
        bt = old.get(TWEETS_MODEL, {}).get(t["family"])
        br = old.get(RSCIENCE_MODEL, {}).get(t["family"])
        lines.append(
            f"| {t['family']} | {_was(bt, 'still_removed')}{t['still_removed']:.0%} "
            f"| {_was(bt, 'still_flagged')}{t['still_flagged']:.0%} | {t['benign_flagged']:.1%} "
            f"| {_was(br, 'still_removed')}{r['still_removed']:.0%} "
            f"| {_was(br, 'still_flagged')}{r['still_flagged']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def comparison_section(results: dict[str, Any], comparison: Path | None, bench: Path | None) -> str:
    """This run's comparison, or the newest one measured (named), or why there is none."""
    if comparison is None or "compare" not in load(comparison):
        return compare.table(results.get("compare", {"skipped": compare.SKIPPED}))
    if comparison == bench:
        return compare.table(results["compare"])
    return (
        f"Comparison with {compare.PACKAGE}: not run in `{bench.name if bench else '–'}`; the newest "
        f"measured is from `{comparison.name}`, with that run's champion.\n\n"
        + compare.table(load(comparison)["compare"])
    )


def tradeoff_section(path: Path | None) -> str:
    """The model trade-off table of the newest results file that holds one."""
    if path is None:
        return "Model trade-off: not measured yet (`python -m benchmarks.tradeoff`).\n"
    result = load(path)
    if "tradeoff" in result:  # measured by `make bench`: the machine is the run's
        result = {**result["tradeoff"], "machine": result.get("machine", {})}
    return tradeoff.table(result, path.name)


def copied_from(latest: Path) -> Path | None:
    """The timestamped results file `latest` is a copy of (`cascade-latest.json` → the newest
    `cascade-<time>.json` with the same bytes), if it is still there."""
    suite = latest.name.removesuffix("latest.json")
    body = latest.read_bytes()
    twins = [p for p in latest.parent.glob(f"{suite}[0-9]*.json") if p.read_bytes() == body]
    return max(twins, key=stamp) if twins else None


def suite_caption(path: Path, results: dict[str, Any]) -> str:
    """The line naming a suite's results file, its time (from the copy's name) and machine."""
    twin = copied_from(path)
    copy = f" (a copy of `{twin.name}`, {when(twin)})" if twin else ""
    return f"From `{path.name}`{copy}; {describe(results.get('machine', {}))}:"


def suite_section(title: str, path: Path | None, command: str, body: Callable[[dict[str, Any]], str]) -> str:
    """A suite's heading, the line naming its file and its tables; or why there are none."""
    if path is None:
        return f"## {title}\n\nNot measured yet: no results file (`{command}`).\n"
    results = load(path)
    return f"## {title}\n\n{suite_caption(path, results)}\n\n{body(results).rstrip()}\n"


def _proxies_body(categories_path: Path | None) -> Callable[[dict[str, Any]], str]:
    """The proxies' own table, after the goal table that sets them beside the categories' results."""

    def body(results: dict[str, Any]) -> str:
        goals = (
            "Each goal beside the in-repo measure that stands for it (with the categories' results):\n\n"
            + categories.render_goals(load(categories_path), results)
            + "\n"
            if categories_path
            else ""
        )
        return goals + "Every proxy:\n\n" + proxies.render(results)

    return body


def _cascade_body(results: dict[str, Any]) -> str:
    return (
        "The curve (ROC-AUC on each set's test split):\n\n"
        + cascade.render(results)
        + "\n\nThe goals, fast model and cascade at the default escalation share:\n\n"
        + cascade.render_goals(results)
    )


def _interval(side: dict[str, Any]) -> str:
    lo, hi = side.get("lo"), side.get("hi")
    bounds = f" ({lo:.3f}–{hi:.3f})" if lo is not None and hi is not None else ""
    return f"{side['roc_auc']:.3f}{bounds}"


def bench_section(src: Sources) -> str:
    """`make bench`'s newest run: the summary against the one before, hostile text, the evasion suite
    (before → after, where measured), and the comparison with an off-the-shelf model."""
    results = load(src.bench) if src.bench else {}
    before = load(src.evasion_before) if src.evasion_before else {}
    parts = ["## `make bench`", ""]
    if src.bench:
        parts += [
            bench_caption(src.bench, results, src.previous),
            "",
            table(results, load(src.previous) if src.previous else None),
        ]
    else:
        parts += ["Not measured yet: no `bench-*.json` (`make bench`).", ""]
    if "hostile" in results:
        parts.append(hostile_table(results["hostile"]))
    if "evasion" in results:
        parts.append(evasion_table(results["evasion"], before))
        if src.evasion_before:
            parts.append(evasion_before_after(results["evasion"], before, src.evasion_before.name))
    parts.append(comparison_section(results, src.comparison, src.bench))
    return "\n".join(parts)


def render(directory: Path = RESULTS) -> str:
    """`latest.md` as the results files in `directory` give it: one section per suite."""
    src = sources(directory)
    sections = [
        bench_section(src),
        "## Model trade-off\n\n" + tradeoff_section(src.tradeoff),
        suite_section("Categories", src.categories, "python -m benchmarks.categories", categories.render),
        suite_section(
            "The categories' in-repo proxies",
            src.proxies,
            "python -m benchmarks.proxies",
            _proxies_body(src.categories),
        ),
        suite_section("The cascade", src.cascade, "python -m benchmarks.cascade", _cascade_body),
        suite_section("Context across messages", src.context, "python -m benchmarks.context", context.render),
        suite_section("The strikes writer", src.strikes, "python -m benchmarks.strikes", strikes.render),
        suite_section("Shadow scoring's cost", src.shadow, "python -m benchmarks.shadow", shadow.render),
        suite_section(
            "The champion against the baseline",
            src.baseline,
            "python -m benchmarks.baseline",
            baseline.render,
        ),
        suite_section("Mutation testing of the pure core", src.mutation, "make mutation", mutation.render),
    ]
    intro = (
        "Rendered from the results files it names by `python -m benchmarks report` (`make bench` does it "
        "after measuring): each suite's newest."
    )
    return "\n".join(["# Benchmark results", "", intro, "", *sections])


def write_latest(directory: Path = RESULTS) -> Path:
    """Render `latest.md` into `directory`; return its path."""
    path = directory / LATEST
    path.write_text(render(directory))
    return path
