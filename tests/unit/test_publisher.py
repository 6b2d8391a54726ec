"""Partial PutRecords failures are resent alone, until delivered or given up on, never duplicated."""

from typing import Any, cast

from producer_sim.publisher import Publisher, PublishReport
from producer_sim.replay import OutgoingRecord
from runtime.retry import backoff_delay
from tests.fakes import FlakyKinesis


def _records(n: int) -> list[OutgoingRecord]:
    return [OutgoingRecord(f"m{i}".encode(), "channel-00", None, None) for i in range(n)]


def test_partial_failures_are_retried_until_every_record_lands_once() -> None:
    # GIVEN a stream that throttles every odd record on the first two calls
    kinesis = FlakyKinesis(lambda call, pos: call < 2 and pos % 2 == 1)
    publisher = Publisher(cast(Any, kinesis), "s", max_attempts=5, sleep=lambda _: None)
    report = PublishReport()
    # WHEN a batch of 10 is published
    publisher.publish_batch(_records(10), report)
    # THEN every record is stored exactly once, and only failed ones were resent
    assert sorted(kinesis.stored) == sorted(r.data for r in _records(10))
    assert [len(c) for c in kinesis.calls] == [10, 5, 2]
    assert report.sent == 10
    assert not report.undelivered
    assert report.retried_records == 7


def test_records_still_failing_after_the_last_attempt_are_reported_not_dropped() -> None:
    kinesis = FlakyKinesis(lambda call, pos: pos == 0)
    report = PublishReport()
    Publisher(cast(Any, kinesis), "s", max_attempts=3, sleep=lambda _: None).publish_batch(
        _records(4), report
    )
    assert report.sent == 3
    assert [(r.data, code) for r, code in report.undelivered] == [
        (b"m0", "ProvisionedThroughputExceededException")
    ]
    assert report.error_codes == {"ProvisionedThroughputExceededException": 3}


def test_backoff_grows_and_is_capped() -> None:
    class Top:
        def uniform(self, _lo: float, hi: float) -> float:
            return hi

    rng = cast(Any, Top())
    assert [backoff_delay(a, rng=rng) for a in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert backoff_delay(20, rng=rng) == 5.0
