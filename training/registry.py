"""The MLflow side: runs, registered versions, aliases, and moving the champion for the consumer.

Every move of the champion (promotion, rollback, a canary's completion) is `move_champion`, under the
champion lock (`training.lock`): a lease in `locks/champion.json` of the models bucket, with a fencing
token that grows with every holding. The exported model is staged first (files under the version's own
keys, harmless if the move is refused). Under the lock the move reads `champion.json` with its ETag,
refuses unless the champion is still the version the mover expected, and writes the new manifest,
carrying its token, conditionally: If-Match the ETag it read (If-None-Match when there was none), and
never over a manifest carrying a higher token (a newer holder took over after this one's lease ran out).

`champion.json` is the source of truth: it is the one thing written on a condition, and the consumer
follows it. The alias `champion` follows it too. MLflow cannot set an alias on a condition, so the alias
is set only after the manifest is committed, to the version the manifest then names, and set again until
a re-read of the manifest agrees (a fenced-out mover's late alias is overwritten by the manifest's). A
move that finds them apart (a mover died between the two) first sets the alias back to the manifest's
version. A manifest naming no version of this registry (another registry's, or written by a tool outside
a move) leaves the alias the champion. With `publish=False` no manifest is written and the alias alone is
the champion: it is moved under the same lock when the models bucket exists (a lease but no fence: MLflow
has nothing to fence with), and by compare-and-set alone when there is no bucket.
"""

import contextlib
import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from contracts.audit import AuditEvent, AuditKind
from contracts.storage import REFERENCE_FILE, SCORER_FILE, ChampionManifest, model_key
from runtime import aws
from runtime.audit import AuditLog
from runtime.errors import AwsError, NotFoundError, PreconditionFailedError, aws_errors
from runtime.logs import structured_logger
from runtime.objects import Stored, put_if_unchanged, read_object
from stream_consumer.scorer import LinearScorer
from training.lease import FencedOutError, PromotionRaceError, admits
from training.lock import Held, LeaseLock
from training.serving import SCORER_ARTIFACT, ServingModel
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("training", to_stderr=True)

CHAMPION = "champion"
CHALLENGER = "challenger"
CANARY = "canary"


def pinned_requirements() -> list[str]:
    """The logged model's requirements, pinned to what trained it (not MLflow's guess)."""
    from importlib.metadata import version  # noqa: PLC0415

    return [f"{pkg}=={version(pkg)}" for pkg in ("numpy", "pandas", "pydantic", "chat-moderation")]


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


def download_artifact(mlflow_client: MlflowClient, run_id: str, path: str, dest: Path) -> Path:
    """Fetch one run artifact to a local folder."""
    return Path(mlflow_client.download_artifacts(run_id, path, str(dest)))


# --- publishing: the exported model and the manifest naming it ---------------------------------


def upload_model_files(
    s3: "S3Client", bucket: str, name: str, version: str, scorer: bytes, reference: bytes | None
) -> None:
    """Put a version's serving form (and drift reference) in the models bucket, under keys of its own."""
    with aws_errors(f"PutObject {model_key(name, version, SCORER_FILE)}"):
        s3.put_object(Bucket=bucket, Key=model_key(name, version, SCORER_FILE), Body=scorer)
        if reference is not None:
            s3.put_object(Bucket=bucket, Key=model_key(name, version, REFERENCE_FILE), Body=reference)


def champion_manifest(
    bucket: str, name: str, version: str, run_id: str, scorer: bytes, promoted_by: str
) -> ChampionManifest:
    """The manifest naming a version's exported scorer (no fencing token: a move adds its own)."""
    try:
        normal_form = LinearScorer.header(scorer).get("normal_form")
    except (ValueError, OSError, KeyError):  # not an archive this code can read; the consumer will say so
        normal_form = None
    return ChampionManifest(
        model_name=name,
        version=version,
        run_id=run_id,
        artifact_uri=f"s3://{bucket}/{model_key(name, version, SCORER_FILE)}",
        sha256=hashlib.sha256(scorer).hexdigest(),
        promoted_at=datetime.now(UTC),
        promoted_by=promoted_by,
        normal_form=str(normal_form) if normal_form else None,
    )


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
    """Publish a champion outside a champion move (tests, benchmarks, tools): the files, then the
    manifest, written over whatever is there and carrying no fencing token. Promotions, rollbacks and
    anything else that moves the champion go through `move_champion`.

    The manifest goes last, so a consumer never sees a manifest whose model is not there yet.
    """
    upload_model_files(s3, bucket, name, version, scorer, reference)
    manifest = champion_manifest(bucket, name, version, run_id, scorer, promoted_by)
    with aws_errors(f"PutObject {manifest_key}"):
        s3.put_object(
            Bucket=bucket,
            Key=manifest_key,
            Body=manifest.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )
    log.info({"event": "champion_published", "version": version, "sha256": manifest.sha256})
    return manifest


def stage_champion(
    settings: TrainingSettings, s3: "S3Client", mlflow_client: MlflowClient, version: ModelVersion, by: str
) -> ChampionManifest:
    """Copy a registered version's exported scorer and drift reference from MLflow to the models bucket,
    before any lock (version-keyed files: harmless if the move is refused); the manifest that would name
    them, not written."""
    with tempfile.TemporaryDirectory() as tmp:
        run_id = str(version.run_id)
        scorer = download_artifact(mlflow_client, run_id, SCORER_FILE, Path(tmp)).read_bytes()
        reference = download_artifact(mlflow_client, run_id, REFERENCE_FILE, Path(tmp)).read_bytes()
    name, number = settings.model_name, str(version.version)
    upload_model_files(s3, settings.models_bucket, name, number, scorer, reference)
    return champion_manifest(settings.models_bucket, name, number, run_id, scorer, by)


# --- moving the champion: under the lock, the manifest fenced, the alias following it ----------


class ChampionMovedError(PromotionRaceError):
    """The champion is no longer the version this mover expected: another move came first."""


@dataclass(frozen=True)
class ChampionState:
    """What names the champion, as read under the lock: `champion.json` (with its ETag) and the alias."""

    stored: Stored | None
    published: str | None  # the version champion.json names, when it is one of this registry's
    alias: str | None

    @property
    def version(self) -> str | None:
        """The champion: the manifest's version, else (nothing of this registry published) the alias's."""
        return self.published if self.published is not None else self.alias


@dataclass(frozen=True)
class Moved:
    """A move of the champion that happened."""

    version: str
    replaced: str | None
    token: int | None  # the champion lock's fencing token; None: moved unlocked (no models bucket)
    manifest_uri: str | None  # None: nothing published (`publish=False`)


def champion_lock(settings: TrainingSettings, s3: "S3Client", holder: str) -> LeaseLock:
    """The champion lock in the models bucket, with the settings' lease and wait; a lock object created
    afresh starts above the token `champion.json` carries."""

    def written_token() -> int:
        manifest = _manifest_in(read_object(s3, settings.models_bucket, settings.manifest_key))
        return manifest.fencing_token or 0 if manifest else 0

    return LeaseLock(
        s3,
        settings.models_bucket,
        settings.lock_key,
        holder,
        lease=timedelta(seconds=settings.lock_lease_s),
        wait=timedelta(seconds=settings.lock_wait_s),
        token_floor=written_token,
    )


def read_champion(settings: TrainingSettings, s3: "S3Client", mlflow_client: MlflowClient) -> ChampionState:
    """`champion.json` with its ETag, the version of this registry it names, and the alias."""
    stored = read_object(s3, settings.models_bucket, settings.manifest_key)
    alias = champion_version(mlflow_client, settings.model_name)
    return ChampionState(
        stored,
        _published(mlflow_client, settings.model_name, stored),
        str(alias.version) if alias else None,
    )


def _published(mlflow_client: MlflowClient, model_name: str, stored: Stored | None) -> str | None:
    """The version a stored manifest names, if this registry has it (same model, same run), else None."""
    manifest = _manifest_in(stored)
    if manifest is None or manifest.model_name != model_name:
        return None
    try:
        registered = mlflow_client.get_model_version(model_name, manifest.version)
    except MlflowException:
        return None
    return manifest.version if str(registered.run_id) == manifest.run_id else None


def _manifest_in(stored: Stored | None) -> ChampionManifest | None:
    """A stored champion.json, or None when there is none or it is not one (a move replaces it)."""
    if stored is None:
        return None
    try:
        return ChampionManifest.model_validate_json(stored.body)
    except ValidationError:
        return None


def commit_manifest(
    s3: "S3Client", bucket: str, key: str, seen: Stored | None, manifest: ChampionManifest
) -> str:
    """The fenced write: `champion.json` replaced only as it was read under the lock (If-Match its ETag,
    If-None-Match when there was none), and never when it carries a newer holder's token; its ETag."""
    token = manifest.fencing_token
    if token is None:
        raise ValueError("a champion move writes its fencing token into the manifest")
    stored = _manifest_in(seen)
    stored_token = stored.fencing_token if stored else None
    if not admits(stored_token, token):
        raise FencedOutError(f"{key} carries token {stored_token}, newer than this move's {token}")
    body = manifest.model_dump_json(indent=2).encode()
    try:
        return put_if_unchanged(s3, bucket, key, body, seen.etag if seen else None, "application/json")
    except PreconditionFailedError:
        now = read_object(s3, bucket, key)
        if now is not None and now.body == body:
            return now.etag  # our write, whose answer was lost and whose retry was refused
        raise FencedOutError(f"{key} changed since it was read under the lock (token {token})") from None


def follow_manifest(
    settings: TrainingSettings, s3: "S3Client", mlflow_client: MlflowClient, rounds: int = 5
) -> str | None:
    """Point the alias at the version `champion.json` names, again until a re-read of the manifest
    agrees (a late alias of a fenced-out mover is overwritten); that version (None: not this registry's)."""
    named = read_champion(settings, s3, mlflow_client).published
    for _ in range(rounds):
        if named is None:
            return None
        mlflow_client.set_registered_model_alias(settings.model_name, CHAMPION, named)
        again = read_champion(settings, s3, mlflow_client).published
        if again == named:
            return named
        named = again
    return named


def move_champion(
    settings: TrainingSettings,
    mlflow_client: MlflowClient,
    version: str,
    expected: str | None,
    promoted_by: str,
    lock: LeaseLock | None = None,
) -> Moved:
    """Move `champion` to `version` under the champion lock: refused unless it still is `expected`."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    lock = lock or champion_lock(settings, s3, promoted_by)
    if not settings.publish:
        return _move_alias(settings, mlflow_client, lock, version, expected, promoted_by)
    target = mlflow_client.get_model_version(settings.model_name, version)
    staged = stage_champion(settings, s3, mlflow_client, target, promoted_by)
    with lock.holding() as held:
        state = read_champion(settings, s3, mlflow_client)
        _heal_alias(settings, mlflow_client, state)
        _refuse_unless_expected(state.version, expected)
        manifest = staged.model_copy(update={"fencing_token": held.token, "promoted_at": datetime.now(UTC)})
        commit_manifest(s3, settings.models_bucket, settings.manifest_key, state.stored, manifest)
        named = follow_manifest(settings, s3, mlflow_client)
    if named != version:
        raise FencedOutError(f"champion.json moved on to {named} after this move wrote {version}")
    _record_move(mlflow_client, settings.model_name, version, promoted_by, state.version, held.token)
    _audit_move(settings, s3, version, state.version, promoted_by, manifest)
    return Moved(version, state.version, held.token, f"s3://{settings.models_bucket}/{settings.manifest_key}")


# --- the challenger: published for shadow scoring, never serving ------------------------------------


def publish_challenger(
    settings: TrainingSettings,
    mlflow_client: MlflowClient,
    version: str,
    by: str,
    lock: LeaseLock | None = None,
) -> ChampionManifest:
    """Publish a registered version as the challenger the consumer shadow-scores with: its files, then
    `challenger.json` (written under the champion lock, as every manifest move is), then the alias."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    target = mlflow_client.get_model_version(settings.model_name, version)
    staged = stage_champion(settings, s3, mlflow_client, target, by)
    lock = lock or champion_lock(settings, s3, by)
    with lock.holding() as held:
        manifest = staged.model_copy(update={"fencing_token": held.token, "promoted_at": datetime.now(UTC)})
        _put_manifest(s3, settings.models_bucket, settings.challenger_manifest_key, manifest)
    mlflow_client.set_registered_model_alias(settings.model_name, CHALLENGER, version)
    _audit(settings, s3, AuditKind.SHADOW, version, by, f"challenger {version} published for shadow scoring")
    log.info({"event": "challenger_published", "version": version, "token": held.token})
    return manifest


def withdraw_challenger(settings: TrainingSettings, by: str, lock: LeaseLock | None = None) -> str | None:
    """Stop shadow scoring: `challenger.json` deleted under the champion lock; the version it named
    (None: none was published)."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    lock = lock or champion_lock(settings, s3, by)
    with lock.holding():
        version = _delete_manifest(s3, settings.models_bucket, settings.challenger_manifest_key)
    if version is None:
        return None
    _audit(settings, s3, AuditKind.SHADOW, version, by, f"challenger {version} withdrawn")
    log.info({"event": "challenger_withdrawn", "version": version})
    return version


def _delete_manifest(s3: "S3Client", bucket: str, key: str, naming: str | None = None) -> str | None:
    """Delete a challenger's or canary's manifest (only while it names `naming`, when given); the
    version it named (None: nothing deleted). The caller holds the champion lock."""
    stored = read_object(s3, bucket, key)
    if stored is None:
        return None
    version = ChampionManifest.model_validate_json(stored.body).version
    if naming is not None and version != naming:
        return None
    with aws_errors(f"DeleteObject {key}"):
        s3.delete_object(Bucket=bucket, Key=key)
    return version


def check_share(share: float) -> None:
    """A canary's share of channels is in (0, 1]."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"a canary serves a share of channels in (0, 1], not {share}")


def _put_manifest(s3: "S3Client", bucket: str, key: str, manifest: ChampionManifest) -> None:
    with aws_errors(f"PutObject {key}"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=manifest.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )


# --- the canary: a promoted version serving a share of channels before all ----------------------------


def read_canary(settings: TrainingSettings, s3: "S3Client") -> ChampionManifest | None:
    """The canary's manifest (None: no canary)."""
    stored = read_object(s3, settings.models_bucket, settings.canary_manifest_key)
    return ChampionManifest.model_validate_json(stored.body) if stored is not None else None


def start_canary(
    settings: TrainingSettings,
    mlflow_client: MlflowClient,
    version: str,
    share: float,
    by: str,
    lock: LeaseLock | None = None,
) -> ChampionManifest:
    """Serve a registered version on `share` of the channels (`contracts.policy.serves_canary`), the
    champion serving the others and shadow-scoring these: its files, then `canary.json` under the
    champion lock (a challenger publication of the same version withdrawn with it: the canary is
    judged against the champion now), the alias `canary`, a `canary` record in the audit trail."""
    check_share(share)
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    target = mlflow_client.get_model_version(settings.model_name, version)
    staged = stage_champion(settings, s3, mlflow_client, target, by)
    lock = lock or champion_lock(settings, s3, by)
    with lock.holding() as held:
        champion = read_champion(settings, s3, mlflow_client).version
        if champion == version:
            raise ChampionMovedError(f"version {version} is the champion already: no canary to serve")
        manifest = staged.model_copy(
            update={"fencing_token": held.token, "promoted_at": datetime.now(UTC), "share": share}
        )
        _put_manifest(s3, settings.models_bucket, settings.canary_manifest_key, manifest)
        _delete_manifest(s3, settings.models_bucket, settings.challenger_manifest_key, naming=version)
    mlflow_client.set_registered_model_alias(settings.model_name, CANARY, version)
    _audit(
        settings,
        s3,
        AuditKind.CANARY,
        version,
        by,
        f"canary {version} serves {share:.0%} of channels over {champion}",
    )
    log.info({"event": "canary_started", "version": version, "share": share, "token": held.token})
    return manifest


def widen_canary(
    settings: TrainingSettings, share: float, by: str, lock: LeaseLock | None = None
) -> ChampionManifest | None:
    """The canary serves `share` of the channels now (the same version: the consumer follows the new
    share without a reload); None when no canary serves."""
    check_share(share)
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    lock = lock or champion_lock(settings, s3, by)
    with lock.holding() as held:
        current = read_canary(settings, s3)
        if current is None:
            return None
        # promoted_at: when this step began (its evidence is what the canary served since)
        manifest = current.model_copy(
            update={"fencing_token": held.token, "share": share, "promoted_at": datetime.now(UTC)}
        )
        _put_manifest(s3, settings.models_bucket, settings.canary_manifest_key, manifest)
    _audit(
        settings,
        s3,
        AuditKind.CANARY,
        manifest.version,
        by,
        f"canary {manifest.version} widened to {share:.0%}",
    )
    log.info({"event": "canary_widened", "version": manifest.version, "share": share, "token": held.token})
    return manifest


def end_canary(
    settings: TrainingSettings,
    mlflow_client: MlflowClient,
    by: str,
    complete: bool,
    reason: str,
    lock: LeaseLock | None = None,
) -> str | None:
    """End the canary: completed (`complete`: the version becomes the champion by a champion move, then
    `canary.json` goes) or rolled back (`canary.json` goes: the champion serves every channel again).
    The version it named (None: no canary served)."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    current = read_canary(settings, s3)
    if current is None:
        return None
    version = current.version
    if complete:
        before = read_champion(settings, s3, mlflow_client).version
        move_champion(settings, mlflow_client, version, before, by, lock)
    lock = lock or champion_lock(settings, s3, by)
    with lock.holding():
        _delete_manifest(s3, settings.models_bucket, settings.canary_manifest_key, naming=version)
    with contextlib.suppress(MlflowException):
        mlflow_client.delete_registered_model_alias(settings.model_name, CANARY)
    what = "completed" if complete else "rolled back"
    _audit(settings, s3, AuditKind.CANARY, version, by, f"canary {version} {what}: {reason}"[:500])
    log.info({"event": f"canary_{what.replace(' ', '_')}", "version": version})
    return version


def _audit(
    settings: TrainingSettings, s3: "S3Client", kind: AuditKind, version: str, by: str, reason: str
) -> None:
    event = AuditEvent(kind=kind, actor=by, at=datetime.now(UTC), model_version=version, reason=reason)
    try:
        AuditLog(s3, settings.audit_bucket, settings.audit_prefix, "training").append([event])
    except AwsError as err:
        log.warning({"event": "audit_unwritten", "kind": event.kind, "code": err.code})


def _audit_move(
    settings: TrainingSettings,
    s3: "S3Client",
    version: str,
    previous: str | None,
    moved_by: str,
    manifest: ChampionManifest,
) -> None:
    """The move in the audit trail: a promotion, or a rollback to an older version. The move has
    happened whatever this write does: a trail that cannot be written is logged, not a failed move
    (the registry keeps the move in the version's tags too)."""
    back = previous is not None and previous.isdigit() and version.isdigit() and int(version) < int(previous)
    event = AuditEvent(
        kind=AuditKind.ROLLBACK if back else AuditKind.PROMOTION,
        actor=moved_by,
        at=manifest.promoted_at,
        model_version=version,
        reason=f"champion {previous or 'none'} -> {version}",
        refs={"fencing_token": str(manifest.fencing_token), "sha256": manifest.sha256},
    )
    try:
        AuditLog(s3, settings.audit_bucket, settings.audit_prefix, "training").append([event])
    except AwsError as err:
        log.warning({"event": "audit_unwritten", "kind": event.kind, "code": err.code})


def _move_alias(
    settings: TrainingSettings,
    mlflow_client: MlflowClient,
    lock: LeaseLock,
    version: str,
    expected: str | None,
    promoted_by: str,
) -> Moved:
    """Without publishing the alias alone names the champion: moved under the lock (a lease, no fence)
    when the models bucket exists, by compare-and-set alone when it does not."""
    try:
        held: Held | None = lock.acquire()
    except NotFoundError:  # no models bucket: no store with conditional writes to lock in
        log.warning({"event": "champion_lock_unavailable", "bucket": settings.models_bucket})
        held = None
    try:
        current = champion_version(mlflow_client, settings.model_name)
        replaced = str(current.version) if current else None
        _refuse_unless_expected(replaced, expected)
        mlflow_client.set_registered_model_alias(settings.model_name, CHAMPION, version)
    finally:
        if held is not None:
            lock.release(held)
    token = held.token if held else None
    _record_move(mlflow_client, settings.model_name, version, promoted_by, replaced, token)
    return Moved(version, replaced, token, None)


def _heal_alias(settings: TrainingSettings, mlflow_client: MlflowClient, state: ChampionState) -> None:
    """A mover that died between its manifest and its alias left them apart: the manifest wins."""
    if state.published is not None and state.published != state.alias:
        mlflow_client.set_registered_model_alias(settings.model_name, CHAMPION, state.published)
        log.warning({"event": "champion_alias_healed", "alias_was": state.alias, "now": state.published})


def _refuse_unless_expected(current: str | None, expected: str | None) -> None:
    if current != expected:
        raise ChampionMovedError(
            f"champion moved from {expected} to {current} before this move; not overwriting it"
        )


def _record_move(
    mlflow_client: MlflowClient,
    model_name: str,
    version: str,
    promoted_by: str,
    replaced: str | None,
    token: int | None,
) -> None:
    """Tag the version with who moved it there, when, over which version, under which token."""
    audit = {
        "promoted_by": promoted_by,
        "promoted_at": datetime.now(UTC).isoformat(),
        "replaced_version": replaced or "none",
        "fencing_token": str(token) if token is not None else "none",
    }
    for key, value in audit.items():
        mlflow_client.set_model_version_tag(model_name, version, key, value)
    log.info({"event": "champion_moved", "version": version, "replaced": replaced, "token": token})
