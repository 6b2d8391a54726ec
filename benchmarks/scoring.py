"""Model and handler throughput on one core, training time, cold start and peak RSS.

Run as a pinned subprocess by `python -m benchmarks` (`taskset -c 0`, one BLAS thread):
  python -m benchmarks.scoring train|model|handler|coldstart  DATA_DIR MODEL_PATH
"""

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

CHANNELS = 8  # the handler benchmarks' messages go round this many channels


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_rate(fn: Callable[[], int], min_seconds: float = 2.0, repeats: int = 3) -> float:
    """Messages per second: the best of `repeats` runs of at least `min_seconds` each."""
    best = 0.0
    for _ in range(repeats):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < min_seconds:
            n += fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def train(data_dir: Path, model_path: Path) -> dict[str, float]:
    from training.corpora import Source, source_splits  # noqa: PLC0415
    from training.train import ModelParams, fit  # noqa: PLC0415

    started = time.perf_counter()
    s = source_splits(data_dir, Source.RSCIENCE)
    loaded = time.perf_counter()
    model = fit(s.train, s.validation, ModelParams())
    fitted = time.perf_counter()
    model.scorer.save(model_path)
    return {
        "load_split_s": loaded - started,
        "fit_s": fitted - loaded,
        "c_grid_size": len(ModelParams().c_grid),
    }


def _test_texts(data_dir: Path) -> list[str]:
    from training.corpora import Source, source_splits  # noqa: PLC0415

    return [x.text for x in source_splits(data_dir, Source.RSCIENCE).test]


def model(data_dir: Path, model_path: Path) -> dict[str, float]:
    """The exported scorer alone, and with normalisation: raw text in, calibrated scores out."""
    from stream_consumer.normalize import NormalText, normal_form  # noqa: PLC0415
    from stream_consumer.scorer import LinearScorer  # noqa: PLC0415

    scorer = LinearScorer.load(model_path)
    texts = _test_texts(data_dir)
    normalised = [normal_form(t) for t in texts]
    out: dict[str, float] = {}
    for size in (100, 500):
        chunks = [normalised[i : i + size] for i in range(0, len(normalised) - size + 1, size)]
        raw_chunks = [texts[i : i + size] for i in range(0, len(texts) - size + 1, size)]

        def scores_only(chunks: list[list[NormalText]] = chunks) -> int:
            for c in chunks:
                scorer.predict_proba(c)
            return sum(map(len, chunks))

        def with_reasons(chunks: list[list[NormalText]] = chunks) -> int:
            for c in chunks:
                scorer.score(c, top_k=3)
            return sum(map(len, chunks))

        def end_to_end(chunks: list[list[str]] = raw_chunks) -> int:
            for c in chunks:
                scorer.score([normal_form(t) for t in c], top_k=3)
            return sum(map(len, chunks))

        out[f"scores_msg_per_s_batch{size}"] = _best_rate(scores_only)
        out[f"scores_reasons_msg_per_s_batch{size}"] = _best_rate(with_reasons)
        out[f"normalise_score_reasons_msg_per_s_batch{size}"] = _best_rate(end_to_end)
    out["mean_chars"] = sum(map(len, texts)) / len(texts)
    return out


def _tweets(data_dir: Path) -> list[str]:
    from training.corpora import load_davidson  # noqa: PLC0415

    return [x.text for x in load_davidson(data_dir)[:5_000]]


def handler_tweets(data_dir: Path, model_path: Path) -> dict[str, float]:
    """`handler` on chat-length messages (Davidson's tweets) instead of r/science comments."""
    return handler(data_dir, model_path, _tweets(data_dir))


def handler_mix(data_dir: Path, model_path: Path) -> dict[str, float]:
    """`handler` on the cascade benchmark's chat mix (r/science, tweets, spam, German tweets)."""
    from benchmarks.cascade import mix_texts  # noqa: PLC0415

    return handler(data_dir, model_path, mix_texts(data_dir))


def handler_mix_shadow(data_dir: Path, model_path: Path, share: float) -> dict[str, float]:
    """`handler_mix` with a challenger published (the same archive, loaded again as version 2) and the
    policy's shadow share `share` (0: published, nothing drawn)."""
    from benchmarks.cascade import mix_texts  # noqa: PLC0415

    return handler(data_dir, model_path, mix_texts(data_dir), shadow_share=share)


def handler_mix_canary(data_dir: Path, model_path: Path, share: float) -> dict[str, float]:
    """`handler_mix` with a canary (the same archive, loaded again as version 2) serving `share` of the
    channels, the champion shadow-scoring them."""
    from benchmarks.cascade import mix_texts  # noqa: PLC0415

    return handler(data_dir, model_path, mix_texts(data_dir), canary_share=share)


def handler(
    data_dir: Path,
    model_path: Path,
    texts: list[str] | None = None,
    shadow_share: float | None = None,
    canary_share: float | None = None,
) -> dict[str, float]:
    """The consumer's `handle` on real Lambda events, with in-memory sinks (no I/O): r/science's test
    comments unless `texts` are given; with `shadow_share`, a challenger shadow-scores that share; with
    `canary_share`, a canary serves that share of the channels."""
    import logging  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415
    from uuid import uuid4  # noqa: PLC0415

    from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy  # noqa: PLC0415
    from local_esm.esm import StreamRecord, lambda_event, roundtrip  # noqa: PLC0415
    from stream_consumer.consumer import Consumer  # noqa: PLC0415
    from stream_consumer.moderation import Canary, Champion  # noqa: PLC0415
    from stream_consumer.scorer import CategoryModel  # noqa: PLC0415
    from stream_consumer.settings import ConsumerSettings  # noqa: PLC0415
    from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink  # noqa: PLC0415

    logging.getLogger("chat-moderation").setLevel(logging.WARNING)  # the batch line is not the workload
    champion = Champion("chat-moderation", "1", CategoryModel.load(model_path))  # as the consumer loads
    policies = PolicyBook()
    challenger = None
    if shadow_share is not None:
        challenger = Champion("chat-moderation", "2", CategoryModel.load(model_path))
        policies = PolicyBook(default=ChannelPolicy(sampling=SamplingPolicy(shadow=shadow_share)))
    canary = (
        Canary(Champion("chat-moderation", "2", CategoryModel.load(model_path)), canary_share)
        if canary_share is not None
        else None
    )
    verdicts, dead, archive = (
        MemoryVerdictSink(keep=False),
        MemoryDeadLetterSink(),
        MemoryArchiveSink(keep=False),
    )
    from stream_consumer import encoder  # noqa: PLC0415

    settings = ConsumerSettings()
    with_encoder = encoder.shared(settings.encoder_threads) if champion.scorer.cascade else None
    consumer = Consumer(
        settings,
        lambda: champion,
        lambda: policies,
        verdicts,
        dead,
        archive,
        with_encoder,
        (lambda: challenger) if challenger is not None else None,
        lambda: canary,
    )
    texts = texts or _test_texts(data_dir)
    now = datetime.now(UTC).isoformat()
    payloads = [
        json.dumps(
            {
                "message_id": str(uuid4()),
                "channel_id": f"channel-{i % CHANNELS:02d}",
                "user_id": f"user-{i:05d}",
                "text": t,
                "sent_at": now,
            }
        ).encode()
        for i, t in enumerate(texts)
    ]
    arn = "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages"
    out: dict[str, float] = {}
    for size in (100, 500):
        events = []
        for start in range(0, len(payloads) - size + 1, size):
            recs = [
                StreamRecord(str(start + j), "k", p, time.time())
                for j, p in enumerate(payloads[start : start + size])
            ]
            events.append(roundtrip(lambda_event("shardId-000000000000", arn, "us-east-1", recs)))

        def run(events: list[dict[str, object]] = events) -> int:
            n = 0
            for e in events:
                consumer.handle_event(e)
                n += len(e["Records"])  # type: ignore[arg-type]
            return n

        out[f"handler_msg_per_s_batch{size}"] = _best_rate(run)
    stages = {k.removeprefix("stage."): v for k, v in consumer.totals.items() if k.startswith("stage.")}
    out["escalated_share"] = stages.get("encoder", 0) / max(sum(stages.values()), 1)
    out["over_budget_share"] = stages.get("fast_over_budget", 0) / max(sum(stages.values()), 1)
    handled = sum(v for k, v in consumer.totals.items() if k in ("allow", "review", "remove"))
    out["shadow_scored_share"] = consumer.totals["shadow.scored"] / max(handled, 1)
    out["shadow_dropped_batches"] = float(consumer.totals["shadow.dropped"])
    out["canary_served_share"] = consumer.totals["canary.served"] / max(handled, 1)
    return out


def coldstart(data_dir: Path, model_path: Path) -> dict[str, float]:
    """Import the handler module and load the champion from bytes (as from S3): a Lambda cold start."""
    started = time.perf_counter()
    import stream_consumer.handler  # noqa: F401, PLC0415
    from stream_consumer import encoder  # noqa: PLC0415
    from stream_consumer.normalize import normal_form  # noqa: PLC0415
    from stream_consumer.scorer import CategoryModel  # noqa: PLC0415
    from stream_consumer.settings import ConsumerSettings  # noqa: PLC0415

    imported = time.perf_counter()
    settings = ConsumerSettings()
    if settings.encoder:  # as `build_consumer` loads it, once per process
        encoder.shared(settings.encoder_threads).embed(["first message after a cold start"])
    encoded = time.perf_counter()
    scorer = CategoryModel.load(model_path.read_bytes())  # as the consumer loads a champion
    scorer.score_categories([normal_form("first message after a cold start")])
    loaded = time.perf_counter()
    return {
        "import_s": imported - started,
        "load_encoder_s": encoded - imported,
        "load_model_s": loaded - encoded,
        "cold_start_s": loaded - started,
        "peak_rss_mb": peak_rss_mb(),
        "heavy_modules_loaded": float(
            any(m in sys.modules for m in ("sklearn", "scipy", "mlflow", "pandas"))
        ),
        "model_bytes": float(model_path.stat().st_size),
    }


if __name__ == "__main__":
    suites = {
        "train": train,
        "model": model,
        "handler": handler,
        "handler_tweets": handler_tweets,
        "handler_mix": handler_mix,
        "coldstart": coldstart,
    }
    name, data, path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    shares = {"handler_mix_shadow": handler_mix_shadow, "handler_mix_canary": handler_mix_canary}
    result = shares[name](data, path, float(sys.argv[4])) if name in shares else suites[name](data, path)
    if name != "coldstart":
        result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
