"""Drift detection quality and speed: false alarms on same-community windows, detection of windows
with a share of the new community, and the drift-check time per 10k messages.

  python -m benchmarks.drift DATA_DIR MODEL_PATH [--windows 50] [--size 500]
"""

import argparse
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from monitoring.drift import DriftRules, assess, descriptors, evidently_report, reference_languages, summarise
from stream_consumer.language import identify
from stream_consumer.normalize import normal_form
from stream_consumer.scorer import LinearScorer
from training.corpora import Source, load_davidson, source_splits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("model_path", type=Path)
    parser.add_argument("--windows", type=int, default=50)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--text-drift", action="store_true", help="also run Evidently's text-content drift")
    args = parser.parse_args()
    scorer = LinearScorer.load(args.model_path)
    s = source_splits(args.data_dir, Source.RSCIENCE)
    reference_batch = [normal_form(x.text) for x in s.validation]  # held out: what the model never fit
    same = [(normal_form(x.text), identify(x.text)) for x in s.test]
    tweets = [(normal_form(x.text), identify(x.text)) for x in load_davidson(args.data_dir)]
    vocab = scorer.vocabulary
    reference_langs = [identify(x.text) for x in s.validation]
    known = reference_languages(reference_langs)
    reference = descriptors(
        [b.text for b in reference_batch],
        {"removal": scorer.predict_proba(reference_batch).tolist()},
        vocab,
        reference_langs,
        known,
    )
    rules = DriftRules()
    rng = random.Random(7)
    now = datetime.now(UTC)
    out: dict[str, object] = {
        "window_size": args.size,
        "windows": args.windows,
        "reference_size": len(reference),
    }
    seconds = 0.0
    checked = 0
    for share in (0.0, 0.1, 0.2):
        flagged = 0
        for _ in range(args.windows):
            k = int(args.size * share)
            pairs = rng.sample(same, args.size - k) + rng.sample(tweets, k)
            batch = [b for b, _ in pairs]
            started = time.perf_counter()
            scores = scorer.predict_proba(batch)
            current = descriptors(
                [b.text for b in batch],
                {"removal": scores.tolist()},
                vocab,
                [lang for _, lang in pairs],
                known,
            )
            _, pvalues, text_score = evidently_report(reference, current, text_drift=args.text_drift)
            result = assess(summarise(reference, current, pvalues, text_score, []), rules, now)
            seconds += time.perf_counter() - started
            checked += len(batch)
            flagged += result.drifted
        rate = flagged / args.windows
        out[f"flagged_share_{int(share * 100)}pct_tweets"] = rate
        if share > 0:
            out[f"flagged_within_two_windows_{int(share * 100)}pct"] = 1 - (1 - rate) ** 2
    out["false_alarms_in_windows"] = (
        f"{round(float(str(out['flagged_share_0pct_tweets'])) * args.windows)}/{args.windows}"
    )
    out["drift_check_s_per_10k_messages"] = seconds / checked * 10_000
    print(json.dumps(out))


if __name__ == "__main__":
    main()
