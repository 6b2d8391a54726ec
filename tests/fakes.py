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


# --- consumer fakes: in-memory sinks and a keyword scorer -------------------------------------

import numpy as np  # noqa: E402

from stream_consumer.moderation import Moderated, Rejected  # noqa: E402
from stream_consumer.normalize import NormalText  # noqa: E402
from stream_consumer.scorer import Scores  # noqa: E402


class KeywordScorer:
    """Scores 0.95 when a text holds a bad word, 0.6 for 'maybe', else 0.05; reasons name the word."""

    def __init__(self, bad: tuple[str, ...] = ("idiot", "moron"), calls: list[int] | None = None) -> None:
        self.bad = bad
        self.calls = calls if calls is not None else []

    def score(self, batch: Sequence[NormalText], top_k: int = 3) -> Scores:
        self.calls.append(len(batch))
        probs, reasons = [], []
        for t in (b.text for b in batch):
            hit = [w for w in self.bad if w in t.split()]
            probs.append(0.95 if hit else 0.6 if "maybe" in t else 0.05)
            reasons.append(hit[:top_k])
        return Scores(np.array(probs), reasons)


class MemoryVerdicts:
    def __init__(self, fail_channels: frozenset[str] = frozenset()) -> None:
        self.fail_channels = fail_channels
        self.written: list[Moderated] = []

    def put(self, items: Sequence[Moderated]) -> list[Moderated]:
        failed = [m for m in items if m.verdict.channel_id in self.fail_channels]
        self.written.extend(m for m in items if m not in failed)
        return failed


class MemoryDeadLetters:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[Rejected] = []

    def send(self, items: Sequence[Rejected]) -> list[Rejected]:
        if self.refuse:
            return list(items)
        self.sent.extend(items)
        return []


class MemoryArchive:
    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.objects: dict[str, list[Moderated]] = {}

    def write(self, key: str, items: Sequence[Moderated]) -> None:
        from stream_consumer.sinks import SinkError  # noqa: PLC0415

        if self.broken:
            raise SinkError("archive bucket unreachable")
        self.objects[key] = list(items)


# --- an in-memory bucket for the champion and policy readers' unit tests -----------------------

import hashlib  # noqa: E402
import io  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402


class MemoryBucket:
    """`get_object` as S3 answers it: the body and its ETag, 304 on a matching If-None-Match, NoSuchKey."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.gets: list[str] = []

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[(bucket, key)] = body

    def get_object(self, Bucket: str, Key: str, IfNoneMatch: str | None = None) -> dict[str, Any]:  # noqa: N803
        self.gets.append(Key)
        body = self.objects.get((Bucket, Key))
        if body is None:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject")
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        if IfNoneMatch == etag:
            raise ClientError({"Error": {"Code": "304", "Message": "Not Modified"}}, "GetObject")
        return {"Body": io.BytesIO(body), "ETag": etag}
