"""drift_check_flow on LocalStack + real MLflow + real Prefect: drift flagged only for a shifted
window, alerts reach a webhook, and drift with moderator labels retrains and decides on promotion."""

import csv
import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar
from uuid import uuid4

import mlflow
import numpy as np
import pytest

from contracts.categories import Category
from contracts.chat import Label, label_of
from contracts.lambda_event import read_event
from contracts.policy import PolicyBook
from contracts.storage import ChampionManifest, ModeratorDecision
from infra.localstack import free_port
from local_esm.esm import StreamRecord, lambda_event, roundtrip
from monitoring.flow import drift_check_flow
from monitoring.settings import MonitoringSettings
from runtime import aws
from runtime.stack import Stack
from stream_consumer.moderation import Champion, moderate
from stream_consumer.normalize import normal_form
from stream_consumer.scorer import CategoryModel
from stream_consumer.sinks import archive_lines, batch_archive_key
from tests.emulator import training_settings
from training.corpora import Example, Source, load_davidson, source_splits
from training.flow import train_flow
from training.settings import TrainingSettings
from training.train import ModelParams

pytestmark = pytest.mark.integration


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture(scope="module")
def champion(
    data_dir: Path,
    stack: Stack,
    endpoint_url: str,
    prefect_server: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainingSettings:
    """A real r/science champion trained by train_flow and published to the stack's models bucket."""
    state = tmp_path_factory.mktemp("mlflow")
    settings = training_settings(data_dir, state, endpoint_url, stack.models_bucket.name, reference_size=800)
    result = train_flow(settings=settings, params=ModelParams(c_grid=(3.0,)), trigger="test")
    assert result.promoted
    return settings


def _archive(
    endpoint_url: str, stack: Stack, prefix: str, items: list[Example], scorer: CategoryModel
) -> list[str]:
    """Write archive objects exactly as the consumer does, from real texts moderated by the champion."""
    now = datetime.now(UTC).isoformat()
    records = [
        StreamRecord(
            str(i + 1),
            "c",
            json.dumps(
                {
                    "message_id": str(uuid4()),
                    "channel_id": "c",
                    "user_id": "u",
                    "text": x.text,
                    "sent_at": now,
                }
            ).encode(),
            datetime.now(UTC).timestamp(),
        )
        for i, x in enumerate(items)
    ]
    event = roundtrip(
        lambda_event("shardId-000000000000", "arn:aws:kinesis:us-east-1:0:stream/s", "us-east-1", records)
    )
    outcome = moderate(
        read_event(event),
        Champion("m", "1", scorer),
        PolicyBook(),
        datetime.now(UTC),
    )
    s3 = aws.client("s3", endpoint_url)
    for start in range(0, len(outcome.moderated), 100):
        chunk = outcome.moderated[start : start + 100]
        s3.put_object(
            Bucket=stack.archive_bucket.name, Key=batch_archive_key(prefix, chunk), Body=archive_lines(chunk)
        )
    return [str(m.message.message_id) for m in outcome.moderated]


def _scorer(endpoint_url: str, stack: Stack) -> CategoryModel:
    s3 = aws.client("s3", endpoint_url)
    manifest = ChampionManifest.model_validate_json(
        s3.get_object(Bucket=stack.models_bucket.name, Key="champion.json")["Body"].read()
    )
    key = manifest.artifact_uri.removeprefix(f"s3://{stack.models_bucket.name}/")
    return CategoryModel.load(s3.get_object(Bucket=stack.models_bucket.name, Key=key)["Body"].read())


MODERATORS = ("m1", "m2", "m3", "m4", "m5")


def label_window(
    endpoint_url: str,
    stack: Stack,
    prefix: str,
    items: list[Example],
    scorer: CategoryModel,
    flipper: str | None = None,
) -> None:
    """Archive a window as the consumer would, then the moderators' decisions on it (their labels):
    five moderators share the queue; `flipper`, one of them, labels every message the wrong way."""
    ids = _archive(endpoint_url, stack, prefix, items, scorer)
    flip: dict[str, Label] = {"remove": "allow", "allow": "remove"}
    decisions = "\n".join(
        ModeratorDecision(
            message_id=i,
            label=flip[label_of(x.removal())] if who == flipper else label_of(x.removal()),
            decided_by=who,
            decided_at=datetime.now(UTC),
        ).model_dump_json()
        for n, (i, x) in enumerate(zip(ids, items, strict=True))
        for who in [MODERATORS[n % len(MODERATORS)]]
    )
    aws.client("s3", endpoint_url).put_object(
        Bucket=stack.archive_bucket.name, Key=f"feedback-{prefix}x.jsonl", Body=decisions.encode()
    )


def removals_of(examples: list[Example], category: Category) -> list[Example]:
    """The examples as a community whose moderators remove `category` (its label is their removal)."""
    return [Example(x.text, x.source, {Category.REMOVAL: x.labels[category]}) for x in examples]


def served_version(endpoint_url: str, stack: Stack) -> str:
    """The version `champion.json` names."""
    body = aws.client("s3", endpoint_url).get_object(Bucket=stack.models_bucket.name, Key="champion.json")
    return ChampionManifest.model_validate_json(body["Body"].read()).version


def youtube_comments(data_dir: Path) -> list[Example]:
    """The YouTube comments (spam data set), their own labels dropped: a community the champion never saw."""
    texts = []
    for path in sorted((data_dir / "spam" / "youtube").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            texts += [row["CONTENT"] for row in csv.DictReader(f) if row["CONTENT"].strip()]
    return [Example(t, "youtube", {}) for t in dict.fromkeys(texts)]


def _settings(
    stack: Stack, endpoint_url: str, prefix: str, webhook: str, tmp: Path, **kw: object
) -> MonitoringSettings:
    return MonitoringSettings(
        aws_endpoint_url=endpoint_url,
        archive_bucket=stack.archive_bucket.name,
        archive_prefix=prefix,
        feedback_prefix=f"feedback-{prefix}",
        reports_prefix=f"reports-{prefix}",
        models_bucket=stack.models_bucket.name,
        dead_letter_queue=stack.dead_letter_queue.name,
        webhook_url=webhook,
        workspace_dir=tmp / "evidently",
        text_drift=False,
        **kw,  # type: ignore[arg-type]
    )


def test_drift_is_flagged_for_a_shifted_window_only_and_retraining_decides(
    champion: TrainingSettings, stack: Stack, endpoint_url: str, data_dir: Path, webhook: str, tmp_path: Path
) -> None:
    scorer = _scorer(endpoint_url, stack)
    rng = random.Random(5)
    held_out = source_splits(data_dir, Source.RSCIENCE).test
    tweets = removals_of(load_davidson(data_dir), Category.TOXICITY)
    # GIVEN a window of the same community, and one where 20% of messages are tweets
    _archive(endpoint_url, stack, "archive-same/", rng.sample(held_out, 500), scorer)
    shifted_items = rng.sample(held_out, 400) + rng.sample(tweets, 100)
    _archive(endpoint_url, stack, "archive-shift/", shifted_items, scorer)
    # WHEN both are checked (without retraining)
    same = drift_check_flow(
        settings=_settings(stack, endpoint_url, "archive-same/", webhook, tmp_path, retrain_on_drift=False)
    )
    shift = drift_check_flow(
        settings=_settings(stack, endpoint_url, "archive-shift/", webhook, tmp_path, retrain_on_drift=False)
    )
    # THEN only the shifted one is drift, and the webhook heard about it
    assert not same.drifted, same.reasons
    assert shift.drifted
    assert shift.unseen_word_share > shift.reference_unseen_word_share
    assert any(a["kind"] == "drift_detected" for a in Receiver.received)
    s3 = aws.client("s3", endpoint_url)
    assert (
        s3.head_object(Bucket=stack.archive_bucket.name, Key=shift.report_uri.split("/", 3)[3])[
            "ContentLength"
        ]
        > 0
    )

    # GIVEN a tweet-heavy window whose messages moderators labelled
    label_window(endpoint_url, stack, "archive-tweets/", rng.sample(tweets, 900), scorer)
    # WHEN drift is checked with retraining on
    settings = _settings(stack, endpoint_url, "archive-tweets/", webhook, tmp_path)
    check = drift_check_flow(settings=settings, training=champion)
    # THEN a challenger was trained on the feedback and the promotion decision follows the policy
    assert check.drifted
    assert check.retraining_triggered
    assert check.training is not None
    assert check.quality["labelled"] == 500  # the window: the last 500 archived messages
    assert check.quality["roc_auc"] < 0.8
    result = check.training
    assert result.test_roc_auc["removal/feedback"] > 0.85
    # AND it is better where the champion failed (ROC-AUC < 0.8 on these labels), so it is promoted
    assert result.promoted, result.reasons
    assert served_version(endpoint_url, stack) == result.version
    kinds = [a["kind"] for a in Receiver.received]
    assert "retraining_started" in kinds
    assert "champion_promoted" in kinds
    # AND a second drift inside the cool-down does not retrain again
    again = drift_check_flow(settings=settings, training=champion)
    assert again.drifted
    assert not again.retraining_triggered

    # GIVEN a drifted window (YouTube comments) whose moderators agreed with the new champion on every
    # message: above its median score removed, below kept (it ranks these labels perfectly)
    newer = _scorer(endpoint_url, stack)
    comments = rng.sample(youtube_comments(data_dir), 900)
    scores = newer.predict_proba([normal_form(x.text) for x in comments])["removal"]
    median = float(np.median(scores))
    agreed = [
        Example(x.text, x.source, {Category.REMOVAL: int(score > median)})
        for x, score in zip(comments, scores, strict=True)
    ]
    label_window(endpoint_url, stack, "archive-youtube/", agreed, newer)
    # WHEN drift is checked with retraining on (no cool-down)
    youtube = _settings(stack, endpoint_url, "archive-youtube/", webhook, tmp_path, cooldown_minutes=0)
    worse_check = drift_check_flow(settings=youtube, training=champion)
    # THEN a challenger is trained, but it cannot beat that champion on those labels: it is not promoted
    assert worse_check.retraining_triggered, worse_check.reasons
    assert worse_check.training is not None
    worse = worse_check.training
    assert worse.champion_before == result.version
    assert not worse.promoted
    assert any("feedback" in r and "needs at least" in r for r in worse.reasons), worse.reasons
    assert served_version(endpoint_url, stack) == result.version


def test_a_moderator_who_flips_labels_is_held_out_of_the_retraining(
    champion: TrainingSettings, stack: Stack, endpoint_url: str, data_dir: Path, webhook: str, tmp_path: Path
) -> None:
    scorer = _scorer(endpoint_url, stack)
    tweets = removals_of(random.Random(9).sample(load_davidson(data_dir), 900), Category.TOXICITY)
    # GIVEN a window of tweets that five moderators labelled, one of them (m3) every label the wrong way
    label_window(endpoint_url, stack, "archive-poison/", tweets, scorer, flipper="m3")
    # WHEN it is checked with retraining on (rules that call any window drift: the labels are the test)
    settings = _settings(
        stack, endpoint_url, "archive-poison/", webhook, tmp_path, unseen_increase=-1.0, cooldown_minutes=0
    )
    Receiver.received.clear()
    check = drift_check_flow(settings=settings, training=champion)
    # THEN the retraining ran without m3's labels: flagged, alerted on, recorded, held out
    assert check.retraining_triggered, check.reasons
    assert check.labels is not None
    assert check.training is not None
    by = {a.labeller: a for a in check.labels.labellers}
    assert [who for who, a in by.items() if a.flags] == ["m3"], by
    assert by["m3"].held_out == 180
    assert len(check.labels.held_out) == 180
    alerts = [a for a in Receiver.received if a["kind"] == "labels_held_out"]
    assert len(alerts) == 1
    assert "m3" in json.dumps(alerts[0])
    started = next(a for a in Receiver.received if a["kind"] == "retraining_started")
    assert "*feedback_labels*: 720" in json.dumps(started)  # the challenger was given the four others'
    s3 = aws.client("s3", endpoint_url)
    listed = s3.list_objects_v2(Bucket=stack.archive_bucket.name, Prefix="reports-archive-poison/labels/")
    (audit_object,) = listed["Contents"]
    recorded = json.loads(
        s3.get_object(Bucket=stack.archive_bucket.name, Key=audit_object["Key"])["Body"].read()
    )
    assert sorted(recorded["held_out"]) == sorted(check.labels.held_out)
    run_audit = mlflow.MlflowClient(champion.resolved_tracking_uri).download_artifacts(
        check.training.run_id, "label_audit.json", str(tmp_path)
    )
    assert json.loads(Path(run_audit).read_text())["held_out"] == check.labels.held_out
