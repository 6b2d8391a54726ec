"""Hand-written fakes of the few AWS calls the pure-code tests need; integration tests use the emulator."""

import hashlib
import io
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stream_consumer.cascade import Cascade
from stream_consumer.encoder import DIMENSIONS
from stream_consumer.normalize import NormalText
from stream_consumer.scorer import Scores
from tests.builders import client_error


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


# --- a keyword scorer (the in-memory sinks are the library's: stream_consumer.sinks) ---------------


class KeywordScorer:
    """Per category: 0.95 when a text holds one of its words, 0.6 for 'maybe', else 0.05; reasons name
    the word. By default one category, `removal` (as a model of the format before categories)."""

    def __init__(
        self,
        bad: tuple[str, ...] = ("idiot", "moron"),
        calls: list[int] | None = None,
        words: dict[str, tuple[str, ...]] | None = None,
        cascade: Cascade | None = None,
    ) -> None:
        self.words = words if words is not None else {"removal": bad}
        self.calls = calls if calls is not None else []
        self.cascade = cascade

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.words)

    def score_categories(self, batch: Sequence[NormalText], top_k: int = 3) -> dict[str, Scores]:
        self.calls.append(len(batch))
        out = {}
        for category, bad in self.words.items():
            probs, reasons = [], []
            for t in (b.text for b in batch):
                hit = [w for w in bad if w in t.split()]
                probs.append(0.95 if hit else 0.6 if "maybe" in t else 0.05)
                reasons.append(hit[:top_k])
            out[category] = Scores(np.array(probs), reasons)
        return out


# --- a sentence encoder that knows a few bad words ------------------------------------------------


class WordEncoder:
    """The cascade's `Embedder`: dimension 0 of a part is 1 when it holds a bad word (in any language's
    spelling here), else 0. Like the real encoder, `embed` reads a text's first part and `embed_parts`
    every part (`part_words` words each, the first and last of at most `most` parts); with a `clock`,
    each part embedded advances it by `seconds_per_part`, as the real one spends time. With `focus`, a
    bad word counts only in a part of at most that many words: a longer one dilutes it, as a sentence
    embedding does."""

    BAD = ("bad", "schlecht", "connard", "stronzo", "merde", "merda", "mierda", "puta", "cazzo", "coglione")

    def __init__(
        self,
        sha256: str = "e" * 64,
        part_words: int = 80,
        most: int = 16,
        clock: list[float] | None = None,
        seconds_per_part: float = 0.001,
        focus: int | None = None,
    ) -> None:
        self.sha256 = sha256
        self.part_words = part_words
        self.most = most
        self.clock = clock
        self.seconds_per_part = seconds_per_part
        self.focus = focus
        self.seen: list[str] = []  # every part embedded

    def parts(self, text: str) -> list[str]:
        words = text.split()
        parts = [
            " ".join(words[i : i + self.part_words]) for i in range(0, max(len(words), 1), self.part_words)
        ]
        keep = sorted({round(k * (len(parts) - 1) / max(self.most - 1, 1)) for k in range(self.most)})
        return parts if len(parts) <= self.most else [parts[k] for k in keep]

    def _rows(self, parts: list[str]) -> NDArray[np.float32]:
        self.seen += parts
        if self.clock is not None:
            self.clock[0] += self.seconds_per_part * len(parts)
        out = np.zeros((len(parts), DIMENSIONS), dtype=np.float32)
        out[:, 0] = [
            any(w in p.lower() for w in self.BAD) and (self.focus is None or len(p.split()) <= self.focus)
            for p in parts
        ]
        return out

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._rows([self.parts(t)[0] for t in texts])

    def embed_parts(self, texts: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
        split = [self.parts(t) for t in texts]
        owner = np.repeat(np.arange(len(texts)), [len(p) for p in split]).astype(np.intp)
        return self._rows([p for ps in split for p in ps]), owner


# --- an in-memory bucket for the champion and policy readers' unit tests -----------------------


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
            raise client_error("NoSuchKey", 404, "GetObject")
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        if IfNoneMatch == etag:
            raise client_error("304", 304, "GetObject")
        return {"Body": io.BytesIO(body), "ETag": etag}
