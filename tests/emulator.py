"""What the tests on the emulator share (not a test module): publishing a champion, the consumer's
settings for a test stack, reading the verdicts stream back."""

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.storage import ChampionManifest
from contracts.verdict import Verdict
from runtime import aws
from runtime.kinesis import read_stream
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from training.registry import upload_champion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
