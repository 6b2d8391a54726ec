"""Fixtures of the chaos tests: a fault proxy in front of the session's emulator, the consumer's log."""

from collections.abc import Iterator

import pytest

from tests.chaos.faultproxy import FaultProxy
from tests.chaos.rig import LogCapture, captured_consumer_log


@pytest.fixture
def proxy(endpoint_url: str) -> Iterator[FaultProxy]:
    with FaultProxy.for_url(endpoint_url, seed=5) as p:
        yield p


@pytest.fixture
def consumer_log() -> Iterator[LogCapture]:
    with captured_consumer_log() as capture:
        yield capture
