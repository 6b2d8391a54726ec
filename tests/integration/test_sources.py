"""The consumer's policy source against S3 on the emulator: a conditional GET on the ETag (an unchanged
`policy.json` answers 304 and is not downloaded again), and the last good policies kept when the file
turns invalid or the bucket becomes unreachable."""

from collections import Counter
from typing import Any

import pytest

from contracts.policy import PolicyBook
from runtime import aws
from runtime.policies import PolicySource
from runtime.stack import Stack
from tests.chaos.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

KEY = "policy.json"
STRICT = b'{"channels": {"kids": {"thresholds": {"review": 0.2, "remove": 0.4}, "block_terms": ["dang"]}}}'
LOOSE = b'{"channels": {"kids": {"thresholds": {"review": 0.6, "remove": 0.9}}}}'


def count_gets(client: Any) -> Counter[int]:
    """HTTP status codes of the client's GetObject responses, as they arrive."""
    statuses: Counter[int] = Counter()

    def seen(http_response: Any, **_: Any) -> None:
        statuses[http_response.status_code] += 1

    client.meta.events.register("after-call.s3.GetObject", seen)
    return statuses


def kids(book: PolicyBook) -> tuple[float, float]:
    _, policy = book.for_channel("kids")
    return policy.thresholds.review, policy.thresholds.remove


def test_an_unchanged_policy_is_not_downloaded_again(endpoint_url: str, fresh_stack: Stack) -> None:
    s3 = aws.client("s3", endpoint_url)
    bucket = fresh_stack.models_bucket.name
    s3.put_object(Bucket=bucket, Key=KEY, Body=STRICT)
    statuses = count_gets(s3)
    source = PolicySource(s3, bucket, KEY, interval_s=0)
    # GIVEN the policies read once
    first = source()
    assert kids(first) == (0.2, 0.4)
    assert statuses == {200: 1}
    # WHEN they are checked again, unchanged
    again = source()
    # THEN S3 answers 304 Not Modified (the ETag matched) and the same policies serve, not re-parsed
    assert statuses == {200: 1, 304: 1}
    assert again is first
    # AND a changed file is downloaded and takes effect at the next check
    s3.put_object(Bucket=bucket, Key=KEY, Body=LOOSE)
    assert kids(source()) == (0.6, 0.9)
    assert statuses == {200: 2, 304: 1}


def test_an_invalid_policy_keeps_the_last_good_one(endpoint_url: str, fresh_stack: Stack) -> None:
    s3 = aws.client("s3", endpoint_url)
    bucket = fresh_stack.models_bucket.name
    s3.put_object(Bucket=bucket, Key=KEY, Body=STRICT)
    errors: list[str] = []
    source = PolicySource(s3, bucket, KEY, interval_s=0, on_error=errors.append)
    assert kids(source()) == (0.2, 0.4)
    # WHEN the file is replaced by one that is not valid (thresholds out of order), then by broken JSON
    s3.put_object(Bucket=bucket, Key=KEY, Body=STRICT.replace(b"0.2", b"0.7"))
    after_invalid = source()
    s3.put_object(Bucket=bucket, Key=KEY, Body=b'{"channels": ')
    after_broken = source()
    # THEN the last good policies keep serving, and each failure is reported
    assert kids(after_invalid) == kids(after_broken) == (0.2, 0.4)
    assert len(errors) == 2
    assert all("keeping the last good policies" in e for e in errors)
    # AND once the file is deleted, every channel gets the default (no file means no special rules)
    s3.delete_object(Bucket=bucket, Key=KEY)
    assert source().channels == {}


def test_an_unreachable_bucket_keeps_the_last_good_policy(endpoint_url: str, fresh_stack: Stack) -> None:
    bucket = fresh_stack.models_bucket.name
    aws.client("s3", endpoint_url).put_object(Bucket=bucket, Key=KEY, Body=STRICT)
    errors: list[str] = []
    with FaultProxy.for_url(endpoint_url) as proxy:
        source = PolicySource(aws.client("s3", proxy.url), bucket, KEY, interval_s=0, on_error=errors.append)
        assert kids(source()) == (0.2, 0.4)
        # WHEN the bucket cannot be reached
        proxy.outage()
        during = source()
        proxy.healthy()
    # THEN the last good policies keep serving, and the outage is reported
    assert kids(during) == (0.2, 0.4)
    assert len(errors) == 1
    assert "unreachable" in errors[0]
