"""Hand-written fakes of the few AWS calls the pure-code tests need; integration tests use the emulator."""

import itertools
from collections.abc import Callable, Sequence
from typing import Any


class FlakyKinesis:
    """PutRecords that fails chosen records (per call) with a throttling error code."""

    def __init__(self, fail: Callable[[int, int], bool]) -> None:
        self._fail = fail  # (call number, position in call) -> fail this record?
        self._seq = itertools.count(1)
        self.calls: list[list[bytes]] = []
        self.stored: list[bytes] = []

    def put_records(self, StreamName: str, Records: Sequence[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        call = len(self.calls)
        self.calls.append([r["Data"] for r in Records])
        results: list[dict[str, Any]] = []
        for pos, record in enumerate(Records):
            if self._fail(call, pos):
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"})
            else:
                self.stored.append(record["Data"])
                results.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(next(self._seq))})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedRecordCount": failed, "Records": results}
