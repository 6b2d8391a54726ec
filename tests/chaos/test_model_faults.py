"""Chaos on the champion's side: the models bucket unreachable, broken versions published. The
consumer keeps serving the last good champion, says so in its log, loses nothing, and picks up
the next good version."""

import dataclasses
import hashlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.storage import ChampionManifest
from contracts.verdict import Verdict
from runtime import aws
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from tests.chaos.faultproxy import FaultProxy
from tests.chaos.rig import LogCapture, Rig
from tests.emulator import publish_scorer, read_verdicts
from training.registry import upload_champion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration


def versions(verdicts: list[Verdict], since: float = 0.0, until: float = float("inf")) -> set[str]:
    """The model versions of the verdicts made in [since, until) (wall-clock times)."""
    return {v.model_version for v in verdicts if since <= v.processed_at.timestamp() < until}


def reload_time(log: LogCapture, version: str) -> float:
    [loaded] = log.reloads("loaded", version)
    return float(loaded["_at"])


def test_an_unreachable_models_bucket_keeps_the_last_good_champion_serving(
    endpoint_url: str,
    fresh_stack: Stack,
    scorers: dict[str, LinearScorer],
    data_dir: Path,
    tmp_path: Path,
    proxy: FaultProxy,
    consumer_log: LogCapture,
) -> None:
    # GIVEN version 1 serving, the consumer reaching LocalStack through the proxy
    s3 = aws.client("s3", endpoint_url)
    bucket = fresh_stack.models_bucket.name
    publish_scorer(s3, bucket, scorers["1"], "1")
    rig = Rig(endpoint_url, fresh_stack, tmp_path, proxy.url, endpoint_url, data_dir)
    rig.start()

    def failed() -> int:
        return len(consumer_log.reloads("failed"))

    try:
        with rig.streaming(rate=80):  # batches keep coming: the manifest is checked before each
            poll_until(lambda: rig.acted() >= 150, what="first verdicts")
            # WHEN every request to the models bucket is reset before it arrives (unreachable) ...
            only_models = f" /{bucket}/".encode()
            proxy.resets(1.0, mid_stream=False, match=only_models)
            cut_at = time.time()
            publish_scorer(s3, bucket, scorers["2"], "2")  # ... while version 2 is promoted
            poll_until(lambda: failed() >= 2, what="reload failures")
            # ... then answered but cut short (the request arrived, the answer did not)
            failed_before = failed()
            proxy.resets(1.0, mid_stream=True, match=only_models)
            poll_until(lambda: failed() >= failed_before + 3, what="reload failures, answers cut")
            healed_at = time.time()
            proxy.healthy()
            # THEN, once it is reachable again, the same running consumer picks version 2 up
            poll_until(lambda: bool(consumer_log.reloads("loaded", "2")), what="version 2 loaded")
            time.sleep(1)
        rig.wait_until_drained()
        alive = rig.alive()
    finally:
        rig.stop()
        proxy.healthy()
    assert alive == {"runner": True, "bot": True}, rig.crashes
    tally = rig.account()
    stats = proxy.stats
    failures = len(consumer_log.reloads("failed"))
    print(tally.line("models bucket unreachable", f"{stats.summary()} reload_failures={failures}"))
    assert tally.messages_in == tally.distinct_verdicts + tally.dead_letters
    # AND while the bucket was cut, version 1 kept serving; no batch failed because of it
    verdicts = read_verdicts(endpoint_url, fresh_stack.output_stream.name)
    assert versions(verdicts, until=healed_at) == {"1"}
    assert versions(verdicts, since=cut_at, until=healed_at) == {"1"}, "nothing was served during the cut"
    assert versions(verdicts, since=reload_time(consumer_log, "2")) == {"2"}
    assert rig.runner is not None
    assert rig.runner.stats.function_errors == 0
    assert stats.resets_before_request > 0
    assert stats.resets_mid_stream > 0


def scorer_bytes(scorer: LinearScorer) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorer.npz"
        scorer.save(path)
        return path.read_bytes()


def publish_with_wrong_sha256(s3: "S3Client", stack: Stack, version: str, body: bytes) -> None:
    """A promotion gone wrong: the archive is fine, the manifest names another digest."""
    bucket, key = stack.models_bucket.name, f"models/chat-moderation/{version}/scorer.npz"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    manifest = ChampionManifest(
        model_name="chat-moderation",
        version=version,
        run_id=f"run-{version}",
        artifact_uri=f"s3://{bucket}/{key}",
        sha256=hashlib.sha256(body + b"tampered").hexdigest(),
        promoted_at=datetime.now(UTC),
        promoted_by="chaos",
    )
    s3.put_object(
        Bucket=bucket, Key=stack.models_bucket.champion_manifest_key, Body=manifest.model_dump_json()
    )


def test_broken_versions_are_refused_and_the_next_good_one_is_picked_up(
    endpoint_url: str,
    fresh_stack: Stack,
    scorers: dict[str, LinearScorer],
    data_dir: Path,
    tmp_path: Path,
    consumer_log: LogCapture,
) -> None:
    # GIVEN version 1 serving while chat traffic flows
    s3 = aws.client("s3", endpoint_url)
    bucket, manifest_key = fresh_stack.models_bucket.name, fresh_stack.models_bucket.champion_manifest_key
    publish_scorer(s3, bucket, scorers["1"], "1")
    rig = Rig(endpoint_url, fresh_stack, tmp_path, endpoint_url, endpoint_url, data_dir)
    rig.start()
    good = scorer_bytes(scorers["2"])
    nan_scorer = scorer_bytes(dataclasses.replace(scorers["2"], intercept=float("nan")))
    other_normal_form = scorer_bytes(dataclasses.replace(scorers["2"], normal_form="1"))

    def refused(*texts: str) -> bool:
        """A reload failure was logged whose detail says all of `texts`."""
        return any(all(t in e["detail"] for t in texts) for e in consumer_log.reloads("failed"))

    try:
        with rig.streaming(rate=80):
            poll_until(lambda: rig.acted() >= 150, what="first verdicts")
            # WHEN version 2's archive is corrupt (not a model at all; its sha256 matches)
            upload_champion(s3, bucket, manifest_key, "chat-moderation", "2", "r2", b"\x00garbage", None, "x")
            poll_until(lambda: refused("version 2 does not load"), what="version 2 refused")
            # AND version 3's manifest names the wrong sha256
            publish_with_wrong_sha256(s3, fresh_stack, "3", good)
            poll_until(lambda: refused("sha256 mismatch", "/3/scorer.npz"), what="version 3 refused")
            # AND version 4 loads but predicts NaN (fails the smoke prediction)
            upload_champion(s3, bucket, manifest_key, "chat-moderation", "4", "r4", nan_scorer, None, "x")
            poll_until(lambda: refused("version 4 failed its smoke prediction"), what="version 4 refused")
            # AND version 5 was trained on a normal form this consumer does not implement
            upload_champion(
                s3, bucket, manifest_key, "chat-moderation", "5", "r5", other_normal_form, None, "x"
            )
            poll_until(lambda: refused("version 5", "normal form '1'"), what="version 5 refused")
            # THEN version 6, a good one, is picked up by the same running consumer
            upload_champion(s3, bucket, manifest_key, "chat-moderation", "6", "r6", good, None, "x")
            poll_until(lambda: bool(consumer_log.reloads("loaded", "6")), what="version 6 loaded")
            time.sleep(1)
        rig.wait_until_drained()
        alive = rig.alive()
    finally:
        rig.stop()
    assert alive == {"runner": True, "bot": True}, rig.crashes
    tally = rig.account()
    failures = len(consumer_log.reloads("failed"))
    faults = (
        "4 broken versions (corrupt archive, wrong sha256, NaN smoke, other normal form) "
        f"reload_failures={failures}"
    )
    print(tally.line("broken model versions", faults))
    assert tally.messages_in == tally.distinct_verdicts + tally.dead_letters
    # AND no verdict ever came from a broken version: version 1 served until version 6 took over
    verdicts = read_verdicts(endpoint_url, fresh_stack.output_stream.name)
    loaded_6 = reload_time(consumer_log, "6")
    assert versions(verdicts, until=loaded_6) == {"1"}
    assert versions(verdicts, since=loaded_6) == {"6"}
    assert rig.runner is not None
    assert rig.runner.stats.function_errors == 0
