"""The ledger: every published record ends with a verdict or a dead letter, and the counts say so."""

from uuid import UUID, uuid4

from contracts.dead_letter import DeadLetter, RejectReason
from contracts.on_failure import KinesisBatchInfo, OnFailureRecord
from contracts.storage import GroundTruth
from contracts.verdict import Verdict
from local_esm.esm import Discard, StreamRecord, on_failure_record
from producer_sim.communities import Community
from producer_sim.ledger import reconcile
from producer_sim.replay import MalformedKind, OutgoingRecord
from runtime.kinesis import Delivered
from tests.builders import dead_letter, verdict

SHARD = "shardId-000000000000"


def sent(sequence: int, poison: bool = False, shard: str = SHARD) -> Delivered[OutgoingRecord]:
    """A record the input stream accepted: a chat message, or a poison record."""
    message_id = uuid4()
    truth = None if poison else GroundTruth(message_id=message_id, community=Community.TWEETS, label="allow")
    kind = MalformedKind.NOT_JSON if poison else None
    return Delivered(OutgoingRecord(b"{}", "channel-00", message_id, truth, kind), shard, str(sequence))


def verdict_for(record: Delivered[OutgoingRecord], message_id: UUID | None = None) -> Verdict:
    """The consumer's verdict on `record` (naming its message unless told otherwise)."""
    judged = verdict(message_id=message_id or record.entry.message_id, sequence_number=record.sequence_number)
    return judged.model_copy(update={"shard_id": record.shard_id})


def dead_letter_for(record: Delivered[OutgoingRecord]) -> DeadLetter:
    """The consumer's dead letter for `record`."""
    letter = DeadLetter.model_validate_json(dead_letter(b"{}", RejectReason.NOT_JSON))
    return letter.model_copy(update={"shard_id": record.shard_id, "sequence_number": record.sequence_number})


def discarded(*records: Delivered[OutgoingRecord]) -> KinesisBatchInfo:
    """The on-failure queue's message for a batch of `records` given up after its retries, as the
    event source mapping writes it."""
    batch = tuple(StreamRecord(r.sequence_number, "channel-00", b"{}", 0.0) for r in records)
    body = on_failure_record(
        Discard(batch, "RetryAttemptsExhausted", 6, "boom", raised=True),
        records[0].shard_id,
        "arn:s",
        "arn:f",
        0.0,
    )
    return OnFailureRecord.read(body.to_json()).batch


def test_every_record_with_exactly_one_outcome_balances() -> None:
    # GIVEN two messages with a verdict each and a poison record with a dead letter
    first, second, poison = sent(1), sent(2), sent(3, poison=True)
    # WHEN the ledger is reconciled
    ledger = reconcile(
        [first, second, poison], [verdict_for(first), verdict_for(second)], [dead_letter_for(poison)]
    )
    # THEN every record is accounted for once, and nothing is out of place
    assert (ledger.published, ledger.valid, ledger.poison) == (3, 2, 1)
    assert (ledger.with_verdict, ledger.dead_lettered, ledger.judged_messages) == (2, 1, 2)
    assert ledger.missing == ledger.with_both == ledger.retries_exhausted == ledger.discarded == 0
    assert ledger.verdicts_for_poison == ledger.valid_dead_lettered == ledger.mismatched_verdicts == 0
    assert ledger.unpublished_verdicts == ledger.unpublished_dead_letters == 0


def test_a_record_with_a_verdict_and_a_dead_letter_counts_as_both() -> None:
    # GIVEN a message that got a verdict and also a dead letter
    record = sent(1)
    # WHEN the ledger is reconciled
    ledger = reconcile([record], [verdict_for(record)], [dead_letter_for(record)])
    # THEN it is counted with both outcomes, and as a well-formed message dead-lettered
    assert ledger.with_both == 1
    assert (ledger.with_verdict, ledger.dead_lettered, ledger.missing) == (1, 1, 0)
    assert ledger.valid_dead_lettered == 1


def test_a_record_with_neither_outcome_is_missing() -> None:
    # GIVEN two messages, only one of which got a verdict
    judged, lost = sent(1), sent(2, shard="shardId-000000000001")
    # WHEN the ledger is reconciled
    ledger = reconcile([judged, lost], [verdict_for(judged)], [])
    # THEN the other one is missing
    assert ledger.missing == 1
    assert (ledger.published, ledger.with_verdict, ledger.dead_lettered) == (2, 1, 0)


def test_redelivered_verdict_records_count_once_per_record() -> None:
    # GIVEN a message whose verdict record was written three times (at-least-once), and one written once
    again, once = sent(1), sent(2)
    verdicts = [verdict_for(again), verdict_for(once), verdict_for(again), verdict_for(again)]
    # WHEN the ledger is reconciled
    ledger = reconcile([again, once], verdicts, [])
    # THEN both records have a verdict, and the two repeats are counted as redeliveries
    assert (ledger.verdict_records, ledger.with_verdict, ledger.judged_messages) == (4, 2, 2)
    assert ledger.redelivered_verdicts == 2
    assert ledger.missing == 0


def test_redelivered_dead_letters_count_once_per_record() -> None:
    # GIVEN a poison record whose dead letter reached the queue twice (SQS is at-least-once too)
    poison = sent(1, poison=True)
    # WHEN the ledger is reconciled
    ledger = reconcile([poison], [], [dead_letter_for(poison), dead_letter_for(poison)])
    # THEN it is one dead-lettered record and one redelivery
    assert (ledger.dead_letter_messages, ledger.dead_lettered, ledger.redelivered_dead_letters) == (2, 1, 1)


def test_records_of_a_batch_in_the_on_failure_queue_are_discarded_not_dead_lettered() -> None:
    # GIVEN a batch of two records the event source mapping gave up on, and a judged message of another
    # shard at the same sequence number
    first, last, judged = sent(2), sent(3), sent(2, shard="shardId-000000000001")
    # WHEN the ledger is reconciled with the on-failure queue's entry
    ledger = reconcile([judged, first, last], [verdict_for(judged)], [], [discarded(first, last)])
    # THEN one entry exhausted its retries, both of its records are discarded, and neither has an outcome
    assert ledger.retries_exhausted == 1
    assert ledger.discarded == 2
    assert (ledger.missing, ledger.dead_lettered) == (2, 0)


def test_outcomes_out_of_place_are_counted() -> None:
    # GIVEN a verdict on a poison record, a verdict naming another message, and outcomes for records
    # nobody published
    poison, message, stranger = sent(1, poison=True), sent(2), sent(3)
    verdicts = [verdict_for(poison), verdict_for(message, message_id=uuid4()), verdict_for(stranger)]
    # WHEN the ledger is reconciled
    ledger = reconcile([poison, message], verdicts, [dead_letter_for(stranger)])
    # THEN each misplacement has its own count
    assert ledger.verdicts_for_poison == 1
    assert ledger.mismatched_verdicts == 1
    assert (ledger.unpublished_verdicts, ledger.unpublished_dead_letters) == (1, 1)
    assert ledger.with_both == 1  # the stranger's verdict and dead letter
