"""Hostile text: the cost of the worst 10,000-character messages, and the evasion suite's table.

Run as a pinned subprocess by `python -m benchmarks`:
  python -m benchmarks.adversarial cost    DATA_DIR MODEL_PATH   # ms per 10k-char message, batch of 100
  python -m benchmarks.adversarial evasion DATA_DIR MODEL_PATH   # per family, two models
"""

import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
from numpy.typing import NDArray


def _records(texts: list[str]) -> list[Any]:
    from contracts.chat import ChatMessage  # noqa: PLC0415
    from contracts.lambda_event import read_event  # noqa: PLC0415
    from local_esm.esm import StreamRecord, lambda_event, roundtrip  # noqa: PLC0415

    now = datetime.now(UTC)
    records = [
        StreamRecord(
            str(i),
            "c",
            ChatMessage(message_id=uuid4(), channel_id="c", user_id="u", text=t, sent_at=now)
            .model_dump_json()
            .encode(),
            now.timestamp(),
        )
        for i, t in enumerate(texts)
    ]
    return read_event(
        roundtrip(lambda_event("shardId-0", "arn:aws:kinesis:::stream/s", "us-east-1", records))
    )


def cost(data_dir: Path, model_path: Path) -> dict[str, Any]:
    """Per hostile generator: best-of-5 ms to judge one 10,000-character message and a batch of 100."""
    from contracts.policy import ChannelPolicy, PolicyBook  # noqa: PLC0415
    from stream_consumer.moderation import Champion, moderate  # noqa: PLC0415
    from stream_consumer.scorer import LinearScorer  # noqa: PLC0415
    from training.adversarial import HOSTILE_TEXTS  # noqa: PLC0415

    champion = Champion("chat-moderation", "1", LinearScorer.load(model_path))
    book = PolicyBook(default=ChannelPolicy(block_terms=("spam link", "fuck off"), allow_terms=("gg",)))

    def best_ms(records: list[Any], repeats: int = 5) -> float:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            moderate(records, champion, book, datetime.now(UTC))
            best = min(best, time.perf_counter() - started)
        return best * 1000

    rows = {}
    for name, make in HOSTILE_TEXTS.items():
        one = _records([make(10_000)])
        batch = _records([make(10_000)] * 100)
        moderate(one, champion, book, datetime.now(UTC))  # warm caches
        rows[name] = {"ms_per_message": best_ms(one), "ms_per_batch_of_100": best_ms(batch, repeats=2)}
    ordinary = rows["ordinary text"]["ms_per_message"]
    worst = max(rows, key=lambda n: rows[n]["ms_per_message"])
    return {
        "chars": 10_000,
        "generators": rows,
        "worst": worst,
        "worst_ms_per_message": rows[worst]["ms_per_message"],
        "worst_over_ordinary": rows[worst]["ms_per_message"] / ordinary,
        "worst_ms_per_batch_of_100": max(r["ms_per_batch_of_100"] for r in rows.values()),
    }


def evasion(data_dir: Path, model_path: Path) -> dict[str, Any]:
    """The evasion suite on 1,000 toxic and 1,000 benign held-out tweets (the Davidson test split), for
    the benchmark's r/science champion and for a model of offensive tweets reading 16-token windows."""
    from contracts.categories import Category  # noqa: PLC0415
    from contracts.policy import DEFAULT_THRESHOLDS, ChannelPolicy  # noqa: PLC0415
    from stream_consumer.scorer import LinearScorer  # noqa: PLC0415
    from training.adversarial import ALLOWED_TERM, evasion_suite  # noqa: PLC0415
    from training.corpora import Source, source_splits  # noqa: PLC0415
    from training.serving import serving_scores  # noqa: PLC0415
    from training.train import ModelParams, fit  # noqa: PLC0415

    tweets = source_splits(data_dir, Source.DAVIDSON)
    toxic = [x.text for x in tweets.test if x.labels[Category.TOXICITY] == 1][:1000]
    benign = [x.text for x in tweets.test if x.labels[Category.TOXICITY] == 0][:1000]
    policy = ChannelPolicy(allow_terms=(ALLOWED_TERM,))
    models = {
        "r/science champion": LinearScorer.load(model_path),
        "offensive tweets, 16-token windows": fit(
            tweets.train, tweets.validation, ModelParams(c_grid=(1.0,), window_tokens=16), Category.TOXICITY
        ).scorer,
    }
    out = {}
    for name, scorer in models.items():

        def score(texts: Sequence[str], scorer: LinearScorer = scorer) -> NDArray[np.float64]:
            return serving_scores(scorer, texts, policy)

        out[name] = evasion_suite(score, toxic, benign, DEFAULT_THRESHOLDS).table()
    return out


if __name__ == "__main__":
    suite, data_dir, model_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out = {"cost": cost, "evasion": evasion}[suite](data_dir, model_path)
    print(json.dumps(out))
