"""The demo's live figures come from the consumer's own EMF lines, as printed by powertools."""

import json
from pathlib import Path

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from contracts.categories import Category
from demo.live import ConsumerFigures, LogFollower
from demo.traffic import unseen_texts
from producer_sim.communities import Community, load_community
from tests.builders import chat_line
from training.corpora import Example, dedupe_key, load_all, split_examples
from training.settings import TrainingSettings


def _emf_lines(capsys: pytest.CaptureFixture[str], batches: list[dict[str, float]]) -> list[str]:
    metrics = Metrics(namespace="ChatModeration", service="consumer")
    metrics.clear_metrics()  # powertools shares the metric set between instances: start empty
    for batch in batches:
        for name, value in batch.items():
            unit = MetricUnit.Milliseconds if name == "HandlerDuration" else MetricUnit.Count
            metrics.add_metric(name=name, unit=unit, value=value)
        metrics.flush_metrics()
    return capsys.readouterr().out.splitlines()


def test_figures_fold_the_consumers_emf_lines(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _emf_lines(
        capsys,
        [
            {"Verdicts_allow": 70, "Verdicts_review": 20, "Verdicts_remove": 8, "DeadLetters": 2,
             "HandlerDuration": 40.0, "ChampionVersion": 1},
            {"Verdicts_allow": 50, "Verdicts_review": 30, "Verdicts_remove": 20, "DeadLetters": 0,
             "HandlerDuration": 60.0, "ChampionVersion": 2, "ModelReloads": 1},
        ],
    )  # fmt: skip
    figures = ConsumerFigures()
    for line in [*lines, "not json", '{"level":"INFO","message":{"event":"batch"}}']:
        figures.ingest(line)
    assert figures.verdicts == 198
    assert figures.counts["DeadLetters"] == 2
    assert figures.counts["ModelReloads"] == 1
    assert figures.champion_version == 2
    assert figures.batches == 2
    assert figures.handler_p50_ms == 50.0


def test_reload_failures_are_collected() -> None:
    figures = ConsumerFigures()
    line = {"level": "ERROR", "message": {"event": "champion_reload", "outcome": "failed", "detail": "sha"}}
    figures.ingest(json.dumps(line))
    assert figures.reload_failures == ["sha"]


def test_follower_returns_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "consumer.log"
    follower = LogFollower(path)
    assert follower.new_lines() == []
    path.write_text("one\ntw")
    assert follower.new_lines() == ["one"]
    with path.open("a") as fh:
        fh.write("o\nthree\n")
    assert follower.new_lines() == ["two", "three"]
    assert follower.new_lines() == []


def _texts(community: Community, n: int) -> list[Example]:
    return [chat_line(f"message number {i} from {community}", community, int(i % 3 == 0)) for i in range(n)]


def test_tweets_before_and_after_retraining_are_disjoint() -> None:
    pool = _texts(Community.TWEETS, 400)
    before, after = unseen_texts(Community.TWEETS, pool, 0), unseen_texts(Community.TWEETS, pool, 1)
    assert before
    assert after
    assert len(before) + len(after) == len(pool)
    assert not {t.text for t in before} & {t.text for t in after}


@pytest.mark.parametrize("community", [Community.RSCIENCE, Community.SPAM])
def test_replayed_rscience_and_spam_are_never_what_the_champion_trained_on(
    data_dir: Path, community: Community
) -> None:
    # GIVEN the champion's split of every labelled set (spam sets included)
    settings = TrainingSettings()
    parts = split_examples(load_all(data_dir), settings.seed, settings.validation_share, settings.test_share)
    trained = {dedupe_key(e.text) for e in parts.train}
    # WHEN the demo picks the messages it posts into the chat
    held_out = unseen_texts(community, load_community(data_dir, community), 0)
    # THEN every one is a message no head learnt from, with its community's labels
    assert len(held_out) > 100
    assert not {dedupe_key(t.text) for t in held_out} & trained
    if community is Community.SPAM:
        assert all(t.labels == {Category.REMOVAL: 1, Category.SPAM: 1} for t in held_out)
        # from both spam sets: YouTube's comments (named by their video) and the SMS messages
        assert {bool(t.group) for t in held_out} == {True, False}
    else:
        assert {t.labels[Category.REMOVAL] for t in held_out} == {0, 1}
