"""One model trained on the real r/science training split, shared by the model tests."""

from pathlib import Path

import pytest

from training.data import Splits, load_rscience, split
from training.train import ModelParams, TrainedModel, fit


@pytest.fixture(scope="session")
def rscience_splits(data_dir: Path) -> Splits:
    return split(load_rscience(data_dir), seed=42)


@pytest.fixture(scope="session")
def trained(rscience_splits: Splits) -> TrainedModel:
    return fit(rscience_splits.train, rscience_splits.validation, ModelParams(c_grid=(3.0,)))
