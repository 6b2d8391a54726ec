"""live_promotion_flow on the emulator, a real registry and a real Prefect server: the consumer
shadow-scores the published challenger, moderators label the messages, and the flow keeps a worse
challenger out and promotes a better one — its canary started under the lock, the challenger's shadow
scoring ended, the evidence on the registry version."""

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from contracts.policy import SamplingPolicy
from monitoring.archive import read_archive
from monitoring.live_flow import live_promotion_flow
from producer_sim.communities import Community, load_community
from producer_sim.replay import Replay
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


def test_live_evidence_keeps_a_worse_challenger_out_and_promotes_a_better_one(
    data_dir: Path,
    endpoint_url: str,
    fresh_stack: Stack,
    scorers: dict[str, LinearScorer],
    weak_scorer: LinearScorer,
    tmp_path: Path,
    prefect_server: None,
) -> None:
    # version 1 good, version 2 weak; every message shadow-scored and in the audit sample: each label
    # weighs 1
    s3, training, monitoring, client = live_stage(
        data_dir,
        endpoint_url,
        fresh_stack,
        tmp_path,
        [scorers["1"], weak_scorer],
        SamplingPolicy(shadow=1.0, audit=1.0),
    )
    bucket = training.models_bucket
    replay = Replay({Community.RSCIENCE: load_community(data_dir, Community.RSCIENCE)}, seed=9)
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, reload_interval_s=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=local_runner(settings).run, args=(stop,))
    thread.start()

    def labelled_phase(name: str) -> None:
        """Traffic judged by both models, then every message labelled by a moderator (its truth)."""
        time.sleep(1.5)  # the consumers' next manifest and policy checks
        sent = publish(endpoint_url, fresh_stack.input_stream.name, replay, "rscience:350")
        ids = {r.message_id for r in sent if r.malformed is None}
        poll_until(lambda: ids <= _archived(s3, fresh_stack), timeout=120)
        label_as_truth(s3, fresh_stack, sent, name)

    try:
        # WHEN the weak version is published as the challenger and judged live
        registry.publish_challenger(training, client, "2", "test")
        labelled_phase("a")
        kept = live_promotion_flow(monitoring, training, margin=0.01, min_labels=100, categories=["removal"])
        # THEN it is kept out: the champion stays, the challenger stays published, the evidence recorded
        assert (kept.challenger, kept.champion_before, kept.promoted) == ("2", "1", False)
        assert kept.compared[0]["difference"] < 0
        assert read_manifest(s3, bucket, training.manifest_key).version == "1"
        assert read_object(s3, bucket, training.challenger_manifest_key) is not None
        assert client.get_model_version(training.model_name, "2").tags["live.decision"] == "kept out"
        # WHEN the weak one serves and the good one is the challenger instead
        registry.move_champion(training, client, "2", "1", "test")
        registry.publish_challenger(training, client, "1", "test")
        labelled_phase("b")
        promoted = live_promotion_flow(
            monitoring, training, margin=0.01, min_labels=100, categories=["removal"]
        )
    finally:
        stop.set()
        thread.join(30)
    # THEN it is promoted on the messages both judged (the first phase's pair left out): its canary
    # starts on the first step's share of the channels, under the lock; the champion stays, its shadow
    # scoring as the challenger ends; the evidence is on the version
    assert (promoted.challenger, promoted.champion_before, promoted.promoted) == ("1", "2", True)
    assert promoted.canary_share == 0.1
    assert promoted.compared[0]["interval"][0] > 0
    assert 250 < promoted.compared[0]["champion"]["n"] <= 350
    canary = read_manifest(s3, bucket, training.canary_manifest_key)
    assert (canary.version, canary.share, canary.promoted_by) == ("1", 0.1, "live_promotion_flow")
    assert canary.fencing_token is not None
    assert read_manifest(s3, bucket, training.manifest_key).version == "2"
    assert read_object(s3, bucket, training.challenger_manifest_key) is None
    assert str(client.get_model_version_by_alias(training.model_name, "canary").version) == "1"
    assert client.get_model_version(training.model_name, "1").tags["live.decision"] == "canary"


def _archived(s3: "S3Client", stack: Stack) -> set[UUID | None]:
    window = read_archive(s3, stack.archive_bucket.name, stack.archive_bucket.archive_prefix)
    return {m.message.message_id for m in window.messages}
