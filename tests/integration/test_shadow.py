"""Shadow scoring on the emulator: the consumer the Lambda handler builds reads `challenger.json`,
archives the challenger's verdicts beside the champion's for the drawn share, never writes them to the
verdicts stream, ignores a challenger that fails its checks and stops when it is withdrawn."""

import json
import threading
import time
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy, drawn
from contracts.storage import ArchivedMessage, ModeratorDecision, json_lines
from monitoring.__main__ import main as monitoring_main
from monitoring.archive import read_archive
from monitoring.settings import MonitoringSettings
from producer_sim.communities import Community, load_community
from producer_sim.replay import OutgoingRecord, Replay
from runtime import aws
from runtime.kinesis import read_stream
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from tests.emulator import consumer_settings, local_runner, publish, publish_scorer
from training.serving import serving_scores

pytestmark = pytest.mark.integration
SHARE = 0.25  # the default policy's shadow share


@pytest.fixture(scope="module")
def replay(data_dir: Path) -> Replay:
    """r/science comments, with a few malformed records among them (dead letters: no shadow to draw)."""
    return Replay(
        {Community.RSCIENCE: load_community(data_dir, Community.RSCIENCE)}, malformed_share=0.03, seed=5
    )


def _archived(endpoint_url: str, stack: Stack) -> dict[str, ArchivedMessage]:
    s3 = aws.client("s3", endpoint_url)
    window = read_archive(s3, stack.archive_bucket.name, stack.archive_bucket.archive_prefix)
    return {str(m.message.message_id): m for m in window.messages}


def _ids(sent: list[OutgoingRecord]) -> set[str]:
    return {str(r.message_id) for r in sent if r.malformed is None}


def _labels(sent: list[OutgoingRecord]) -> dict[str, str]:
    return {
        str(r.truth.message_id): r.truth.label for r in sent if r.truth is not None and r.malformed is None
    }


def test_the_challenger_is_archived_beside_the_champion_for_its_share_and_never_acts(
    endpoint_url: str,
    fresh_stack: Stack,
    replay: Replay,
    scorers: dict[str, LinearScorer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3 = aws.client("s3", endpoint_url)
    bucket, key = fresh_stack.models_bucket.name, fresh_stack.models_bucket.challenger_manifest_key
    publish_scorer(s3, bucket, scorers["1"], "1")
    # GIVEN a challenger manifest whose archive does not match its sha256 (a broken publication)
    broken = publish_scorer(s3, bucket, scorers["2"], "2", manifest_key=key)
    s3.put_object(
        Bucket=bucket, Key=key, Body=broken.model_copy(update={"sha256": "0" * 64}).model_dump_json()
    )
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, reload_interval_s=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=local_runner(settings).run, args=(stop,))
    thread.start()

    truth: dict[str, str] = {}

    def phase(n: int) -> set[str]:
        records = publish(endpoint_url, fresh_stack.input_stream.name, replay, f"rscience:{n}")
        truth.update(_labels(records))
        sent = _ids(records)
        poll_until(lambda: sent <= set(_archived(endpoint_url, fresh_stack)), timeout=120)
        return sent

    try:
        refused = phase(80)
        # WHEN a good challenger is published, then withdrawn
        publish_scorer(s3, bucket, scorers["2"], "2", manifest_key=key)
        time.sleep(1.5)
        shadowed = phase(300)
        s3.delete_object(Bucket=bucket, Key=key)
        time.sleep(1.5)
        withdrawn = phase(80)
    finally:
        stop.set()
        thread.join(30)
    archived = _archived(endpoint_url, fresh_stack)
    # THEN the broken challenger scored nothing, and nothing after the withdrawal was shadow-scored
    assert not [i for i in refused | withdrawn if archived[i].shadow is not None]
    # AND while it was published, exactly the drawn share carries version 2's verdict, with its scores
    expected = {i for i in shadowed if drawn(archived[i].message.message_id, SHARE, "shadow")}
    assert {i for i in shadowed if archived[i].shadow is not None} == expected
    assert 0.15 * len(shadowed) < len(expected) < 0.35 * len(shadowed)
    items = [archived[i] for i in sorted(expected)]
    shadows = [m.shadow for m in items if m.shadow is not None]
    assert {s.model_version for s in shadows} == {"2"}
    theirs = serving_scores(scorers["2"], [m.message.text for m in items])
    mine = [s.scores["removal"] for s in shadows]
    assert max(abs(a - b) for a, b in zip(mine, theirs.tolist(), strict=True)) < 1e-9
    # AND only the champion's verdicts reach the stream, one per message, none carrying a shadow
    records = [
        r
        for rs in read_stream(aws.client("kinesis", endpoint_url), fresh_stack.output_stream.name).values()
        for r in rs
    ]
    verdicts = [json.loads(r["Data"]) for r in records]
    assert {v["model_version"] for v in verdicts} == {"1"}
    assert not [v for v in verdicts if "shadow" in v]
    assert sorted(v["message_id"] for v in verdicts) == sorted(refused | shadowed | withdrawn)
    # AND `python -m monitoring shadow` compares the two on the shadow-scored messages moderators labelled:
    # with every message in the audit sample (share 1: each label weighs 1), its estimates are the plain
    # ROC-AUCs of both models' scores on those messages
    s3.put_object(
        Bucket=bucket,
        Key=fresh_stack.models_bucket.policy_key,
        Body=PolicyBook(default=ChannelPolicy(sampling=SamplingPolicy(audit=1.0))).model_dump_json().encode(),
    )
    decided = [archived[i] for i in sorted(expected) if i in truth]
    feedback = [
        ModeratorDecision(
            message_id=m.message.message_id,
            label=truth[str(m.message.message_id)],
            decided_by="moderator-1",
            decided_at=m.verdict.processed_at,
            category="removal",
        )
        for m in decided
    ]
    key = f"{fresh_stack.archive_bucket.feedback_prefix}shadow-test.jsonl"
    s3.put_object(Bucket=fresh_stack.archive_bucket.name, Key=key, Body=json_lines(feedback))
    env = MonitoringSettings.for_stack(fresh_stack, aws_endpoint_url=endpoint_url)
    for name, value in _env_of(env).items():
        monkeypatch.setenv(name, value)
    assert monitoring_main(["shadow", "--json", "--category", "removal", "--min-labels", "10"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (compared,) = report["compared"]
    y = [int(truth[str(m.message.message_id)] == "remove") for m in decided]
    assert compared["champion"]["n"] == len(decided)
    assert compared["champion"]["roc_auc"] == pytest.approx(
        roc_auc_score(y, [m.verdict.categories["removal"].score for m in decided])
    )
    challenger_scores = [m.shadow.scores["removal"] for m in decided if m.shadow is not None]
    assert compared["challenger"]["roc_auc"] == pytest.approx(roc_auc_score(y, challenger_scores))
    assert isinstance(report["promote"], bool)
    # one line for the category, one for the identity check
    assert len(report["reasons"]) == 2
    assert report["reasons"][0].startswith("removal: ")
    assert report["reasons"][1].startswith("identity: ")


def _env_of(settings: MonitoringSettings) -> dict[str, str]:
    """The settings as the CLI reads them: MONITORING_* variables (and the endpoint)."""
    return {
        "AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
        "MONITORING_ARCHIVE_BUCKET": settings.archive_bucket,
        "MONITORING_ARCHIVE_PREFIX": settings.archive_prefix,
        "MONITORING_FEEDBACK_PREFIX": settings.feedback_prefix,
        "MONITORING_MODELS_BUCKET": settings.models_bucket,
        "MONITORING_POLICY_KEY": settings.policy_key,
    }
