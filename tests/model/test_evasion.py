"""The evasion suite against a model of offensive tweets: obfuscated toxic messages stay caught, and
obfuscated benign ones are not flagged just for looking odd."""

import pytest

from contracts.categories import Category
from contracts.policy import ChannelPolicy, Thresholds
from training.adversarial import ALLOWED_TERM, OBFUSCATIONS, EvasionFloors, EvasionReport, evasion_suite
from training.corpora import ExampleSplits
from training.serving import serving_scores
from training.train import TrainedModel

# Floors under the goals (95% flagged, 90% removed, +2 points of benign flags), set from measurement
# with room for the noise of a 200-message sample; the benchmark reports the measured table.
FLOORS = EvasionFloors(still_flagged=0.93, still_removed=0.85, false_flag_increase=0.12)


@pytest.fixture(scope="module")
def report(offensive_tweets_model: TrainedModel, tweet_splits: ExampleSplits) -> EvasionReport:
    policy = ChannelPolicy(allow_terms=(ALLOWED_TERM,))
    toxic = [x.text for x in tweet_splits.test if x.labels[Category.TOXICITY] == 1][:300]
    benign = [x.text for x in tweet_splits.test if x.labels[Category.TOXICITY] == 0][:300]
    return evasion_suite(
        lambda texts: serving_scores(offensive_tweets_model.scorer, texts, policy),
        toxic,
        benign,
        Thresholds(),
        foreign_families={},  # a fast model alone reads no foreign insult: the cascade's, unit-tested
    )


def test_every_family_is_measured_on_enough_messages(report: EvasionReport) -> None:
    assert [f.family for f in report.families] == list(OBFUSCATIONS)
    assert all(f.toxic >= 200 and f.benign >= 200 for f in report.families)


@pytest.mark.parametrize("family", list(OBFUSCATIONS))
def test_each_family_stays_above_the_floors(report: EvasionReport, family: str) -> None:
    (row,) = [f for f in report.families if f.family == family]
    assert EvasionReport(families=[row]).failures(FLOORS) == []
