"""What the tests on the emulator share (not a test module): publishing a champion, the consumer's
settings for a test stack, reading the verdicts stream back, a registry of trained versions, the
channels' policies, a manifest read back, and moderators labelling what was sent."""

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import mlflow

from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy
from contracts.storage import (
    REFERENCE_FILE,
    SCORER_FILE,
    ChampionManifest,
    ModeratorDecision,
    ReferenceRow,
    gzip_lines,
    json_lines,
)
from contracts.verdict import Verdict
from producer_sim.publisher import Publisher
from producer_sim.replay import OutgoingRecord, Replay, parse_mix
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.kinesis import Delivered, PutReport, batches, read_stream
from runtime.objects import read_object
from runtime.stack import Stack, load_stack
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from training import registry
from training.registry import upload_champion

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mypy_boto3_s3 import S3Client

    from local_esm.runner import Handler, LocalRunner
    from monitoring.settings import MonitoringSettings
    from training.settings import TrainingSettings


def child_env(without: tuple[str, ...], extra: dict[str, str]) -> dict[str, str]:
    """A child process's environment: this one's, less the tracking and Prefect addresses and the
    settings prefixed `without`, but with the session's embedding cache (tests/conftest.py), plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"MLFLOW_TRACKING_URI", "PREFECT_API_URL"} and not k.startswith(without)
    }
    cache = os.environ.get("TRAINING_EMBEDDING_CACHE_FILE")
    return env | ({"TRAINING_EMBEDDING_CACHE_FILE": cache} if cache else {}) | extra


def publish_scorer(
    s3: "S3Client", bucket: str, scorer: LinearScorer, version: str, manifest_key: str = "champion.json"
) -> ChampionManifest:
    """What a promotion writes: the exported model, then the manifest naming it (`challenger.json`:
    what publishing a challenger writes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorer.npz"
        scorer.save(path)
        body = path.read_bytes()
    return upload_champion(
        s3, bucket, manifest_key, "chat-moderation", version, f"run-{version}", body, None, "test"
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
        # Tumbling windows on, short: every integration, chaos and kill test runs with window state.
        "tumbling_window_s": 2,
    }
    return ConsumerSettings.for_stack(stack, **(fast | overrides))


def local_runner(
    settings: ConsumerSettings, handler: "Handler | None" = None, checkpoints: Path | None = None
) -> "LocalRunner":
    """The local event source mapping in this process, driving `handler` (default: a consumer built
    from `settings`, as the Lambda handler builds it), with its checkpoints in `checkpoints`."""
    from local_esm.runner import LocalRunner  # noqa: PLC0415
    from stream_consumer.handler import build_consumer  # noqa: PLC0415 - loads the encoder

    if handler is None:
        consumer = build_consumer(settings)

        def handler(event: dict[str, Any], context: object) -> object:
            return consumer.handle_event(event)

    return LocalRunner(
        settings,
        handler,
        aws.client("kinesis", settings.aws_endpoint_url),
        aws.client("sqs", settings.aws_endpoint_url),
        CheckpointStore(checkpoints or settings.checkpoint_dir / "cp.json"),
    )


def read_verdicts(endpoint_url: str, stream: str) -> list[Verdict]:
    shards = read_stream(aws.client("kinesis", endpoint_url), stream)
    return [Verdict.model_validate_json(r["Data"]) for records in shards.values() for r in records]


def unique_stack(suffix: str | None = None) -> Stack:
    """The committed stack with every resource name made unique, so sessions never collide."""
    return load_stack().renamed(suffix or uuid.uuid4().hex[:8])


def training_settings(
    data_dir: Path, state_dir: Path, endpoint_url: str, models_bucket: str, **kw: Any
) -> "TrainingSettings":
    """Training settings of a test's own: its own MLflow store, named explicitly, r/science alone (its
    removals: the loop's story, trained in seconds) unless `sources` says otherwise, and no cascade
    unless `cascade` says so (the encoder's heads have their own tests, and the default training's and
    the demo's end-to-end runs train with them).

    Explicitly, because `mlflow.set_tracking_uri` exports MLFLOW_TRACKING_URI to the process
    environment, which settings built later in the session would otherwise read.
    """
    from training.settings import TrainingSettings  # noqa: PLC0415

    kw.setdefault("sources", ["rscience"])
    kw.setdefault("cascade", False)
    return TrainingSettings(
        data_dir=data_dir,
        state_dir=state_dir,
        tracking_uri=f"sqlite:///{state_dir / 'mlflow.db'}",
        aws_endpoint_url=endpoint_url,
        models_bucket=models_bucket,
        **kw,
    )


def register_scorers(settings: "TrainingSettings", scorers: list[LinearScorer]) -> "MlflowClient":
    """A registry of the settings' own holding one version per scorer (1, 2, …), each run carrying what a
    champion move copies to the models bucket (the exported scorer and a drift reference); no alias."""
    client = registry.client(settings)
    client.create_registered_model(settings.model_name)
    row = ReferenceRow(text="a kept comment", label="allow", community="rscience", score=0.2)
    for scorer in scorers:
        with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
            scorer.save(Path(tmp) / SCORER_FILE)
            (Path(tmp) / REFERENCE_FILE).write_bytes(gzip_lines([row.model_dump_json()]))
            mlflow.log_artifact(str(Path(tmp) / SCORER_FILE))
            mlflow.log_artifact(str(Path(tmp) / REFERENCE_FILE))
        client.create_model_version(settings.model_name, run.info.artifact_uri, run_id=run.info.run_id)
    return client


def publish(endpoint_url: str, stream: str, replay: Replay, mix: str) -> list[OutgoingRecord]:
    return [d.entry for d in publish_delivered(endpoint_url, stream, replay, mix)]


def publish_delivered(
    endpoint_url: str, stream: str, replay: Replay, mix: str
) -> list[Delivered[OutgoingRecord]]:
    """Publish a mix; where each record landed (shard and sequence number)."""
    publisher = Publisher(aws.client("kinesis", endpoint_url), stream)
    report: PutReport[OutgoingRecord] = PutReport()
    for batch in batches(replay.records(parse_mix(mix))):
        publisher.publish_batch(batch, report)
    assert not report.undelivered
    return list(report.delivered)


def put_policy(s3: "S3Client", stack: Stack, book: PolicyBook) -> None:
    """The channels' policies the consumers and the flows read."""
    s3.put_object(
        Bucket=stack.models_bucket.name,
        Key=stack.models_bucket.policy_key,
        Body=book.model_dump_json().encode(),
    )


def read_manifest(s3: "S3Client", bucket: str, key: str) -> ChampionManifest:
    """A manifest that must be there."""
    stored = read_object(s3, bucket, key)
    assert stored is not None, f"no manifest at s3://{bucket}/{key}"
    return ChampionManifest.model_validate_json(stored.body)


def label_as_truth(s3: "S3Client", stack: Stack, sent: list[OutgoingRecord], name: str) -> None:
    """A moderator labels every message sent (its truth, on `removal`), in one feedback object."""
    decisions = [
        ModeratorDecision(
            message_id=r.truth.message_id,
            label=r.truth.label,
            decided_by="moderator-1",
            decided_at=datetime.now(UTC),
            category="removal",
        )
        for r in sent
        if r.truth is not None
    ]
    key = f"{stack.archive_bucket.feedback_prefix}{name}.jsonl"
    s3.put_object(Bucket=stack.archive_bucket.name, Key=key, Body=json_lines(decisions))


class LiveStage(NamedTuple):
    """A live-evidence test's own registry, settings and policies (`live_stage`)."""

    s3: "S3Client"
    training: "TrainingSettings"
    monitoring: "MonitoringSettings"
    client: "MlflowClient"


def live_stage(
    data_dir: Path,
    endpoint_url: str,
    stack: Stack,
    tmp_path: Path,
    scorers: list[LinearScorer],
    sampling: SamplingPolicy,
) -> LiveStage:
    """Training and monitoring settings of the test's own, one registry version per scorer (1, 2, …),
    version 1 the champion, and every channel drawing `sampling`."""
    from monitoring.settings import MonitoringSettings  # noqa: PLC0415 - imports Evidently

    s3 = aws.client("s3", endpoint_url)
    training = training_settings(
        data_dir,
        tmp_path / "state",
        endpoint_url,
        stack.models_bucket.name,
        audit_bucket=stack.audit_bucket.name,
    )
    client = register_scorers(training, scorers)
    registry.move_champion(training, client, "1", None, "setup")
    put_policy(s3, stack, PolicyBook(default=ChannelPolicy(sampling=sampling)))
    return LiveStage(s3, training, MonitoringSettings.for_stack(stack, aws_endpoint_url=endpoint_url), client)
