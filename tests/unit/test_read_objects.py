"""`runtime.objects.read_objects`: many small objects read several at once, answered in the keys' order,
a key that cannot be read answering with its error instead of stopping the others."""

import threading
from typing import Any

from runtime.errors import NotFoundError
from runtime.objects import READERS, read_objects
from tests.fakes import MemoryBucket


def test_each_key_answers_in_order_with_its_body_or_its_error() -> None:
    bucket = MemoryBucket()
    keys = [f"feedback/{i:03d}.jsonl" for i in range(40)]
    for i, key in enumerate(keys):
        if i != 17:
            bucket.put("b", key, f"line {i}\n".encode())
    answers = list(read_objects(bucket, "b", keys))  # type: ignore[arg-type]
    assert [k for k, _ in answers] == keys
    assert [body for k, body in answers if k != keys[17]] == [
        f"line {i}\n".encode() for i in range(40) if i != 17
    ]
    error = answers[17][1]
    assert isinstance(error, NotFoundError)
    assert error.code == "NoSuchKey"
    assert sorted(bucket.gets) == keys


def test_the_reads_wait_on_the_store_together() -> None:
    """Each read waits until `READERS` reads are under way: read one after another, none would return."""
    arrived = threading.Barrier(READERS, timeout=10)

    class SlowBucket(MemoryBucket):
        def get_object(self, Bucket: str, Key: str, IfNoneMatch: str | None = None) -> dict[str, Any]:  # noqa: N803
            arrived.wait()
            return super().get_object(Bucket, Key, IfNoneMatch)

    bucket = SlowBucket()
    keys = [f"archive/{i:03d}" for i in range(READERS * 3)]
    for key in keys:
        bucket.put("b", key, key.encode())
    assert [body for _, body in read_objects(bucket, "b", keys)] == [k.encode() for k in keys]  # type: ignore[arg-type]


def test_no_keys_read_nothing() -> None:
    assert list(read_objects(MemoryBucket(), "b", [])) == []  # type: ignore[arg-type]


def test_a_reader_that_stops_early_leaves_the_reads_not_begun_undone() -> None:
    """A pass that fails at its first object (the appellants') does not wait for every other read:
    every read but the first is held for seconds, so when the reader stops, the only reads begun are
    the first and those the pool's threads took up while held."""

    class HeldBucket(MemoryBucket):
        def get_object(self, Bucket: str, Key: str, IfNoneMatch: str | None = None) -> dict[str, Any]:  # noqa: N803
            if Key != "k000":
                threading.Event().wait(3)
            return super().get_object(Bucket, Key, IfNoneMatch)

    bucket = HeldBucket()
    keys = [f"k{i:03d}" for i in range(200)]
    for key in keys:
        bucket.put("b", key, b"x")
    answers = read_objects(bucket, "b", keys)  # type: ignore[arg-type]
    assert next(answers) == ("k000", b"x")
    answers.close()
    assert len(bucket.gets) <= 1 + READERS
