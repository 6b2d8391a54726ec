"""The audit trail on moto's S3: chains that go on after a restart and survive a second writer of the
same name, `python -m monitoring audit --verify` finding a planted edit, deletion and reordering, and a
message's story from its arrival to its restoration."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from contracts.audit import AuditEvent, AuditKind
from contracts.verdict import Action
from monitoring.__main__ import main
from monitoring.archive import read_archive
from monitoring.audit import message_story, model_life
from runtime import aws
from runtime.audit import AuditLog, TrailReader, read_trail, verify_trail
from tests.builders import archive_body, flagged

pytestmark = pytest.mark.integration

PREFIX = "audit/"
AT = datetime.now(UTC)


def _bucket(endpoint: str) -> str:
    bucket = f"audit-{uuid.uuid4().hex[:8]}"
    aws.client("s3", endpoint).create_bucket(Bucket=bucket)
    return bucket


def _event(i: int, kind: AuditKind = AuditKind.HIDE, message: uuid.UUID | None = None) -> AuditEvent:
    return AuditEvent(
        kind=kind, actor="bot", at=AT + timedelta(seconds=i), message_id=message or uuid.uuid4()
    )


def test_a_restarted_writer_and_a_second_writer_of_the_same_name_extend_one_intact_chain(
    moto_endpoint: str,
) -> None:
    s3, bucket = aws.client("s3", moto_endpoint), _bucket(moto_endpoint)
    first = AuditLog(s3, bucket, PREFIX, "bot")
    first.append([_event(0), _event(1)], AT)
    restarted = AuditLog(s3, bucket, PREFIX, "bot")  # a new process: the head is read back from S3
    assert [r.seq for r in restarted.append([_event(2)], AT)] == [2]
    # the first writer's head is stale now: its segment at seq 2 is refused, and it goes on after 2
    assert [r.seq for r in first.append([_event(3)], AT)] == [3]
    trail = read_trail(s3, bucket, PREFIX)
    (chain,) = trail.chains.values()
    assert [r.seq for r in chain] == [0, 1, 2, 3]
    assert verify_trail(trail) == []


def test_verify_finds_a_planted_edit_deletion_and_reordering(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s3, bucket = aws.client("s3", moto_endpoint), _bucket(moto_endpoint)
    log = AuditLog(s3, bucket, PREFIX, "review")
    for i in range(4):
        log.append([_event(2 * i), _event(2 * i + 1)], AT)
    monkeypatch.setenv("MONITORING_AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("MONITORING_AUDIT_BUCKET", bucket)
    assert main(["audit", "--verify"]) == 0
    assert "1 chains, 8 records: intact" in capsys.readouterr().out
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    original = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}

    def planted(key: str, body: bytes | None) -> list[str]:
        if body is None:
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert main(["audit", "--verify"]) == 1
        out = capsys.readouterr().out
        s3.put_object(Bucket=bucket, Key=key, Body=original[key])  # put back for the next plant
        return out.splitlines()

    lines = original[keys[1]].splitlines()
    edited = json.loads(lines[0]) | {"actor": "someone-else"}
    assert any(
        "edited" in p for p in planted(keys[1], json.dumps(edited).encode() + b"\n" + lines[1] + b"\n")
    )
    assert any("expected seq 4" in p for p in planted(keys[2], None))
    assert any("does not follow" in p for p in planted(keys[1], lines[1] + b"\n" + lines[0] + b"\n"))
    assert main(["audit", "--verify"]) == 0  # everything put back: intact again


def test_a_messages_story_runs_from_arrival_to_restoration(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s3, bucket = aws.client("s3", moto_endpoint), _bucket(moto_endpoint)
    line = flagged("you fool", Action.REMOVE)
    mid, version = line.message.message_id, line.verdict.model_version
    s3.put_object(Bucket=bucket, Key="archive/dt=x/batch.jsonl.gz", Body=archive_body([line]))
    at = line.verdict.processed_at
    bot, review = AuditLog(s3, bucket, PREFIX, "bot"), AuditLog(s3, bucket, PREFIX, "review")
    hide = AuditEvent(
        kind=AuditKind.HIDE, actor="bot", at=at + timedelta(seconds=1), message_id=mid, model_version=version
    )
    bot.append([hide], at)
    bot.append([hide], at)  # a retried batch writes the same event again: the story tells it once
    review.append(
        [
            AuditEvent(
                kind=AuditKind.APPEAL,
                actor="user",
                at=at + timedelta(days=1),
                message_id=mid,
                refs={"restricted_by": f"model:{version}"},
            ),
            AuditEvent(
                kind=AuditKind.DECISION,
                actor="carol",
                at=at + timedelta(days=2),
                message_id=mid,
                reason="allow toxicity",
            ),
        ],
        at,
    )
    bot.append(
        [
            AuditEvent(
                kind=AuditKind.RESTORE, actor="bot", at=at + timedelta(days=2, seconds=5), message_id=mid
            )
        ],
        at,
    )
    trail = read_trail(s3, bucket, PREFIX)
    assert verify_trail(trail) == []
    archived = read_archive(s3, bucket, "archive/").messages
    story = [s.kind for s in message_story(trail, archived, mid)]
    assert story == ["arrival", "verdict", "hide", "appeal", "decision", "restore"]
    life = [s.kind for s in model_life(trail, archived, version)]
    assert life == ["served", "hide", "appeal"]
    monkeypatch.setenv("MONITORING_AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("MONITORING_AUDIT_BUCKET", bucket)
    monkeypatch.setenv("MONITORING_ARCHIVE_BUCKET", bucket)
    monkeypatch.setenv("MONITORING_ARCHIVE_PREFIX", "archive/")
    assert main(["audit", "--message", str(mid)]) == 0
    printed = capsys.readouterr().out
    assert [line.split()[1] for line in printed.splitlines()] == story
    assert "you fool" not in printed  # ids and versions, never the text


def test_a_web_apps_threads_appending_at_once_extend_one_intact_chain(moto_endpoint: str) -> None:
    # GIVEN one writer shared by a web app's request threads (each claim appends a record)
    s3, bucket = aws.client("s3", moto_endpoint), _bucket(moto_endpoint)
    log = AuditLog(s3, bucket, PREFIX, "review-app")
    now = datetime.now(UTC)
    events = [_event(i) for i in range(20)]
    # WHEN twenty threads append at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        written = list(pool.map(lambda e: log.append([e], now), events))
    # THEN every append got back the record of its own event, and all of them are one intact chain
    assert [[r.message_id for r in records] for records in written] == [[e.message_id] for e in events]
    trail = read_trail(s3, bucket, PREFIX)
    assert verify_trail(trail) == []
    assert sorted(r.seq for r in trail.records()) == list(range(20))
    # AND the appends that waited while another was written went out together: fewer writes than appends
    segments = s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX)["KeyCount"]
    assert segments < 20, segments


def test_a_reader_that_read_a_chain_before_finds_a_record_deleted_from_what_it_had_checked(
    moto_endpoint: str,
) -> None:
    s3, bucket = aws.client("s3", moto_endpoint), _bucket(moto_endpoint)
    log, reader, mid = AuditLog(s3, bucket, PREFIX, "bot"), TrailReader(s3, bucket, PREFIX), uuid.uuid4()
    for i in range(4):  # four segments, one record each: seq 0 (the message's) to 3
        log.append([_event(i, message=mid if i == 0 else None)], AT)
    day = AT.date()
    seen = reader.message(mid, [day])
    assert ([r.seq for r in seen.records], seen.problems, seen.days) == ([0], [], [day])

    def segment(seq: int) -> str:
        return f"{PREFIX}dt={day.isoformat()}/bot/{seq:012d}.jsonl"

    # a checked record deleted: the chain is shorter than what was checked, and is checked again whole
    s3.delete_object(Bucket=bucket, Key=segment(2))
    assert reader.message(mid, [day]).problems == [
        f"bot {day.isoformat()} seq 3: expected seq 2 (a record deleted or moved)",
        f"bot {day.isoformat()} seq 3: does not follow the record before it (deleted, reordered or edited)",
    ]
    # and when records were added since, as many as were deleted: the last one checked is not where it was
    s3.delete_object(Bucket=bucket, Key=segment(1))
    log.append([_event(4)], AT)
    log.append([_event(5)], AT)
    problems = reader.message(mid, [day]).problems
    assert f"bot {day.isoformat()} seq 3: expected seq 1 (a record deleted or moved)" in problems
