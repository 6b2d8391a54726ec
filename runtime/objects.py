"""S3 objects read with their ETag and written on a condition: created only if absent (`If-None-Match: *`),
replaced only if unchanged since read (`If-Match: <ETag>`). A lost condition raises
`PreconditionFailedError`, and nothing is written.

What the emulators honour, checked with small scripts against each (versioned and unversioned buckets):
- LocalStack 2026.3 (S3 provider) and moto_server 5.2 both refuse `IfNoneMatch='*'` on an existing key
  and `IfMatch` with a stale ETag with 412 PreconditionFailed, the object left as it was; `IfMatch` on a
  missing key is 404 NoSuchKey. Of 8 threads racing either condition on one key, exactly one wins
  (80 races on each emulator), so the check and the write are one step, as on AWS.
- moto_server also honours DynamoDB's `ConditionExpression` on PutItem and UpdateItem
  (ConditionalCheckFailedException); the stack's LocalStack runs no DynamoDB, hence S3.
- The ETag is the body's MD5 on both (as on AWS for a single-part put): the same body written again
  has the same ETag, so a body that must never be taken for an earlier one carries what changes (a
  token, a time).
"""

from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import AwsError, NotFoundError, PreconditionFailedError, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Stored:
    """An object's body and the ETag it had when read."""

    body: bytes
    etag: str


def read_object(s3: "S3Client", bucket: str, key: str) -> Stored | None:
    """The object with its ETag, or None when there is no such key (a missing bucket still raises)."""
    try:
        with aws_errors(f"GetObject {key}"):
            response = s3.get_object(Bucket=bucket, Key=key)
            return Stored(response["Body"].read(), response["ETag"])
    except NotFoundError as err:
        if err.code == "NoSuchBucket":
            raise
        return None


def put_if_unchanged(
    s3: "S3Client", bucket: str, key: str, body: bytes, etag: str | None, content_type: str
) -> str:
    """Write the object only if it still has the ETag it was read with (None: only if there is none
    yet); its new ETag."""
    operation = f"PutObject {key}"
    try:
        with aws_errors(operation):
            if etag is None:
                response = s3.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
                )
            else:
                response = s3.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type, IfMatch=etag
                )
    except NotFoundError as err:
        if err.code == "NoSuchBucket":
            raise
        # If-Match on a key deleted since it was read: it changed, as surely as a new ETag.
        raise PreconditionFailedError(operation, err.code, err.status) from err
    return response["ETag"]


def list_keys(s3: "S3Client", bucket: str, prefix: str, what: str) -> list[str]:
    """Every key under `prefix`, in order, through every page of the listing (`what` names it in errors)."""
    paginator = s3.get_paginator("list_objects_v2")
    with aws_errors(f"ListObjectsV2 {what}"):
        return sorted(
            o["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        )


READERS = 8  # objects read at once: a read waits on the store, not on this process


def read_objects(s3: "S3Client", bucket: str, keys: Sequence[str]) -> Generator[tuple[str, bytes | AwsError]]:
    """Each key's body, or the error that reading it raised, in the keys' order: `READERS` read at once
    (thousands of small objects, read one after another, wait thousands of round trips)."""

    def read(key: str) -> bytes | AwsError:
        try:
            with aws_errors(f"GetObject {key}"):
                body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except AwsError as err:
            return err
        return body

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        yield from zip(keys, pool.map(read, keys), strict=True)


class ReadKeys:
    """The keys under a prefix that a reader has finished, kept in a state file (a line each, added as
    each is finished): a restarted reader reads only what is new, and one that failed half-way reads
    the unfinished keys again."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._read: set[str] = set(path.read_text().split()) if path.exists() else set()

    def new(self, keys: Iterable[str]) -> list[str]:
        """Those of `keys` not finished yet, in their order."""
        return [k for k in keys if k not in self._read]

    def finished(self, keys: Iterable[str]) -> None:
        fresh = self.new(keys)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a") as fh:
            fh.writelines(k + "\n" for k in fresh)
        self._read.update(fresh)
