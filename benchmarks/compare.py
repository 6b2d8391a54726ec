"""The champion beside an off-the-shelf profanity model (alt-profanity-check, MIT, its own
scikit-learn model), on the same r/science test split and in the same pinned process.

Both take raw text and return a probability: the champion normalises and scores (its exported
`scorer.npz`, numpy only), alt-profanity-check vectorises and scores with its bundled model.
Quality: ROC-AUC and PR-AUC (average precision) against the moderators' removals; speed: messages
per second on one core, in batches of 100 (the event source mapping's batch) and of 500, best of
three runs of at least two seconds each.

  python -m benchmarks.compare DATA_DIR MODEL_PATH

Run as a pinned subprocess by `python -m benchmarks` when `profanity_check` is importable
(`make bench COMPARE=1` installs the `compare` dependency group).
"""

import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.scoring import _best_rate

MODULE = "profanity_check"
PACKAGE = "alt-profanity-check"
BATCHES = (100, 500)
SKIPPED = f"{PACKAGE} is not installed (`make bench COMPARE=1` installs the `compare` dependency group)"


def available() -> bool:
    """Whether the comparison can run: alt-profanity-check importable in this environment."""
    return importlib.util.find_spec(MODULE) is not None


def _measure(
    name: str, predict: Callable[[Sequence[str]], Sequence[float]], texts: list[str], y: list[int]
) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: PLC0415

    probs = [float(p) for i in range(0, len(texts), 100) for p in predict(texts[i : i + 100])]
    out: dict[str, Any] = {
        "model": name,
        "roc_auc": float(roc_auc_score(y, probs)),
        "pr_auc": float(average_precision_score(y, probs)),
    }
    for size in BATCHES:
        chunks = [texts[i : i + size] for i in range(0, len(texts) - size + 1, size)]

        def run(chunks: list[list[str]] = chunks) -> int:
            for c in chunks:
                predict(c)
            return sum(map(len, chunks))

        out[f"msg_per_s_batch{size}"] = _best_rate(run)
    return out


def compare(data_dir: Path, model_path: Path) -> dict[str, Any]:
    """Both models on the r/science test split (seed 42, as training and `benchmarks.scoring`)."""
    from importlib.metadata import version  # noqa: PLC0415

    from profanity_check import predict_prob  # noqa: PLC0415

    from contracts.categories import Category  # noqa: PLC0415
    from stream_consumer.normalize import normal_form  # noqa: PLC0415
    from stream_consumer.scorer import LinearScorer  # noqa: PLC0415
    from training.corpora import Source, source_splits  # noqa: PLC0415

    texts, y = source_splits(data_dir, Source.RSCIENCE).of("test", Category.REMOVAL)
    scorer = LinearScorer.load(model_path)

    def champion(batch: Sequence[str]) -> Sequence[float]:
        return list(scorer.predict_proba([normal_form(t) for t in batch]))

    def profanity(batch: Sequence[str]) -> Sequence[float]:
        return list(predict_prob(list(batch)))

    return {
        "test_split": {"messages": len(texts), "removed": sum(y), "seed": 42},
        "batch_sizes": list(BATCHES),
        "models": [
            _measure("champion (normalise + score)", champion, texts, y),
            _measure(f"{PACKAGE} {version(PACKAGE)}", profanity, texts, y),
        ],
    }


def table(result: dict[str, Any]) -> str:
    """The markdown side-by-side table (or the line saying why there is none)."""
    if "skipped" in result:
        return f"Comparison with {PACKAGE}: skipped — {result['skipped']}.\n"
    split = result["test_split"]
    lines = [
        f"Comparison on the r/science test split ({split['messages']} messages, {split['removed']} removed; "
        "raw text in, probability out, one core):",
        "",
        "| model | ROC-AUC | PR-AUC | msg/s/core (batch 100) | msg/s/core (batch 500) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m['model']} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} "
        f"| {m['msg_per_s_batch100']:,.0f} | {m['msg_per_s_batch500']:,.0f} |"
        for m in result["models"]
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(json.dumps(compare(Path(sys.argv[1]), Path(sys.argv[2]))))
