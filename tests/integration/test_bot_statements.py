"""The bot's statements of reasons on a real Kinesis and S3 (moto's server): one statement per message
the model hid, written beside the feedback before the checkpoint, with the channel's appeal window
read from the policy in the models bucket; a bot that lost its memory and reads the stream again
rewrites the same objects instead of adding statements."""

import uuid
from pathlib import Path

import pytest

from contracts.policy import ChannelPolicy, PolicyBook, ReviewPolicy
from contracts.statement import StatementOfReasons
from contracts.verdict import Action, Verdict
from monitoring.audit import message_story
from producer_sim.bot import Bot
from runtime import aws
from runtime.audit import AuditLog, read_trail, verify_trail
from runtime.policies import PolicySource
from runtime.retry import poll_until
from tests.builders import verdict

pytestmark = pytest.mark.integration

PREFIX = "statements/"


def _statements(endpoint: str, bucket: str) -> tuple[list[str], list[StatementOfReasons]]:
    s3 = aws.client("s3", endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])]
    lines = [
        line
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    return keys, [StatementOfReasons.model_validate_json(line) for line in lines]


def _bot(endpoint: str, stream: str, bucket: str, state_dir: Path, audit: AuditLog | None = None) -> Bot:
    s3 = aws.client("s3", endpoint)
    return Bot(
        aws.client("kinesis", endpoint),
        s3,
        stream,
        bucket,
        "feedback/",
        state_dir / "truth.jsonl",
        state_dir,
        review_share=0.0,
        sample_share=0.0,
        moderators=1,
        statements_prefix=PREFIX,
        policies=PolicySource(s3, bucket, "policy.json"),
        appeal_url="https://chat.example/moderation",
        audit=audit,
    )


def _stream(endpoint: str, verdicts: list[Verdict]) -> tuple[str, str]:
    """A fresh verdicts stream holding `verdicts` and a fresh bucket: their names."""
    tag = uuid.uuid4().hex[:8]
    stream, bucket = f"verdicts-{tag}", f"archive-{tag}"
    kinesis, s3 = aws.client("kinesis", endpoint), aws.client("s3", endpoint)
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    poll_until(
        lambda: (
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"]
            == "ACTIVE"
        ),
        30,
        "the stream active",
    )
    s3.create_bucket(Bucket=bucket)
    for v in verdicts:
        kinesis.put_record(StreamName=stream, Data=v.model_dump_json().encode(), PartitionKey=v.channel_id)
    return stream, bucket


def test_each_hidden_message_gets_one_statement_however_often_the_stream_is_read(
    moto_endpoint: str, tmp_path: Path
) -> None:
    # GIVEN a verdicts stream with two removals (one in a channel that gives a year to appeal) and an
    # allow, and the channel policies in the bucket
    hidden = [verdict(Action.REMOVE, channel="slow"), verdict(Action.REMOVE, channel="c")]
    stream, bucket = _stream(moto_endpoint, [*hidden, verdict(Action.ALLOW)])
    book = PolicyBook(channels={"slow": ChannelPolicy(review=ReviewPolicy(appeal_window_days=365))})
    aws.client("s3", moto_endpoint).put_object(Bucket=bucket, Key="policy.json", Body=book.model_dump_json())
    # WHEN the bot reads it
    bot = _bot(moto_endpoint, stream, bucket, tmp_path / "first")
    assert bot.poll() == 3
    # THEN each removal has one statement, with its channel's appeal window
    keys, made = _statements(moto_endpoint, bucket)
    assert sorted(s.message_id for s in made) == sorted(v.message_id for v in hidden)
    windows = {s.channel_id: (s.appeal_until - s.applied_at).days for s in made}
    assert windows == {"slow": 365, "c": 183}
    assert bot.state.counts["statements"] == 2
    # WHEN a bot that lost its memory reads the whole stream again
    again = _bot(moto_endpoint, stream, bucket, tmp_path / "second")
    assert again.poll() == 3
    # THEN it rewrote the same object: still one statement per hidden message
    keys_again, made_again = _statements(moto_endpoint, bucket)
    assert keys_again == keys
    assert made_again == made


def test_the_bots_actions_are_in_the_audit_trail_once_however_often_the_stream_is_read(
    moto_endpoint: str, tmp_path: Path
) -> None:
    # GIVEN a removal, a review and an allow on the verdicts stream
    removed, queued = verdict(Action.REMOVE, channel="c"), verdict(Action.REVIEW, channel="c")
    stream, bucket = _stream(moto_endpoint, [removed, queued, verdict(Action.ALLOW)])
    s3 = aws.client("s3", moto_endpoint)
    # WHEN the bot reads it, and a bot that lost its memory reads it all again
    assert (
        _bot(moto_endpoint, stream, bucket, tmp_path / "1", AuditLog(s3, bucket, "audit/", "bot")).poll() == 3
    )
    assert (
        _bot(moto_endpoint, stream, bucket, tmp_path / "2", AuditLog(s3, bucket, "audit/", "bot")).poll() == 3
    )
    # THEN the chain is intact and each message's story tells one action of the bot's: nothing for the allow
    trail = read_trail(s3, bucket, "audit/")
    assert verify_trail(trail) == []
    assert len(trail.records()) == 4  # written twice: the same two events
    assert [s.kind for s in message_story(trail, [], removed.message_id)] == ["hide"]
    assert [s.kind for s in message_story(trail, [], queued.message_id)] == ["queue"]
