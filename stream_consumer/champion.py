"""Load the champion named by `champion.json` in the models bucket, and swap in a new one between
batches when the manifest changes. A model that fails to download, verify, load or pass a smoke
prediction never replaces the last good one. The challenger (`challenger.json`, shadow scoring) is
loaded the same way, with one difference: its manifest may be absent (none published, or withdrawn),
and then there is no challenger. So is the canary (`canary.json`): a version serving the share of
channels its manifest names (`serving_canary`); a new share of the same version is followed without a
reload.
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.storage import ChampionManifest
from runtime.errors import AwsError, NotFoundError, NotModifiedError, TransientError, aws_errors
from runtime.logs import structured_logger
from stream_consumer.encoder import encoder_sha256
from stream_consumer.moderation import Canary, Champion
from stream_consumer.normalize import NORMAL_FORM_VERSION, normal_form
from stream_consumer.scorer import CategoryModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("chat-moderation")

SMOKE_TEXTS = ("thanks for sharing the paper, the methods look solid", "you are an idiot")


class ModelLoadError(RuntimeError):
    """A champion could not be fetched, verified or loaded."""


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ModelLoadError(f"artifact_uri {uri!r} is not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def load_model(s3: "S3Client", manifest: ChampionManifest) -> Champion:
    """Fetch the archive the manifest names, check its sha256, load it and run a smoke prediction."""
    if manifest.normal_form is not None and manifest.normal_form != NORMAL_FORM_VERSION:
        raise ModelLoadError(
            f"version {manifest.version} was trained on normal form {manifest.normal_form!r}; "
            f"this consumer implements {NORMAL_FORM_VERSION!r}"
        )
    bucket, key = _split_s3_uri(manifest.artifact_uri)
    try:
        with aws_errors(f"GetObject {manifest.artifact_uri}"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except AwsError as err:
        raise ModelLoadError(f"cannot fetch {manifest.artifact_uri}: {err.code}") from err
    digest = hashlib.sha256(body).hexdigest()
    if digest != manifest.sha256:
        raise ModelLoadError(f"sha256 mismatch for {manifest.artifact_uri}: {digest} != {manifest.sha256}")
    try:
        scorer = CategoryModel.load(body)
        smoke = scorer.predict_proba([normal_form(t) for t in SMOKE_TEXTS])
    except Exception as err:  # a broken archive can fail in many ways; none may reach a batch
        raise ModelLoadError(
            f"version {manifest.version} does not load: {type(err).__name__}: {err}"
        ) from err
    if scorer.cascade is not None and scorer.cascade.encoder_sha256 != encoder_sha256():
        raise ModelLoadError(
            f"version {manifest.version}'s encoder heads read encoder {scorer.cascade.encoder_sha256[:12]}; "
            f"this consumer has {encoder_sha256()[:12]}"
        )
    for category, probability in smoke.items():
        if probability.shape != (len(SMOKE_TEXTS),) or not ((probability >= 0) & (probability <= 1)).all():
            raise ModelLoadError(f"version {manifest.version} failed its smoke prediction ({category})")
    return Champion(manifest.model_name, manifest.version, scorer)


@dataclass
class ReloadEvent:
    """What a manifest check did, for logs and metrics."""

    # "unchanged", "loaded", "failed", "withdrawn" (an optional model's manifest is gone), "share" (the
    # same version, another share of channels: a canary widened)
    outcome: str
    version: str | None
    detail: str = ""


class ChampionWatcher:
    """Holds the serving champion; re-checks the manifest at most every `interval_s` (ETag check).

    `optional` (the challenger): a missing manifest means no model, and one that goes missing takes the
    model it named with it; an absent one is not asked for again before `interval_s`."""

    def __init__(
        self,
        s3: "S3Client",
        bucket: str,
        manifest_key: str,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[ReloadEvent], None] | None = None,
        optional: bool = False,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = manifest_key
        self._interval = interval_s
        self._clock = clock
        self._on_event = on_event or (lambda _: None)
        self._optional = optional
        self._etag: str | None = None
        self._checked_at: float | None = None
        self.champion: Champion | None = None
        self.manifest: ChampionManifest | None = None  # the manifest `champion` was loaded from

    def current(self) -> Champion | None:
        """The champion to use for the next batch, reloading first when it is time to check."""
        now = self._clock()
        due = self._checked_at is None or now - self._checked_at >= self._interval
        if due or (self.champion is None and not self._optional):
            self._checked_at = now
            self._on_event(self.refresh())
        return self.champion

    def refresh(self) -> ReloadEvent:
        """Check the manifest now; load the version it names if it changed."""
        serving = self.champion.version if self.champion else None
        try:
            with aws_errors(f"GetObject s3://{self._bucket}/{self._key}"):
                kwargs = {"IfNoneMatch": self._etag} if self._etag and self.champion else {}
                resp = self._s3.get_object(Bucket=self._bucket, Key=self._key, **kwargs)  # type: ignore[arg-type]
                body = resp["Body"].read()  # may fail too: the answer can be cut after its headers
        except NotModifiedError:
            return ReloadEvent("unchanged", serving)
        except NotFoundError as err:
            if not self._optional:
                return ReloadEvent("failed", serving, f"manifest s3://{self._bucket}/{self._key}: {err.code}")
            self.champion, self.manifest, self._etag = None, None, None
            if serving is None:
                return ReloadEvent("unchanged", None)
            return ReloadEvent("withdrawn", None, f"was {serving}")
        except TransientError as err:
            return ReloadEvent("failed", serving, f"manifest unreachable: {err.code}")
        except AwsError as err:
            return ReloadEvent("failed", serving, f"manifest s3://{self._bucket}/{self._key}: {err.code}")
        try:
            manifest = ChampionManifest.model_validate_json(body)
        except (ValidationError, json.JSONDecodeError) as err:
            return ReloadEvent("failed", serving, f"manifest invalid: {err.__class__.__name__}")
        if self.champion and manifest.version == self.champion.version:
            before, self.manifest, self._etag = self.manifest, manifest, resp.get("ETag")
            if before is not None and before.share != manifest.share:
                return ReloadEvent("share", serving, f"share {before.share} -> {manifest.share}")
            return ReloadEvent("unchanged", serving)
        try:
            self.champion = load_model(self._s3, manifest)
        except ModelLoadError as err:
            # Keep serving the last good model; try this manifest again at the next check.
            return ReloadEvent("failed", serving, str(err))
        self.manifest, self._etag = manifest, resp.get("ETag")
        return ReloadEvent("loaded", manifest.version, f"replaced {serving}")


def serving_canary(watcher: ChampionWatcher) -> Callable[[], Canary | None]:
    """The canary for the next batch, from an optional watcher of `canary.json`: its model and share of
    channels (None: no canary, or a manifest without a share)."""

    def current() -> Canary | None:
        model = watcher.current()
        manifest = watcher.manifest
        if model is None or manifest is None or not manifest.share:
            return None
        return Canary(model, manifest.share)

    return current
