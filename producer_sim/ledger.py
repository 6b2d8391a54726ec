"""The ledger of a run: where every published record ended (a verdict, a dead letter, both, neither),
reconciled from what the chat servers delivered and what came back. Pure: the caller reads the
streams and queues."""

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from contracts.dead_letter import DeadLetter
from contracts.on_failure import KinesisBatchInfo
from contracts.verdict import Verdict
from producer_sim.replay import OutgoingRecord
from runtime.kinesis import Delivered

type RecordKey = tuple[str, str]  # (shard id, sequence number): a record's place in the input stream


class Ledger(BaseModel):
    """Counts of published records by outcome; a run balances when `missing` and `with_both` are 0."""

    model_config = ConfigDict(frozen=True)

    published: int  # distinct records the input stream accepted
    poison: int  # of which malformed on purpose (they must be dead-lettered)
    with_verdict: int  # published records with a verdict
    dead_lettered: int  # published records with a dead letter
    with_both: int  # records with a verdict and a dead letter
    missing: int  # published records with neither
    discarded: int  # published records inside a batch of the on-failure queue
    verdicts_for_poison: int  # poison records that got a verdict
    valid_dead_lettered: int  # well-formed messages that got a dead letter
    unpublished_verdicts: int  # records nobody published that have a verdict
    unpublished_dead_letters: int  # records nobody published that have a dead letter
    mismatched_verdicts: int  # verdicts naming another message than the one published at their record
    verdict_records: int  # verdict records read back, redeliveries included
    redelivered_verdicts: int  # verdict records beyond the first of their record (at-least-once)
    judged_messages: int  # distinct message ids with a verdict
    dead_letter_messages: int  # dead-letter queue messages, redeliveries included
    redelivered_dead_letters: int  # dead-letter messages beyond the first of their record
    retries_exhausted: int  # entries in the on-failure queue (each one a discarded batch)

    @property
    def valid(self) -> int:
        """Published well-formed messages (each must get a verdict)."""
        return self.published - self.poison


def reconcile(
    published: Iterable[Delivered[OutgoingRecord]],
    verdicts: Sequence[Verdict],
    dead_letters: Sequence[DeadLetter],
    discarded: Sequence[KinesisBatchInfo] = (),
) -> Ledger:
    """Count where every published record ended, matching outcomes to records by shard and sequence."""
    sent = {(d.shard_id, d.sequence_number): d.entry for d in published}
    poison = {key for key, entry in sent.items() if entry.malformed is not None}
    judged = {(v.shard_id, v.sequence_number) for v in verdicts}
    dead = {(d.shard_id, d.sequence_number) for d in dead_letters}
    keys = sent.keys()
    return Ledger(
        published=len(sent),
        poison=len(poison),
        with_verdict=len(keys & judged),
        dead_lettered=len(keys & dead),
        with_both=len(judged & dead),
        missing=len(keys - judged - dead),
        discarded=sum(any(batch.covers(*key) for batch in discarded) for key in keys),
        verdicts_for_poison=len(poison & judged),
        valid_dead_lettered=len((keys - poison) & dead),
        unpublished_verdicts=len(judged - keys),
        unpublished_dead_letters=len(dead - keys),
        mismatched_verdicts=sum(
            (v.shard_id, v.sequence_number) in sent
            and sent[v.shard_id, v.sequence_number].message_id != v.message_id
            for v in verdicts
        ),
        verdict_records=len(verdicts),
        redelivered_verdicts=len(verdicts) - len(judged),
        judged_messages=len({v.message_id for v in verdicts}),
        dead_letter_messages=len(dead_letters),
        redelivered_dead_letters=len(dead_letters) - len(dead),
        retries_exhausted=len(discarded),
    )
