"""What shadow scoring costs the consumer: handler messages per second on one core, the cascade's chat
mix, with no challenger, with one published but nothing drawn (share 0), and with shares of 25% and
100% drawn (the challenger is the same archive loaded again as version 2, so it costs what a champion
does); and with a canary serving half the channels (two models serving, the champion shadow-scoring
the canary's channels); the extra handler time each adds, and peak memory.

The model: fitted as `train_flow` fits it (every category, the cascade's encoder heads) on every set
but Davidson's and GermEval's (the demo's), so the run takes minutes, not ten.

python -m benchmarks.shadow [--data-dir DIR]  # → results/shadow-<time>.json and shadow-latest.json
"""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import machine, run_pinned, write_named

NAME = "shadow"
LATEST = f"{NAME}-latest.json"
SHARES = (0.0, 0.25, 1.0)
CANARY = 0.5  # the share of channels the canary serves
GOAL_EXTRA = 0.60  # at a 100% share, at most 60% more handler time


def _say(what: str) -> None:
    print(f"shadow benchmark: {what}", file=sys.stderr, flush=True)


def _model(data_dir: Path, path: Path) -> list[str]:
    from benchmarks.baseline import served  # noqa: PLC0415
    from training.corpora import Source, load_all, split_examples  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415

    sources = [s for s in Source if s not in (Source.DAVIDSON, Source.GERMEVAL)]
    settings = TrainingSettings(data_dir=data_dir, publish=False, sources=sources)
    splits = split_examples(load_all(data_dir, sources), settings.seed)
    served(splits, settings.categories, settings).save(path)
    return [str(s) for s in sources]


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(runs, key=lambda r: float(r["handler_msg_per_s_batch100"]))


def measure(data_dir: Path, rounds: int = 2, model: Path | None = None) -> dict[str, Any]:
    """Each setting run `rounds` times, in turn (a busy machine slows every setting alike), the fastest
    run of each kept. `model`: an archive to read (fitted and written there first when it is missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = model or Path(tmp) / "scorer.npz"
        if path.is_file():
            sources = ["(a saved model)"]
        else:
            _say("fitting the model (every category, the cascade) …")
            sources = _model(data_dir, path)
        settings: dict[str, tuple[str, ...]] = {
            "off": ("handler_mix",),
            **{f"shadow {share}": ("handler_mix_shadow", str(share)) for share in SHARES},
            "canary": ("handler_mix_canary", str(CANARY)),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in settings}
        for k in range(rounds):
            for name, (suite, *tail) in settings.items():
                _say(f"round {k + 1}: {name}")
                runs[name].append(run_pinned("benchmarks.scoring", suite, str(data_dir), str(path), *tail))
    off = _best(runs["off"])
    rows = []
    for share in SHARES:
        on = _best(runs[f"shadow {share}"])
        extra = off["handler_msg_per_s_batch100"] / on["handler_msg_per_s_batch100"] - 1
        rows.append({"share": share, **on, "extra_handler_time": extra})
    canary = _best(runs["canary"])
    return {
        "machine": machine(),
        "sources": sources,
        "rounds": rounds,
        "off": off,
        "shares": rows,
        "canary": {
            "share_of_channels": CANARY,
            **canary,
            "extra_handler_time": off["handler_msg_per_s_batch100"] / canary["handler_msg_per_s_batch100"]
            - 1,
        },
        "goal_extra": GOAL_EXTRA,
    }


def render(results: dict[str, Any]) -> str:
    off = results["off"]
    lines = [
        "| challenger | drawn | handler msg/s (batches of 100) | extra handler time | shadow-scored | RSS |",
        "|---|---:|---:|---:|---:|---:|",
        f"| none | – | {off['handler_msg_per_s_batch100']:,.0f} | – | – | {off['peak_rss_mb']:.0f} MB |",
    ]
    for row in results["shares"]:
        lines.append(
            f"| published | {row['share']:.0%} | {row['handler_msg_per_s_batch100']:,.0f} | "
            f"{row['extra_handler_time']:+.0%} | {row['shadow_scored_share']:.0%} | "
            f"{row['peak_rss_mb']:.0f} MB |"
        )
    canary = results.get("canary")
    if canary:  # results written before the canary have none
        lines.append(
            f"| canary on {canary['share_of_channels']:.0%} of channels (served "
            f"{canary['canary_served_share']:.0%} of messages) | – | "
            f"{canary['handler_msg_per_s_batch100']:,.0f} | {canary['extra_handler_time']:+.0%} | "
            f"{canary['shadow_scored_share']:.0%} | {canary['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from training.settings import TrainingSettings  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m benchmarks.shadow", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--model", type=Path, default=None, help="an archive to reuse (fitted there if missing)"
    )
    args = parser.parse_args(argv)
    results = measure(args.data_dir or TrainingSettings().data_dir, model=args.model)
    path = write_named(NAME, results)
    print(render(results))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
