"""The canary on the emulator, a real registry and a real Prefect server: a deliberately biased version
(trained on labels skewed against identity terms, registered past the offline gate) serves its first
step of channels and is rolled back there; a good one widens step by step and becomes the champion.
Every move is a manifest write under the champion lock that the running consumer follows."""

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.audit import AuditKind
from contracts.policy import SamplingPolicy, serves_canary
from monitoring.archive import read_archive
from monitoring.canary import StepAction, canary_flow
from producer_sim.communities import Community, load_community
from producer_sim.replay import Replay
from runtime.audit import read_trail, verify_trail
from runtime.objects import read_object
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from tests.emulator import (
    consumer_settings,
    label_as_truth,
    live_stage,
    local_runner,
    publish,
    read_manifest,
)
from training import registry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration
STEPS = [0.5, 1.0]


def test_a_biased_canary_is_rolled_back_at_its_first_step_and_a_good_one_becomes_champion(
    data_dir: Path,
    endpoint_url: str,
    fresh_stack: Stack,
    scorers: dict[str, LinearScorer],
    weak_scorer: LinearScorer,
    biased_scorer: LinearScorer,
    tmp_path: Path,
    prefect_server: None,
) -> None:
    # version 1 weak (serving), 2 biased, 3 good: the last two registered past any offline gate; every
    # message in the audit sample: each label weighs 1
    s3, training, monitoring, client = live_stage(
        data_dir,
        endpoint_url,
        fresh_stack,
        tmp_path,
        [weak_scorer, biased_scorer, scorers["1"]],
        SamplingPolicy(shadow=0.0, audit=1.0),
    )
    bucket = training.models_bucket
    replay = Replay({Community.RSCIENCE: load_community(data_dir, Community.RSCIENCE)}, channels=24, seed=11)
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, reload_interval_s=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=local_runner(settings).run, args=(stop,))
    thread.start()
    served: dict[str, dict[str, tuple[str, str]]] = {}  # per phase: each message's channel and version

    def labelled_phase(name: str, messages: int = 500) -> None:
        """Traffic, then every message labelled by a moderator (its truth)."""
        time.sleep(1.5)  # the consumers' next manifest check
        sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, f"rscience:{messages}")
        ids = {str(r.message_id) for r in sent}
        poll_until(lambda: ids <= set(_serving(s3, fresh_stack)), timeout=120)
        served[name] = {i: v for i, v in _serving(s3, fresh_stack).items() if i in ids}
        label_as_truth(s3, fresh_stack, sent, name)

    def check() -> StepAction | None:
        return canary_flow(
            monitoring,
            training,
            steps=STEPS,
            margin=0.02,
            min_labels=100,
            categories=["removal"],
            min_identity=15,
        ).action

    try:
        # WHEN the biased version serves its first step, half the channels
        # (the good version published as the challenger meanwhile: a canary of another version keeps it)
        registry.publish_challenger(training, client, "3", "test")
        registry.start_canary(training, client, "2", STEPS[0], "test")
        assert read_manifest(s3, bucket, training.challenger_manifest_key).version == "3"
        labelled_phase("biased")
        biased = check()
        labelled_phase("after the rollback", 100)
        # WHEN the good version follows it, step by step
        registry.start_canary(training, client, "3", STEPS[0], "test")
        # its challenger publication ends with it: the canary is judged against the champion now
        assert read_object(s3, bucket, training.challenger_manifest_key) is None
        labelled_phase("good at half")
        widened = check()
        labelled_phase("good everywhere")
        completed = check()
        labelled_phase("champion", 100)
    finally:
        stop.set()
        thread.join(30)
    # THEN the biased one served its half of the channels, then none: rolled back on its first check, for
    # the harmless messages naming a group it flagged
    assert biased is StepAction.ROLLBACK
    tags = client.get_model_version(training.model_name, "2").tags
    assert tags["canary.decision"] == "rollback at 0.5"
    assert "identity:" in tags["canary.evidence"]
    assert "over 2% more" in tags["canary.evidence"]
    _served_its_share(served["biased"], "2", "1", STEPS[0])
    assert {v for _, v in served["after the rollback"].values()} == {"1"}
    # AND the good one widened to every channel, then became the champion by a move under the lock
    assert (widened, completed) == (StepAction.WIDEN, StepAction.COMPLETE)
    _served_its_share(served["good at half"], "3", "1", STEPS[0])
    assert {v for _, v in served["good everywhere"].values()} == {"3"}
    assert {v for _, v in served["champion"].values()} == {"3"}
    manifest = read_manifest(s3, bucket, training.manifest_key)
    assert (manifest.version, manifest.promoted_by) == ("3", "canary_flow")
    assert read_object(s3, bucket, training.canary_manifest_key) is None
    assert str(client.get_model_version_by_alias(training.model_name, "champion").version) == "3"
    # AND the audit trail tells each step
    trail = read_trail(s3, fresh_stack.audit_bucket.name, fresh_stack.audit_bucket.prefix)
    assert verify_trail(trail) == []
    steps = [r.reason for r in trail.records() if r.kind is AuditKind.CANARY]
    assert [r.split(":")[0] for r in steps] == [
        "canary 2 serves 50% of channels over 1",
        "canary 2 rolled back",
        "canary 3 serves 50% of channels over 1",
        "canary 3 widened to 100%",
        "canary 3 completed",
    ]


def _served_its_share(versions: dict[str, tuple[str, str]], canary: str, champion: str, share: float) -> None:
    """The canary served exactly its share of channels, the champion the others (and some of both)."""
    assert {v for _, v in versions.values()} == {canary, champion}
    for channel, version in versions.values():
        assert version == (canary if serves_canary(channel, share) else champion)


def _serving(s3: "S3Client", stack: Stack) -> dict[str, tuple[str, str]]:
    window = read_archive(s3, stack.archive_bucket.name, stack.archive_bucket.archive_prefix)
    return {
        str(m.message.message_id): (m.message.channel_id, m.verdict.model_version) for m in window.messages
    }
