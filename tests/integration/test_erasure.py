"""Erasure of one user's data on the emulator: every version of every archive and feedback object,
and the dead-letter queue; and the alert webhook URL read from Secrets Manager at run time."""

import gzip
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from contracts.audit import AuditKind
from contracts.policy import PolicyBook
from contracts.strikes import Strike, StrikeSource
from infra.localstack import is_ready
from monitoring.__main__ import main
from monitoring.archive import read_archive, read_feedback
from monitoring.settings import MonitoringSettings
from review.core import item_of
from review.store import ReviewStore, ensure_table
from runtime import aws
from runtime.audit import read_trail
from runtime.stack import Stack
from strikes.store import StrikeStore
from strikes.store import ensure_table as ensure_strikes_table
from tests.builders import archive_body, archived, dead_letter, flagged

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

USER = "user-00042"
NOW = datetime.now(UTC)


def _decision(message_id: object) -> str:
    return json.dumps(
        {
            "message_id": str(message_id),
            "label": "remove",
            "decided_by": "mod-1",
            "decided_at": NOW.isoformat(),
        }
    )


def _all_versions(s3: "S3Client", bucket: str) -> list[bytes]:
    """The bytes of every version of every object in the bucket (decompressed where gzip'd)."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            out.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
    return out


def test_erase_removes_the_user_everywhere_and_nothing_else(
    endpoint_url: str,
    moto_endpoint: str,
    fresh_stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    s3 = aws.client("s3", endpoint_url)
    sqs = aws.client("sqs", endpoint_url)
    bucket = fresh_stack.archive_bucket.name
    archive, feedback = fresh_stack.archive_bucket.archive_prefix, fresh_stack.archive_bucket.feedback_prefix
    queue_url = sqs.get_queue_url(QueueName=fresh_stack.dead_letter_queue.name)["QueueUrl"]
    # GIVEN the user's messages in a mixed object (written twice: an older version holds them too),
    # in an object of their own, and none in a third; feedback on two of their messages; dead letters
    mine = [archived(USER, f"private words number {i}", seq=i) for i in range(3)]
    others = [archived("user-00007", "someone else", seq=10), archived("user-000420", "a longer id", seq=11)]
    mixed = f"{archive}dt=2026-11-25/hour=12/shardId-000000000000-0-10.jsonl.gz"
    for _ in range(2):  # a retried batch: the same key written again
        s3.put_object(Bucket=bucket, Key=mixed, Body=archive_body([mine[0], others[0]]))
    s3.put_object(
        Bucket=bucket, Key=f"{archive}dt=2026-11-25/hour=12/b.jsonl.gz", Body=archive_body(mine[1:])
    )
    s3.put_object(
        Bucket=bucket, Key=f"{archive}dt=2026-11-25/hour=13/c.jsonl.gz", Body=archive_body(others[1:])
    )
    ids = [m.message.message_id for m in mine]
    fb_mixed = f"{feedback}dt=2026-11-25/hour=12/a.jsonl"
    s3.put_object(
        Bucket=bucket,
        Key=fb_mixed,
        Body=f"{_decision(ids[0])}\n{_decision(others[0].message.message_id)}\n".encode(),
    )
    s3.put_object(
        Bucket=bucket, Key=f"{feedback}dt=2026-11-25/hour=12/b.jsonl", Body=f"{_decision(ids[2])}\n".encode()
    )
    payload = {"message_id": str(uuid4()), "channel_id": "c1", "sent_at": NOW.isoformat(), "colour": "x"}
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=dead_letter(
            json.dumps({**payload, "user_id": USER, "text": "private dead letter"}).encode()
        ),
    )
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=dead_letter(json.dumps({**payload, "user_id": "user-00007", "text": "t"}).encode()),
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody=dead_letter(b"\x00 not json"))
    # and in the moderators' queue (DynamoDB: moto's server beside LocalStack), two of their flagged
    # messages and someone else's
    dynamodb = aws.client("dynamodb", moto_endpoint)
    ensure_table(dynamodb, fresh_stack.review_table.name)
    queue = ReviewStore(dynamodb, fresh_stack.review_table.name)
    theirs = [flagged(f"private words queued {i}", user=USER) for i in range(2)]
    for line in [*theirs, flagged("someone else queued", user="user-00007")]:
        made = item_of(line, PolicyBook(), NOW)
        assert made is not None
        queue.enqueue(*made)
    # and the strikes table: their strikes in two channels, a clearing, and someone else's strike
    ensure_strikes_table(dynamodb, fresh_stack.strikes_table.name)
    strikes = StrikeStore(dynamodb, fresh_stack.strikes_table.name)
    for channel, user in (("c1", USER), ("c2", USER), ("c1", "user-00007")):
        strikes.add(
            Strike(
                key=f"msg#{uuid4()}",
                channel_id=channel,
                user_id=user,
                at=NOW,
                weight=0.5,
                source=StrikeSource.MODEL,
            )
        )
    strikes.clear("c1", USER, "mod-1", NOW)
    for var, value in {
        "MONITORING_STRIKES_TABLE": fresh_stack.strikes_table.name,
        "MONITORING_AWS_ENDPOINT_URL": endpoint_url,
        "MONITORING_DYNAMODB_ENDPOINT_URL": moto_endpoint,
        "MONITORING_REVIEW_TABLE": fresh_stack.review_table.name,
        "MONITORING_ARCHIVE_BUCKET": bucket,
        "MONITORING_DEAD_LETTER_QUEUE": fresh_stack.dead_letter_queue.name,
        "MONITORING_AUDIT_BUCKET": fresh_stack.audit_bucket.name,
    }.items():
        monkeypatch.setenv(var, value)
    before = _all_versions(s3, bucket)

    # WHEN a dry run is asked for THEN it reports the erasure and changes nothing
    assert main(["erase", "--user", USER, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True
    assert dry["archive"]["records_removed"] == 3
    assert dry["review_items"] == 2
    assert dry["strikes"] == 3
    assert queue.get(theirs[0].message.message_id) is not None
    assert sorted(_all_versions(s3, bucket)) == sorted(before)
    visible = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert visible["Attributes"]["ApproximateNumberOfMessages"] == "3"  # released at once, not in 5 minutes

    # WHEN the user is erased
    assert main(["erase", "--user", USER]) == 0
    report = json.loads(capsys.readouterr().out)
    # THEN the report counts what was done
    assert report["message_ids_found"] == 3
    assert report["archive"] == {
        "objects_scanned": 3,
        "older_versions_scanned": 1,
        "objects_rewritten": 1,
        "objects_deleted": 1,
        "records_removed": 3,
        "versions_purged": 3,  # the mixed object's two versions and the user's own object
        "unreadable_objects": 0,
        "unparsed_lines": 0,
    }
    assert report["review_items"] == 2
    assert all(queue.get(t.message.message_id) is None for t in theirs)
    assert report["strikes"] == 3
    assert strikes.of_user("c1", USER) == ([], None)
    assert strikes.of_user("c2", USER) == ([], None)
    assert len(strikes.of_user("c1", "user-00007")[0]) == 1
    # AND the erasure is in the audit trail, naming the user by a hash alone
    (erasure,) = read_trail(s3, fresh_stack.audit_bucket.name, fresh_stack.audit_bucket.prefix).records()
    assert (erasure.kind, erasure.actor, erasure.reason) == (AuditKind.ERASURE, "operator", "complete")
    assert USER not in erasure.model_dump_json()
    assert queue.stats("c1").open == 1  # someone else's item stays
    assert report["feedback"]["objects_rewritten"] == 1
    assert report["feedback"]["objects_deleted"] == 1
    assert report["feedback"]["records_removed"] == 2
    assert report["dead_letters"] == {
        "scanned": 3,
        "matched": 1,
        "removed": 1,
        "unattributable": 1,
        "in_flight_not_scanned": 0,
    }
    assert report["complete"] is True
    # AND no version of any object mentions the user or their words any more
    for body in _all_versions(s3, bucket):
        assert f'"{USER}"'.encode() not in body
        assert b"private words" not in body
        assert not any(str(i).encode() in body for i in ids)
    # AND everybody else's data is still there, readable as before
    window = read_archive(s3, bucket, archive)
    assert sorted(m.message.user_id for m in window.messages) == ["user-00007", "user-000420"]
    assert [str(d.message_id) for d in read_feedback(s3, bucket, feedback).decisions] == [
        str(others[0].message.message_id)
    ]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "2"
    # AND no message text was logged
    assert "private" not in caplog.text
    assert "erasure_object" in caplog.text

    # WHEN it runs again THEN there is nothing left to erase
    assert main(["erase", "--user", USER]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["archive"]["records_removed"] == again["feedback"]["records_removed"] == 0
    assert again["dead_letters"]["matched"] == 0
    assert again["review_items"] == 0
    assert again["strikes"] == 0


def test_the_alert_webhook_url_is_read_from_secrets_manager_at_run_time(endpoint_url: str) -> None:
    if not is_ready(endpoint_url, "secretsmanager"):
        pytest.fail(f"Secrets Manager is not served at {endpoint_url} (infra.localstack starts it)")
    sm = aws.client("secretsmanager", endpoint_url)
    plain, as_json = f"alert-webhook-{uuid4().hex[:8]}", f"alert-webhook-json-{uuid4().hex[:8]}"
    hook = "https://hooks.example.test/services/T0/B0/plain"  # pragma: allowlist secret
    sm.create_secret(Name=plain, SecretString=hook)
    sm.create_secret(Name=as_json, SecretString=json.dumps({"url": "https://hooks.example.test/json"}))
    ep = endpoint_url
    # a secret holding the URL, or JSON with a `url` key, read when first needed (settings load offline)
    settings = MonitoringSettings(aws_endpoint_url=ep, webhook_secret_id=plain)
    later = "https://hooks.example.test/services/T0/B0/later"  # pragma: allowlist secret
    sm.put_secret_value(SecretId=plain, SecretString=later)
    assert settings.webhook() == "https://hooks.example.test/services/T0/B0/later"
    assert "hooks.example.test" not in repr(settings)  # never printed with the settings
    assert MonitoringSettings(aws_endpoint_url=ep, webhook_secret_id=as_json).webhook() == (
        "https://hooks.example.test/json"
    )
    # an explicit URL wins; a secret that does not exist leaves alerts log-only instead of failing
    explicit = MonitoringSettings(
        aws_endpoint_url=ep, webhook_secret_id=plain, webhook_url="https://other.test/hook"
    )
    assert explicit.webhook() == "https://other.test/hook"
    assert MonitoringSettings(aws_endpoint_url=ep, webhook_secret_id="no-such-secret").webhook() is None
    # and building the settings never calls the network, even with an unreachable endpoint
    offline = MonitoringSettings(aws_endpoint_url="http://127.0.0.1:9", webhook_secret_id=plain)
    assert offline.webhook_secret_id == plain
