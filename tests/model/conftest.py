"""Models trained on the real training splits, shared by the model tests: the r/science champion as
`train_flow` trains it, and a model of offensive tweets reading short windows (the evasion suite's)."""

from pathlib import Path

import pytest

from contracts.categories import Category
from training.corpora import ExampleSplits, Source, source_splits
from training.train import ModelParams, TrainedModel, fit


@pytest.fixture(scope="session")
def rscience_splits(data_dir: Path) -> ExampleSplits:
    return source_splits(data_dir, Source.RSCIENCE)


@pytest.fixture(scope="session")
def trained(rscience_splits: ExampleSplits) -> TrainedModel:
    return fit(rscience_splits.train, rscience_splits.validation, ModelParams(c_grid=(3.0,)))


@pytest.fixture(scope="session")
def tweet_splits(data_dir: Path) -> ExampleSplits:
    return source_splits(data_dir, Source.DAVIDSON)


@pytest.fixture(scope="session")
def offensive_tweets_model(tweet_splits: ExampleSplits) -> TrainedModel:
    params = ModelParams(c_grid=(1.0,), window_tokens=16)
    return fit(tweet_splits.train, tweet_splits.validation, params, Category.TOXICITY)
