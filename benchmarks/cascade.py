"""The cascade's benchmark (`make bench`): escalation share vs ROC-AUC per category vs msg/s per core.

python -m benchmarks.cascade            # measure, write cascade-<time>.json and cascade-latest.json

One training of every category on every labelled set with the cascade (as `train_flow` fits it), then,
for each escalation share of the curve, the same heads with their bands chosen again on validation:
the test ROC-AUC of every evaluation, the share escalated on the chat mix, and the handler's msg/s on
one core with the encoder on. Then the languages: the German test split scored by a model that never
saw German (every German message goes to the encoder, read cross-lingually) against the in-language
model; and the cold start with the encoder.
"""

import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import machine, run_pinned, write_named
from runtime.telemetry import quiet

LATEST = "cascade-latest.json"
SHARES = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
MIX_EACH = 600  # test texts of each kind in the chat mix
GOALS = {
    "removal/rscience": 0.85,
    "toxicity/olid": 0.90,
    "hate/hatexplain": 0.90,
    "toxicity/germeval": 0.85,
    "handler_msg_per_s": 2_000,
    "cold_start_s": 1.5,
    "peak_rss_mb": 400,
}


def _say(what: str) -> None:
    print(f"cascade: {what}", file=sys.stderr, flush=True)


def mix_texts(data_dir: Path) -> list[str]:
    """The chat mix the handler replays: test texts of r/science, tweets, spam and German tweets,
    interleaved (3 : 3 : 1 : 1), none of which any model here trained on."""
    from training.corpora import Source, load_all, split_examples  # noqa: PLC0415

    test = split_examples(load_all(data_dir)).test
    kinds = [
        [e.text for e in test if e.source == Source.RSCIENCE],
        [e.text for e in test if e.source == Source.DAVIDSON],
        [e.text for e in test if e.source in (Source.SMS, Source.YOUTUBE)],
        [e.text for e in test if e.source == Source.GERMEVAL],
    ]
    weights = (3, 3, 1, 1)
    out: list[str] = []
    for i in range(MIX_EACH):
        for texts, w in zip(kinds, weights, strict=True):
            out += texts[i * w : (i + 1) * w]
    return out


def _steps(data_dir: Path, model_path: Path, sources: list[str] | None) -> dict[str, Any]:
    quiet()
    from prefect import flow  # noqa: PLC0415
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415

    from contracts.categories import Category  # noqa: PLC0415
    from contracts.policy import CATEGORY_THRESHOLDS, DEFAULT_THRESHOLDS  # noqa: PLC0415
    from training.cascade import band_share, choose_band, encoder_text, escalation, fast_scores  # noqa: PLC0415
    from training.corpora import Source  # noqa: PLC0415
    from training.flow import evaluate_on_tests, fit_model, load_and_split  # noqa: PLC0415
    from training.serving import CachedScores  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415
    from training.train import CategoryParams  # noqa: PLC0415

    settings = TrainingSettings(data_dir=data_dir, publish=False)
    if sources:
        settings = settings.model_copy(update={"sources": [Source(s) for s in sources]})

    @flow(name="cascade_benchmark")
    def steps() -> dict[str, Any]:
        from stream_consumer.language import identify  # noqa: PLC0415

        started = time.perf_counter()
        data = load_and_split(settings)
        trained = fit_model(settings, data, CategoryParams())
        out: dict[str, Any] = {
            "fit_s": time.perf_counter() - started,
            "sources": [str(s) for s in settings.sources],
        }
        model = trained.model
        assert model.cascade is not None
        assert trained.cascade is not None
        out["validation_auc"] = trained.cascade.validation_auc
        out["languages"] = list(model.cascade.languages)
        model.save(model_path)
        if sources:  # the cross-lingual row: GermEval's test split, which this model never saw
            from sklearn.metrics import roc_auc_score  # noqa: PLC0415

            from training.corpora import load_all, split_examples  # noqa: PLC0415
            from training.serving import category_scores  # noqa: PLC0415

            german = split_examples(load_all(data_dir, [Source.GERMEVAL])).test
            texts, y = [e.text for e in german], [e.labels[Category.TOXICITY] for e in german]
            out["german_test"] = {
                "n": len(texts),
                "fast": float(roc_auc_score(y, fast_scores(model, texts)[Category.TOXICITY])),
                "cascade": float(roc_auc_score(y, category_scores(model, texts)[Category.TOXICITY])),
                "escalated": escalation(
                    model.cascade,
                    fast_scores(model, texts),
                    [encoder_text(t) for t in texts],
                    [identify(encoder_text(t)) for t in texts],
                ),
            }
            return out
        # the curve: the same heads, their bands chosen again for each share
        val = [e for e in data.splits.validation if any(e.label(c) is not None for c in model.categories)]  # type: ignore[arg-type]
        fast_val = fast_scores(model, [e.text for e in val])
        mix = mix_texts(data_dir)
        fast_mix = fast_scores(model, mix)
        mix_encoded = [encoder_text(t) for t in mix]
        mix_languages = [identify(t) for t in mix_encoded]
        curve = []
        for share in SHARES:
            heads = {}
            for name, head in model.cascade.heads.items():
                center = CATEGORY_THRESHOLDS.get(Category(name), DEFAULT_THRESHOLDS).review
                per = band_share(share, len(model.cascade.heads))
                heads[name] = replace(head, band=choose_band(fast_val[name], per, center))
            at = replace(model, cascade=replace(model.cascade, heads=heads))
            path = model_path.with_name(f"share-{share}.npz")
            at.save(path)
            reports = evaluate_on_tests(CachedScores(at), data)
            _say(f"share {share}: handler on the chat mix …")
            handler = run_pinned("benchmarks.scoring", "handler_mix", str(data_dir), str(path))
            curve.append(
                {
                    "share": share,
                    "escalated_mix": escalation(at.cascade, fast_mix, mix_encoded, mix_languages),  # type: ignore[arg-type]
                    "roc_auc": {n: r.roc_auc for n, r in reports.items()},
                    "review_share": {n: r.review_share for n, r in reports.items()},
                    "remove_precision": {n: r.remove_precision for n, r in reports.items()},
                    "handler": handler,
                }
            )
            _say(f"share {share}: {json.dumps(curve[-1]['roc_auc'])} {handler}")
        out["curve"] = curve
        return out

    with prefect_test_harness():
        return steps()


def measure(data_dir: Path) -> dict[str, Any]:
    from training.corpora import Source  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415

    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(),
        "goals": GOALS,
        "default_share": TrainingSettings().escalation_share,
    }
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "scorer.npz"
        _say("every set, the cascade's curve …")
        results["all_sets"] = _steps(data_dir, model_path, None)
        _say("put → verdict at 1,000 msg/s through moto's server, the cascade on …")
        from benchmarks.e2e import run as run_e2e  # noqa: PLC0415 - the emulators' imports

        served = model_path.with_name(f"share-{results['default_share']}.npz")
        results["e2e_moto"] = run_e2e(data_dir, served, "moto", [1000.0], 10.0)
        _say("cold start with the encoder …")
        results["coldstart"] = run_pinned("benchmarks.scoring", "coldstart", str(data_dir), str(model_path))
        _say("a model that never saw German …")
        english = [str(s) for s in Source if s != Source.GERMEVAL]
        results["without_german"] = _steps(data_dir, Path(tmp) / "english.npz", english)
    return results


def write(results: dict[str, Any]) -> Path:
    return write_named("cascade", results)


def render(results: dict[str, Any]) -> str:
    """The curve and the goal table, as docs/model.md quotes them."""
    curve = results["all_sets"]["curve"]
    names = sorted(curve[0]["roc_auc"])
    lines = [
        "| escalation target | escalated (chat mix) | msg/s, one core (batch 100) | "
        + " | ".join(names)
        + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for point in curve:
        lines.append(
            f"| {point['share']:.0%} | {point['escalated_mix']:.1%} | "
            f"{point['handler']['handler_msg_per_s_batch100']:,.0f} | "
            + " | ".join(f"{point['roc_auc'][n]:.3f}" for n in names)
            + " |"
        )
    return "\n".join(lines)


def default_share(results: dict[str, Any]) -> float:
    """The escalation share `train_flow` fits by default (recorded by the run; else today's setting)."""
    from training.settings import TrainingSettings  # noqa: PLC0415

    return float(results.get("default_share", TrainingSettings().escalation_share))


def render_goals(results: dict[str, Any]) -> str:
    """Each goal row: the fast model, the cascade at the default escalation share, the goal."""
    share = default_share(results)
    curve = {p["share"]: p for p in results["all_sets"]["curve"]}
    fast, at = curve[0.0], curve[share]
    german = results["without_german"]
    cold = results["coldstart"]
    rows = [
        (
            "removal, r/science test split",
            fast["roc_auc"]["removal/rscience"],
            at["roc_auc"]["removal/rscience"],
            "≥ 0.85",
        ),
        (
            "toxicity, OLID test split (of the training file)",
            fast["roc_auc"]["toxicity/olid"],
            at["roc_auc"]["toxicity/olid"],
            "≥ 0.90",
        ),
        (
            "hate, HateXplain test split",
            fast["roc_auc"]["hate/hatexplain"],
            at["roc_auc"]["hate/hatexplain"],
            "≥ 0.90",
        ),
        (
            "toxicity, GermEval test split, model with German",
            fast["roc_auc"]["toxicity/germeval"],
            at["roc_auc"]["toxicity/germeval"],
            "≥ 0.85",
        ),
        (
            "toxicity, GermEval test split, model without German",
            german["german_test"]["fast"],
            german["german_test"]["cascade"],
            "≥ 0.85",
        ),
    ]
    lines = ["| measure | fast model | cascade | goal |", "|---|---|---|---|"]
    lines += [f"| {name} | {f:.3f} | {c:.3f} | {goal} |" for name, f, c, goal in rows]
    lines.append(
        f"| handler msg/s on the chat mix, one core | {fast['handler']['handler_msg_per_s_batch100']:,.0f} | "
        f"{at['handler']['handler_msg_per_s_batch100']:,.0f} | ≥ 2,000 |"
    )
    e2e = results.get("e2e_moto")
    if e2e:
        run = max(e2e["runs"], key=lambda r: r["rate_target"])
        p99 = f"{run['p99_s']:.2f} s" if run["p99_s"] is not None else "–"
        lines.append(
            f"| put → verdict p99 at {run['rate_target']:,.0f} msg/s (moto's server; "
            f"{run['verdicts']:,} of {run['messages']:,} judged) | – | {p99} | < 1 s |"
        )
    lines.append(
        f"| cold start / peak RSS while handling | – | {cold['cold_start_s']:.2f} s / "
        f"{at['handler']['peak_rss_mb']:.0f} MB | < 1.5 s / < 400 MB |"
    )
    return "\n".join(lines)


def main() -> None:
    from training.settings import TrainingSettings  # noqa: PLC0415

    path = write(measure(TrainingSettings().data_dir))
    print(f"results: {path}")
    results = json.loads(path.read_text())
    print(render(results))
    print(render_goals(results))


if __name__ == "__main__":
    main()
