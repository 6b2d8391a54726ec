"""The `kinesis_record` fixture: a factory of parsed Lambda Kinesis records (see tests/builders.py)."""

from collections.abc import Callable

import pytest

from contracts.lambda_event import KinesisRecord
from tests import builders


@pytest.fixture
def kinesis_record() -> Callable[..., KinesisRecord]:
    return builders.kinesis_record
