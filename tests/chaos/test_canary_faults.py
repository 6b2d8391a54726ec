"""Chaos around a canary: a deliberately biased version serves its first step while the consumer's
network to the emulator degrades (mid-stream resets, then an outage), and a canary check runs while the
stores cannot be reached. The biased version never serves beyond its first step's channels, a check
that cannot read its evidence moves nothing, and the next check rolls it back; nothing is lost."""

from pathlib import Path

import pytest

from contracts.audit import AuditKind
from contracts.policy import SamplingPolicy, serves_canary
from monitoring.archive import read_archive
from monitoring.canary import StepAction, canary_flow
from runtime.audit import read_trail
from runtime.errors import TransientError
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from tests.chaos.faultproxy import FaultProxy
from tests.chaos.rig import LogCapture, Rig
from tests.emulator import label_as_truth, live_stage, read_manifest
from training import registry

pytestmark = pytest.mark.integration
STEPS = [0.5, 1.0]


def test_a_biased_canary_under_network_faults_never_serves_beyond_its_first_step(
    data_dir: Path,
    endpoint_url: str,
    fresh_stack: Stack,
    weak_scorer: LinearScorer,
    biased_scorer: LinearScorer,
    tmp_path: Path,
    proxy: FaultProxy,
    consumer_log: LogCapture,
    prefect_server: None,
) -> None:
    # GIVEN a weak champion (version 1) and a version trained against identity terms (2) serving its
    # first step, half the channels; every message in the audit sample (each label weighs 1)
    s3, training, monitoring, client = live_stage(
        data_dir,
        endpoint_url,
        fresh_stack,
        tmp_path,
        [weak_scorer, biased_scorer],
        SamplingPolicy(shadow=0.0, audit=1.0),
    )
    bucket = training.models_bucket
    registry.start_canary(training, client, "2", STEPS[0], "test")
    rig = Rig(endpoint_url, fresh_stack, tmp_path, proxy.url, proxy.url, data_dir)
    rig.start()

    def check(through: str) -> StepAction | None:
        return canary_flow(
            monitoring.model_copy(update={"aws_endpoint_url": through}),
            training.model_copy(update={"aws_endpoint_url": through}),
            steps=STEPS,
            margin=0.02,
            min_labels=100,
            categories=["removal"],
            min_identity=15,
        ).action

    try:
        # WHEN traffic flows while the consumer's requests are cut short, then refused for a while
        with rig.streaming(rate=150):
            poll_until(lambda: rig.acted() >= 100, what="traffic flowing")
            proxy.resets(0.25, mid_stream=True)
            poll_until(lambda: proxy.stats.resets_mid_stream >= 8, what="mid-stream resets")
            proxy.outage(3.0)
            assert proxy.wait_until_healthy()
            poll_until(lambda: rig.acted() >= 700, what="traffic after the outage")
        rig.wait_until_drained()
        # (every message has exactly one verdict effect or one dead letter, through all of it)
        tally = rig.account()
        label_as_truth(s3, fresh_stack, [d.entry for d in rig.delivered], "chaos")
        # AND a canary check runs while the stores refuse every connection
        proxy.outage()
        with pytest.raises(TransientError):
            check(proxy.url)
        unmoved = read_manifest(s3, bucket, training.canary_manifest_key)
        proxy.healthy()
        # AND the next one reaches them
        rolled = check(proxy.url)
    finally:
        rig.stop()
        proxy.healthy()
    # THEN the check that could not read moved nothing, and the next rolled the biased canary back at
    # its first step, for the harmless messages naming a group it flagged
    assert (unmoved.version, unmoved.share) == ("2", STEPS[0])
    assert rolled is StepAction.ROLLBACK
    tags = client.get_model_version(training.model_name, "2").tags
    assert tags["canary.decision"] == f"rollback at {STEPS[0]}"
    assert "identity:" in tags["canary.evidence"]
    # AND it never served a channel beyond its first step's, nor was ever widened
    window = read_archive(s3, fresh_stack.archive_bucket.name, fresh_stack.archive_bucket.archive_prefix)
    canary_channels = {m.verdict.channel_id for m in window.messages if m.verdict.model_version == "2"}
    assert canary_channels
    assert all(serves_canary(channel, STEPS[0]) for channel in canary_channels)
    trail = read_trail(s3, fresh_stack.audit_bucket.name, fresh_stack.audit_bucket.prefix)
    moves = [r.reason.split(":")[0] for r in trail.records() if r.kind is AuditKind.CANARY]
    assert moves == ["canary 2 serves 50% of channels over 1", "canary 2 rolled back"]
    assert read_manifest(s3, bucket, training.manifest_key).version == "1"
    stats = proxy.stats
    print(tally.line("biased canary, resets+outage", stats.summary()))
    assert stats.resets_mid_stream > 0
    assert consumer_log.reloads("loaded", "1")
