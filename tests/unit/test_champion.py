"""The champion reader: it refuses a model trained on a normal form it does not implement, or whose
encoder heads read another encoder (keeping the last good one, with a logged failure and a metric),
and it reads manifests tolerantly."""

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from contracts.storage import ChampionManifest
from stream_consumer.cascade import Cascade, EncoderHead
from stream_consumer.champion import ChampionWatcher, ReloadEvent, serving_canary
from stream_consumer.consumer import log_reload, metrics
from stream_consumer.encoder import DIMENSIONS, encoder_sha256
from stream_consumer.normalize import NORMAL_FORM_VERSION
from stream_consumer.scorer import CategoryModel, LinearScorer
from tests.builders import removals
from tests.fakes import MemoryBucket
from training.train import ModelParams, fit

BUCKET, MANIFEST = "models", "champion.json"


@pytest.fixture(scope="module")
def scorer() -> LinearScorer:
    texts = ["thanks for the paper", "you idiot", "great study", "what a moron", "lol ok", "sample size?"]
    items = removals(texts)
    return fit(items[:60], items[60:], ModelParams(c_grid=(1.0,), min_df=1)).scorer


def _publish(
    bucket: MemoryBucket, scorer: LinearScorer | CategoryModel, version: str, tmp: Path, **extra: object
) -> None:
    path = tmp / f"v{version}.npz"
    scorer.save(path)
    body = path.read_bytes()
    bucket.put(BUCKET, f"models/{version}.npz", body)
    manifest = {
        "model_name": "chat-moderation",
        "version": version,
        "run_id": "r",
        "artifact_uri": f"s3://{BUCKET}/models/{version}.npz",
        "sha256": hashlib.sha256(body).hexdigest(),
        "promoted_at": datetime.now(UTC).isoformat(),
        "promoted_by": "test",
        **extra,
    }
    bucket.put(BUCKET, MANIFEST, json.dumps(manifest).encode())


@pytest.mark.parametrize("where", ["manifest", "archive"])
def test_a_model_of_another_normal_form_is_refused_and_the_last_good_one_serves(
    scorer: LinearScorer, tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a consumer serving version 1
    bucket = MemoryBucket()
    _publish(bucket, scorer, "1", tmp_path, normal_form=NORMAL_FORM_VERSION)
    events: list[ReloadEvent] = []
    watcher = ChampionWatcher(bucket, BUCKET, MANIFEST, interval_s=0, on_event=events.append)  # type: ignore[arg-type]
    assert watcher.current() is not None
    # WHEN version 2 says (in its manifest, or only inside its archive) it was trained on normal form "1"
    if where == "manifest":
        _publish(bucket, scorer, "2", tmp_path, normal_form="1")
    else:
        _publish(bucket, replace(scorer, normal_form="1"), "2", tmp_path)
    champion = watcher.current()
    # THEN version 1 keeps serving, and the refusal is a logged failure with its reason and a metric
    assert champion is not None
    assert champion.version == "1"
    assert events[-1].outcome == "failed"
    assert "normal form '1'" in events[-1].detail
    metrics.clear_metrics()  # powertools shares the metric set between instances: start empty
    with caplog.at_level("ERROR"):
        log_reload(events[-1])
    assert "'outcome': 'failed'" in caplog.text
    assert "normal form" in caplog.text
    assert metrics.metric_set["ModelReloadFailures"]["Value"] == [1.0]
    metrics.clear_metrics()


def test_a_manifest_with_fields_this_reader_does_not_know_still_reads() -> None:
    manifest = {
        "model_name": "m",
        "version": "3",
        "run_id": "r",
        "artifact_uri": "s3://b/k",
        "sha256": "0" * 64,
        "promoted_at": "2026-11-29T10:00:00+00:00",
        "promoted_by": "x",
        "normal_form": NORMAL_FORM_VERSION,
        "categories": ["toxicity", "spam"],  # written by a newer trainer
    }
    assert ChampionManifest.model_validate_json(json.dumps(manifest)).version == "3"


def test_encoder_heads_of_another_encoder_are_refused_and_the_last_good_one_serves(
    scorer: LinearScorer, tmp_path: Path
) -> None:
    # GIVEN a consumer serving version 1
    bucket = MemoryBucket()
    _publish(bucket, scorer, "1", tmp_path)
    events: list[ReloadEvent] = []
    watcher = ChampionWatcher(bucket, BUCKET, MANIFEST, interval_s=0, on_event=events.append)  # type: ignore[arg-type]
    assert watcher.current() is not None
    # WHEN version 2's encoder heads were trained on an encoder this consumer does not have
    head = EncoderHead(np.zeros(DIMENSIONS), 0.0, np.array([1.0, 0.0, 0.0]), np.array([1.0, 0.0]), (0.4, 0.6))
    other = Cascade("another-encoder", "0" * 64, {"removal": head}, ("en",))
    _publish(bucket, CategoryModel({"removal": scorer}, {}, scorer.normal_form, other), "2", tmp_path)
    champion = watcher.current()
    # THEN version 1 keeps serving, and the refusal names the encoder
    assert champion is not None
    assert champion.version == "1"
    assert events[-1].outcome == "failed"
    assert "encoder" in events[-1].detail
    # AND the same heads naming the installed encoder load
    mine = replace(other, encoder_sha256=encoder_sha256())
    _publish(bucket, CategoryModel({"removal": scorer}, {}, scorer.normal_form, mine), "3", tmp_path)
    assert watcher.current().version == "3"  # type: ignore[union-attr]


def test_a_canary_widened_is_followed_without_a_reload_and_one_ended_serves_no_channel(
    scorer: LinearScorer, tmp_path: Path
) -> None:
    # GIVEN a canary manifest naming version 2 on a tenth of the channels
    bucket = MemoryBucket()
    _publish(bucket, scorer, "2", tmp_path, share=0.1)
    events: list[ReloadEvent] = []
    watcher = ChampionWatcher(bucket, BUCKET, MANIFEST, interval_s=0, on_event=events.append, optional=True)  # type: ignore[arg-type]
    canary = serving_canary(watcher)
    first = canary()
    assert first is not None
    assert (first.model.version, first.share) == ("2", 0.1)
    # WHEN it is widened to half: the same version, another share
    _publish(bucket, scorer, "2", tmp_path, share=0.5)
    fetched = len([k for k in bucket.gets if k.endswith(".npz")])
    widened = canary()
    # THEN the consumer follows the share with the model it had (no archive fetched again), and says so
    assert widened is not None
    assert widened.share == 0.5
    assert widened.model is first.model
    assert len([k for k in bucket.gets if k.endswith(".npz")]) == fetched
    assert (events[-1].outcome, events[-1].detail) == ("share", "share 0.1 -> 0.5")
    # WHEN the manifest goes (completed or rolled back), or names no share: no canary
    _publish(bucket, scorer, "2", tmp_path)
    assert canary() is None
    del bucket.objects[(BUCKET, MANIFEST)]
    assert canary() is None
    assert events[-1].outcome == "withdrawn"
