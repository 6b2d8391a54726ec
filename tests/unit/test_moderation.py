"""The consumer's pure core: every poison kind gets its reason, rules run before the model, and
whatever cannot be written is reported for retry."""

import json
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.dead_letter import DETAIL_CAP, DeadLetter, RejectReason
from contracts.lambda_event import EventError, KinesisRecord, read_event
from contracts.policy import ChannelPolicy, PolicyBook, Thresholds
from contracts.verdict import Action
from stream_consumer.consumer import Consumer
from stream_consumer.moderation import Champion, ModerationOptions, NoModelError, action_for, moderate, parse
from stream_consumer.normalize import normal_form
from stream_consumer.policy import rules
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink
from tests.builders import lambda_record, message
from tests.fakes import KeywordScorer

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
Record = Callable[..., KinesisRecord]


def champion(calls: list[int] | None = None) -> Champion:
    return Champion("chat-moderation", "7", KeywordScorer(calls=calls))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.NOT_JSON),
        (b"\xff\xfe\x00garbage", RejectReason.NOT_UTF8),
        (b'["a", "list"]', RejectReason.WRONG_SCHEMA),
        (message(sent_at="yesterday"), RejectReason.WRONG_SCHEMA),
        (message(message_id="not-a-uuid"), RejectReason.WRONG_SCHEMA),
        (message(text=""), RejectReason.EMPTY_TEXT),
        (message(text="x" * 10_001), RejectReason.TEXT_TOO_LONG),
        (message(reply_to="m-1"), RejectReason.UNKNOWN_FIELD),
    ],
)
def test_every_poison_kind_gets_its_reason(
    kinesis_record: Record, payload: bytes, reason: RejectReason
) -> None:
    # GIVEN a record whose payload can never be moderated
    record = kinesis_record(payload)
    # WHEN it is parsed
    result = parse(record, NOW, payload_cap=1024)
    # THEN it is a dead letter with the reason, the record's coordinates and its (capped) payload
    assert isinstance(result, DeadLetter)
    assert result.reason is reason
    assert (result.sequence_number, result.shard_id) == (record.sequence_number, "shardId-000000000000")
    assert result.payload_b64 == record.kinesis.data[:1024]
    assert result.payload_truncated is (len(record.kinesis.data) > 1024)


def test_bad_base64_is_dead_lettered() -> None:
    raw = lambda_record(b"ok")
    raw["kinesis"]["data"] = "%%% not base64 %%%"
    record = KinesisRecord.model_validate(raw)
    result = parse(record, NOW, 1024)
    assert isinstance(result, DeadLetter)
    assert result.reason is RejectReason.BAD_BASE64


def test_dead_letter_detail_never_quotes_the_text(kinesis_record: Record) -> None:
    secret = "my very private words " * 600  # too long  # pragma: allowlist secret
    result = parse(kinesis_record(message(text=secret)), NOW, 1024)
    assert isinstance(result, DeadLetter)
    assert "private" not in result.detail


def test_a_field_outside_the_schema_is_never_named_and_a_detail_is_capped(kinesis_record: Record) -> None:
    # GIVEN a message with an unknown field whose name is the sender's words, 900 KB of them
    name = "please read my words " * 45_000
    extra: dict[str, Any] = {name: 1, "reply_to": "m-1"}
    result = parse(kinesis_record(message(**extra)), NOW, 1024)
    # THEN the reason says so, the detail names neither field and stays short, and the dead letter is
    # far under a queue message's limit (SQS refuses more than 256 KiB: the shard would stall)
    assert isinstance(result, DeadLetter)
    assert result.reason is RejectReason.UNKNOWN_FIELD
    assert "words" not in result.detail
    assert "reply_to" not in result.detail
    assert "outside the schema" in result.detail
    assert len(result.detail) <= DETAIL_CAP
    assert len(result.model_dump_json()) < 4_096


def test_every_dead_letters_detail_is_capped_whatever_wrote_it(kinesis_record: Record) -> None:
    # a detail from any path (an envelope's field, a reason's own text) keeps the queue message small
    letter = DeadLetter.of(kinesis_record(b"x"), RejectReason.NOT_JSON, "d" * 100_000, NOW, 1024)
    assert len(letter.detail) == DETAIL_CAP


def test_invisible_only_text_is_empty_after_normalisation(kinesis_record: Record) -> None:
    out = moderate([kinesis_record(message(text="\u200b \u200d\t"))], champion(), PolicyBook(), NOW)
    assert [r.dead_letter.reason for r in out.rejected] == [RejectReason.EMPTY_TEXT]


@pytest.mark.parametrize(
    ("score", "action"), [(0.1, Action.ALLOW), (0.5, Action.REVIEW), (0.9, Action.REMOVE)]
)
def test_thresholds_pick_the_action(score: float, action: Action) -> None:
    assert action_for(score, Thresholds(review=0.5, remove=0.85)) is action


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="above remove"):
        Thresholds(review=0.9, remove=0.5)


def test_the_whole_batch_is_scored_in_one_call(kinesis_record: Record) -> None:
    calls: list[int] = []
    records = [kinesis_record(message(f"comment number {i}")) for i in range(50)]
    moderate([*records, kinesis_record(b"{bad")], champion(calls), PolicyBook(), NOW)
    assert calls == [50]


def test_channel_rules_run_before_the_model(kinesis_record: Record) -> None:
    # GIVEN a channel that blocks a term and allows another, and a stricter threshold
    book = PolicyBook(
        channels={
            "gaming": ChannelPolicy(
                thresholds=Thresholds(review=0.3, remove=0.55),
                block_terms=("Sp4m Link",),
                allow_terms=("gg",),
            )
        }
    )
    records = [
        kinesis_record(message("click this spam link now", channel="gaming")),  # blocked (normalised term)
        kinesis_record(message("gg you idiot", channel="gaming")),  # "gg" is allowed, "you idiot" is not
        kinesis_record(message("GG gg!", channel="gaming")),  # nothing but allowed words
        kinesis_record(message("maybe", channel="gaming")),  # 0.6 >= 0.55: removed by the stricter policy
        kinesis_record(message("maybe", channel="science")),  # default policy: 0.6 is review
        kinesis_record(message("you idiot", channel="science")),  # model: remove
    ]
    out = moderate(records, champion(), book, NOW)
    got = [(m.verdict.action, m.verdict.policy, m.verdict.reasons) for m in out.moderated]
    assert got == [
        (Action.REMOVE, "gaming", ["rule:block:spam link"]),
        (Action.REMOVE, "gaming", ["idiot"]),
        (Action.ALLOW, "gaming", ["rule:allow:gg"]),
        (Action.REMOVE, "gaming", []),
        (Action.REVIEW, "default", []),
        (Action.REMOVE, "default", ["idiot"]),
    ]


def test_terms_match_whole_words_only() -> None:
    policy = ChannelPolicy(block_terms=("ass",))
    assert rules(policy, normal_form("a classic assessment")).block is None
    assert rules(policy, normal_form("what an ass!")).block is not None


def test_verdict_carries_everything_a_consumer_of_the_stream_needs(kinesis_record: Record) -> None:
    record = kinesis_record(message("you idiot"))
    verdict = moderate([record], champion(), PolicyBook(), NOW).moderated[0].verdict
    assert verdict.schema_version == 4
    assert (verdict.model_name, verdict.model_version) == ("chat-moderation", "7")
    assert verdict.score == pytest.approx(0.95)
    assert verdict.thresholds == Thresholds()
    assert verdict.sequence_number == record.sequence_number
    assert verdict.latency_ms >= 0
    assert json.loads(verdict.model_dump_json())["action"] == "remove"


def test_no_model_fails_the_batch_or_sends_everything_to_review(kinesis_record: Record) -> None:
    records = [kinesis_record(message("hello"))]
    with pytest.raises(NoModelError):
        moderate(records, None, PolicyBook(), NOW)
    out = moderate(records, None, PolicyBook(), NOW, ModerationOptions(without_model="review"))
    assert out.moderated[0].verdict.action is Action.REVIEW
    assert out.moderated[0].verdict.model_version == "none"


# --- the batch, through in-memory sinks ------------------------------------------------------


def consumer(
    verdicts: MemoryVerdictSink,
    dead: MemoryDeadLetterSink,
    archive: MemoryArchiveSink,
    model: Champion | None = None,
) -> Consumer:
    return Consumer(ConsumerSettings(), lambda: model or champion(), PolicyBook, verdicts, dead, archive)


def test_a_mixed_batch_is_fully_accounted_for(kinesis_record: Record) -> None:
    # GIVEN good messages and poison records in one batch
    good = [kinesis_record(message(f"note {i}")) for i in range(5)]
    bad = [kinesis_record(b"{nope"), kinesis_record(message(text=""))]
    verdicts, dead, archive = MemoryVerdictSink(), MemoryDeadLetterSink(), MemoryArchiveSink()
    # WHEN it is handled
    response = consumer(verdicts, dead, archive).handle([*good[:2], bad[0], *good[2:], bad[1]])
    # THEN every good record has a verdict, every poison one is dead-lettered, none is retried
    assert response == {"batchItemFailures": []}
    assert [m.record for m in verdicts.written] == good
    assert [r.record for r in dead.sent] == bad
    ((key, archived),) = archive.objects.items()
    assert [m.record for m in archived] == good
    assert key.startswith("archive/dt=")
    assert good[0].sequence_number in key


def test_verdicts_that_could_not_be_written_are_reported_for_retry(kinesis_record: Record) -> None:
    ok = kinesis_record(message("fine", channel="a"))
    stuck = kinesis_record(message("fine", channel="throttled"))
    verdicts = MemoryVerdictSink(fail_channels=frozenset({"throttled"}))
    archive = MemoryArchiveSink()
    c = consumer(verdicts, MemoryDeadLetterSink(), archive)
    response = c.handle([ok, stuck])
    assert response == {"batchItemFailures": [{"itemIdentifier": stuck.sequence_number}]}
    assert [m.record for objs in archive.objects.values() for m in objs] == [ok]
    # the verdict mix (totals and metrics) counts what was written; the retry counts the rest once
    assert sum(c.totals[a] for a in ("allow", "review", "remove")) == 1


def test_a_dead_letter_queue_outage_retries_the_poison_record(kinesis_record: Record) -> None:
    bad = kinesis_record(b"{nope")
    response = consumer(MemoryVerdictSink(), MemoryDeadLetterSink(refuse=True), MemoryArchiveSink()).handle(
        [bad]
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": bad.sequence_number}]}


def test_an_archive_outage_retries_the_whole_batch(kinesis_record: Record) -> None:
    records = [kinesis_record(message("fine")) for _ in range(3)]
    response = consumer(MemoryVerdictSink(), MemoryDeadLetterSink(), MemoryArchiveSink(broken=True)).handle(
        records
    )
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        r.sequence_number for r in records
    ]


def test_without_a_model_the_batch_is_retried(kinesis_record: Record) -> None:
    records = [kinesis_record(message("fine"))]
    c = Consumer(
        ConsumerSettings(),
        lambda: None,
        PolicyBook,
        MemoryVerdictSink(),
        MemoryDeadLetterSink(),
        MemoryArchiveSink(),
    )
    assert c.handle(records) == {"batchItemFailures": [{"itemIdentifier": records[0].sequence_number}]}


def test_events_with_extra_top_level_keys_are_accepted() -> None:
    event = {
        "Records": [lambda_record(message("hello"))],
        "window": {"start": "2026-11-25T12:00:00Z", "end": "2026-11-25T12:05:00Z"},
        "state": {},
        "shardId": "shardId-000000000000",
        "isFinalInvokeForWindow": False,
    }
    assert len(read_event(event)) == 1


def test_no_message_text_reaches_the_logs(kinesis_record: Record, caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a good message and a poison one, both holding a marker string
    secret = "zebra-quokka-secret"  # pragma: allowlist secret
    records = [
        kinesis_record(message(f"you idiot {secret}")),
        kinesis_record(message(text=f"{secret} " * 2000)),
    ]
    # WHEN the batch is handled
    with caplog.at_level("DEBUG"):
        consumer(MemoryVerdictSink(), MemoryDeadLetterSink(), MemoryArchiveSink()).handle(records)
    # THEN the canonical batch line and the dead-letter line were logged, without the text
    logged = "\n".join(str(r.msg) for r in caplog.records) + caplog.text
    assert "'event': 'batch'" in logged
    assert "'event': 'dead_letter'" in logged
    assert secret not in logged
    assert b64encode(secret.encode()).decode()[:12] not in logged


# --- hostile payloads and broken envelopes ------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"message_id": "x", "text": "hi", "text": "you idiot"}', RejectReason.AMBIGUOUS_JSON),
        (
            message(text="hi")[:-1] + b', "channel_id": "other"}',  # a second channel_id
            RejectReason.AMBIGUOUS_JSON,
        ),
        (message(sent_at="1999-12-31T23:59:59+00:00"), RejectReason.BAD_TIMESTAMP),
        (message(sent_at="2999-01-01T00:00:00+00:00"), RejectReason.BAD_TIMESTAMP),
        (message(text="\U000e0041\ufe0f\u2800\u200b" * 2500), RejectReason.EMPTY_TEXT),
        (b"[" * 100_000 + b"]" * 100_000, RejectReason.NOT_JSON),  # deeper than any parser recurses
    ],
)
def test_hostile_payloads_get_their_reason(
    kinesis_record: Record, payload: bytes, reason: RejectReason
) -> None:
    out = moderate([kinesis_record(payload)], champion(), PolicyBook(), NOW)
    assert [r.dead_letter.reason for r in out.rejected] == [reason]
    assert out.moderated == []


def test_a_sent_at_within_a_day_of_arrival_is_the_senders_business(kinesis_record: Record) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=13)  # a time-zone mistake
    out = moderate([kinesis_record(message(sent_at=ahead.isoformat()))], champion(), PolicyBook(), NOW)
    assert len(out.moderated) == 1


@pytest.mark.parametrize(
    ("breakage", "field"),
    [
        (lambda r: r.pop("eventID"), "eventID"),
        (lambda r: r["kinesis"].update(data=None), "kinesis.data"),
        (lambda r: r["kinesis"].pop("partitionKey"), "kinesis.partitionKey"),
        (
            lambda r: r["kinesis"].update(approximateArrivalTimestamp="soon"),
            "kinesis.approximateArrivalTimestamp",
        ),
    ],
)
def test_a_broken_envelope_is_dead_lettered_and_the_rest_is_judged(
    breakage: Callable[[dict[str, Any]], object], field: str
) -> None:
    # GIVEN a batch where one record's envelope is malformed but its sequence number is readable
    good = [lambda_record(message(f"note {i}")) for i in range(3)]
    broken = lambda_record(message("hello"))
    breakage(broken)
    event = {"Records": [good[0], broken, *good[1:]]}
    verdicts, dead = MemoryVerdictSink(), MemoryDeadLetterSink()
    # WHEN the event is read and handled
    response = consumer(verdicts, dead, MemoryArchiveSink()).handle(read_event(event))
    # THEN the broken record is a dead letter naming the field, the others get verdicts, nothing is retried
    assert response == {"batchItemFailures": []}
    assert len(verdicts.written) == 3
    (letter,) = [r.dead_letter for r in dead.sent]
    assert letter.reason is RejectReason.BAD_ENVELOPE
    assert field in letter.detail
    assert letter.sequence_number == broken["kinesis"]["sequenceNumber"]


@pytest.mark.parametrize(
    "broken",
    [{"kinesis": {}}, {"kinesis": {"sequenceNumber": None}}, "not a record", {"eventID": "shardId-0:1"}],
)
def test_a_record_without_a_readable_sequence_number_fails_the_event_loudly(broken: object) -> None:
    with pytest.raises(EventError, match="sequenceNumber"):
        read_event({"Records": [lambda_record(message("hello")), broken]})


def test_an_event_without_records_fails_loudly() -> None:
    with pytest.raises(EventError, match="Records"):
        read_event({"records": []})
