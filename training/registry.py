"""The MLflow side: runs, registered versions, aliases, and publishing the champion for the consumer.

The alias `champion` is the source of truth; `champion.json` in the models bucket follows it.
"""

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from contracts.storage import REFERENCE_FILE, SCORER_FILE, ChampionManifest, model_key
from runtime import aws
from runtime.logs import structured_logger
from stream_consumer.scorer import LinearScorer
from training.serving import SCORER_ARTIFACT, ServingModel
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("training", to_stderr=True)

CHAMPION = "champion"
CHALLENGER = "challenger"


def pinned_requirements() -> list[str]:
    """The logged model's requirements, pinned to what trained it (not MLflow's guess)."""
    from importlib.metadata import version  # noqa: PLC0415

    return [f"{pkg}=={version(pkg)}" for pkg in ("numpy", "pandas", "pydantic", "chat-moderation")]


class PromotionRaceError(RuntimeError):
    """The champion alias moved between our read and our write (another promotion won)."""


def client(settings: TrainingSettings) -> MlflowClient:
    """Point MLflow at the configured tracking server (default: sqlite under the state directory)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.resolved_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # else the first registry URI of the process sticks
    if mlflow.get_experiment_by_name(settings.experiment) is None:
        artifact_location = settings.artifact_location if settings.tracking_uri is None else None
        mlflow.create_experiment(settings.experiment, artifact_location=artifact_location)
    mlflow.set_experiment(settings.experiment)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def log_model(scorer_path: Path, name: str, input_example: Any) -> str:
    """Log the serving model (the exported scorer behind the normal form) in the run; returns its URI."""
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=ServingModel(),
        artifacts={SCORER_ARTIFACT: str(scorer_path)},
        pip_requirements=pinned_requirements(),
        input_example=input_example,
    )
    return str(info.model_uri)


def register(
    mlflow_client: MlflowClient, model_name: str, model_uri: str, run_id: str, tags: Mapping[str, str]
) -> ModelVersion:
    """Register the logged model as a new version and alias it `challenger`."""
    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException:
        mlflow_client.create_registered_model(
            model_name,
            description="Chat-message moderation: calibrated probability that moderators remove it.",
        )
    # A logged model's URI is `models:/<model_id>`; a tracking server insists on the id alongside it.
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/") else None
    version = mlflow_client.create_model_version(
        model_name, model_uri, run_id=run_id, tags=dict(tags), model_id=model_id
    )
    mlflow_client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return version


def champion_version(mlflow_client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version the alias `champion` names, or None before the first promotion."""
    try:
        return mlflow_client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def move_champion(
    mlflow_client: MlflowClient,
    model_name: str,
    version: str,
    expected: str | None,
    audit: Mapping[str, str],
) -> None:
    """Compare-and-set the alias: refuse when `champion` no longer names `expected`."""
    current = champion_version(mlflow_client, model_name)
    current_version = str(current.version) if current else None
    if current_version != expected:
        raise PromotionRaceError(
            f"champion moved from {expected} to {current_version} during this run; not overwriting it"
        )
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, version)
    for key, value in audit.items():
        mlflow_client.set_model_version_tag(model_name, version, key, value)


def download_artifact(mlflow_client: MlflowClient, run_id: str, path: str, dest: Path) -> Path:
    """Fetch one run artifact to a local folder."""
    return Path(mlflow_client.download_artifacts(run_id, path, str(dest)))


@dataclass(frozen=True)
class Published:
    """Where the exported champion went."""

    manifest: ChampionManifest
    manifest_uri: str


def upload_champion(
    s3: "S3Client",
    bucket: str,
    manifest_key: str,
    name: str,
    version: str,
    run_id: str,
    scorer: bytes,
    reference: bytes | None,
    promoted_by: str,
) -> ChampionManifest:
    """Put a version's serving form (and drift reference) in the models bucket, then the manifest.

    The manifest goes last, so a consumer never sees a manifest whose model is not there yet.
    """
    s3.put_object(Bucket=bucket, Key=model_key(name, version, SCORER_FILE), Body=scorer)
    if reference is not None:
        s3.put_object(Bucket=bucket, Key=model_key(name, version, REFERENCE_FILE), Body=reference)
    try:
        normal_form = LinearScorer.header(scorer).get("normal_form")
    except (ValueError, OSError, KeyError):  # not an archive this code can read; the consumer will say so
        normal_form = None
    manifest = ChampionManifest(
        model_name=name,
        version=version,
        run_id=run_id,
        artifact_uri=f"s3://{bucket}/{model_key(name, version, SCORER_FILE)}",
        sha256=hashlib.sha256(scorer).hexdigest(),
        promoted_at=datetime.now(UTC),
        promoted_by=promoted_by,
        normal_form=str(normal_form) if normal_form else None,
    )
    s3.put_object(
        Bucket=bucket,
        Key=manifest_key,
        Body=manifest.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    log.info({"event": "champion_published", "version": version, "sha256": manifest.sha256})
    return manifest


def publish_champion(
    settings: TrainingSettings,
    mlflow_client: MlflowClient,
    version: ModelVersion,
    promoted_by: str,
) -> Published:
    """Copy a registered version's exported scorer and reference from MLflow to the models bucket."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    with tempfile.TemporaryDirectory() as tmp:
        scorer = download_artifact(mlflow_client, str(version.run_id), SCORER_FILE, Path(tmp)).read_bytes()
        reference = download_artifact(
            mlflow_client, str(version.run_id), REFERENCE_FILE, Path(tmp)
        ).read_bytes()
    manifest = upload_champion(
        s3,
        settings.models_bucket,
        settings.manifest_key,
        version.name,
        str(version.version),
        str(version.run_id),
        scorer,
        reference,
        promoted_by,
    )
    return Published(manifest, f"s3://{settings.models_bucket}/{settings.manifest_key}")
