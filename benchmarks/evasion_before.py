"""The evasion suite measured on an earlier version of the project (its normal form, rules and model),
for the before/after table. Runs against that version's code, which must come first on the path:

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/evasion_before.py --commit <commit>

It trains that version's two comparable models (its default r/science champion, and the same trained on
the Davidson training split), loads this repository's `training/adversarial.py` by path, scores through
that version's own path (normalise, then its channel rule: an allowed term allowed the whole message),
and writes `benchmarks/results/evasion-before-<commit>.json`.
"""

import argparse
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", required=True)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("suite", ROOT / "training" / "adversarial.py")
    assert spec is not None
    assert spec.loader is not None
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)

    # that version's loaders (this one's are in training.corpora)
    from training.data import load_davidson, load_rscience, split  # type: ignore[import-untyped]  # noqa: PLC0415

    from contracts.policy import ChannelPolicy, Thresholds  # noqa: PLC0415
    from stream_consumer.normalize import normalize  # noqa: PLC0415 - that version's
    from training.train import ModelParams, fit  # noqa: PLC0415

    rscience = split(load_rscience(args.data_dir), seed=42)
    tweets = split(load_davidson(args.data_dir), seed=42)
    toxic = [x.text for x in tweets.test if x.y == 1][:1000]
    benign = [x.text for x in tweets.test if x.y == 0][:1000]
    policy: Any = ChannelPolicy(allow_terms=(suite.ALLOWED_TERM,))  # that version's, with its `rule`
    models = {
        "r/science champion": fit(rscience.train, rscience.validation, ModelParams()).scorer,
        "offensive tweets, 16-token windows": fit(tweets.train, tweets.validation, ModelParams()).scorer,
    }
    out: dict[str, Any] = {"commit": args.commit, "models": {}}
    for name, scorer in models.items():

        def score(texts: Sequence[str], scorer: Any = scorer) -> Any:
            normal = [normalize(t) for t in texts]
            probability = scorer.predict_proba(normal)
            forced = [policy.rule(t) for t in normal]  # that version's rule decided before the model
            return np.array(
                [
                    p if hit is None else (1.0 if hit.action == "remove" else 0.0)
                    for p, hit in zip(probability, forced, strict=True)
                ]
            )

        out["models"][name] = suite.evasion_suite(score, toxic, benign, Thresholds()).table()
    path = ROOT / "benchmarks" / "results" / f"evasion-before-{args.commit}.json"
    path.write_text(json.dumps(out, indent=2))
    print(path)


if __name__ == "__main__":
    main()
