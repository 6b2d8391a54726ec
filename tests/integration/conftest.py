"""Fixtures for the consumer on the emulator: trained champions, publishing them, settings, readers."""

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.storage import ChampionManifest
from contracts.verdict import Verdict
from runtime import aws
from runtime.kinesis import read_stream
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from training.data import load_rscience, split
from training.registry import upload_champion
from training.train import ModelParams, fit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(scope="session")
def scorers(data_dir: Path) -> dict[str, LinearScorer]:
    """Two real champions trained on r/science: the serving one, and a different one to promote."""
    s = split(load_rscience(data_dir), seed=42)
    v1 = fit(s.train, s.validation, ModelParams(c_grid=(3.0,))).scorer
    v2 = fit(s.train, s.validation, ModelParams(c_grid=(0.3,), bigrams=False)).scorer
    return {"1": v1, "2": v2}


def publish_scorer(s3: "S3Client", bucket: str, scorer: LinearScorer, version: str) -> ChampionManifest:
    """What a promotion writes: the exported model, then the manifest naming it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorer.npz"
        scorer.save(path)
        body = path.read_bytes()
    return upload_champion(
        s3, bucket, "champion.json", "chat-moderation", version, f"run-{version}", body, None, "test"
    )


def consumer_settings(
    stack: Stack, endpoint_url: str, tmp_path: Path, **overrides: object
) -> ConsumerSettings:
    """The stack's consumer, tuned to drain small test streams quickly."""
    fast: dict[str, object] = {
        "aws_endpoint_url": endpoint_url,
        "checkpoint_dir": tmp_path / "checkpoints",
        "reload_interval_s": 1.0,
        "batching_window_s": 0.2,
        "poll_interval_s": 0.05,
        "retry_backoff_s": 0.2,
    }
    return ConsumerSettings.for_stack(stack, **(fast | overrides))


def read_verdicts(endpoint_url: str, stream: str) -> list[Verdict]:
    shards = read_stream(aws.client("kinesis", endpoint_url), stream)
    return [Verdict.model_validate_json(r["Data"]) for records in shards.values() for r in records]
