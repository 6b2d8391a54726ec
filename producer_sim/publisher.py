"""The chat servers' side of PutRecords: batches of simulated records, each retried until delivered."""

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from producer_sim.replay import OutgoingRecord
from runtime.kinesis import PutReport, put_batch

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

PublishReport = PutReport[OutgoingRecord]


class Publisher:
    """Delivers records to one stream; a partial failure resends only the failed records."""

    def __init__(
        self,
        kinesis: "KinesisClient",
        stream_name: str,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream_name
        self._max_attempts = max_attempts
        self._sleep = sleep

    def publish_batch(self, batch: Sequence[OutgoingRecord], report: PublishReport) -> None:
        """Deliver one batch (≤ 500 records, ≤ 5 MiB), retrying failed records with backoff."""
        put_batch(self._kinesis, self._stream, batch, report, self._max_attempts, self._sleep)
