"""The strikes writer: a consumer of its own, beside the classifier and never in its path. It follows
the `verdicts` stream from its own checkpoint (the model's removals, floods) and the feedback prefix
(the moderators' decisions), writes strikes (`strikes.store`, idempotent per message) and sends each
new strike's escalation to the `escalations` queue, which the bot applies.

Exactly once: a strike's key is what it punishes, and it is written (marked `escalated`) only after
its escalation was sent. A crash between the two sends the escalation again with the same id, which
the bot applies once; a crash before the checkpoint reads the records again, which add nothing. A strikes
outage (the table unreachable, throttled) leaves the checkpoint where it was, with a log line and a
metric, and the records are read again on the next pass: no escalation meanwhile, nothing lost, and
the classifier never waits for it.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import ValidationError

from contracts import metrics as emf
from contracts.policy import PolicyBook
from contracts.storage import ModeratorDecision
from contracts.strikes import Escalation, Strike
from contracts.verdict import Verdict
from runtime.checkpoints import CheckpointStore
from runtime.errors import AwsError, TransientError, aws_errors
from runtime.kinesis import resume_iterator
from runtime.logs import structured_logger
from runtime.objects import ReadKeys, list_keys
from runtime.progress import write_progress
from runtime.retry import idle_backoff
from strikes.core import decision_strike, escalation_of, strike_of
from strikes.store import StrikeStore

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

log = structured_logger("strikes")


class EscalationQueue:
    """The `escalations` queue: one SQS message per escalation, its id in the body, sent ten at a time."""

    def __init__(self, sqs: "SQSClient", queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, escalations: Sequence[Escalation]) -> None:
        """Send them all, or raise (`AwsError`): an entry the queue refused fails the call, and the
        batch is read again (the bot applies a repeated escalation once)."""
        for i in range(0, len(escalations), 10):
            chunk = escalations[i : i + 10]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(n), "MessageBody": e.model_dump_json()} for n, e in enumerate(chunk)
            ]
            with aws_errors("SendMessageBatch escalations"):
                failed = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries).get("Failed", [])
            if failed:
                raise TransientError("SendMessageBatch escalations", failed[0].get("Code", "Failed"))


def outage_metric() -> None:
    """One pass that met a strikes outage, as an EMF metric (alarmed in Terraform, `strikes.tf`); the
    failed call is in the log line beside it."""
    dimensions = {"service": emf.STRIKES_SERVICE}
    with single_metric(
        emf.STRIKES_UNAVAILABLE, MetricUnit.Count, 1.0, namespace=emf.NAMESPACE, default_dimensions=dimensions
    ):
        pass


@dataclass
class StrikeWriter:
    """Strikes and their escalations from verdicts and decisions (pure of where they were read)."""

    store: StrikeStore
    send: Callable[[Sequence[Escalation]], None]
    policies: Callable[[], PolicyBook]
    window_s: float
    counts: Counter[str]

    def verdicts(self, verdicts: Iterable[Verdict]) -> None:
        """Every model removal and flood among `verdicts` as a strike (once), escalated once.

        A batch reads each of its users' strikes once, sends its escalations, and only then writes its
        new strikes (each marked as escalated, where none is yet): a crash in between sends the same
        escalations again when the batch is read again, which the bot applies once, and a strike that
        exists is never escalated again."""
        book = self.policies()
        users: dict[tuple[str, str], tuple[list[Strike], datetime | None]] = {}
        new: list[Strike] = []
        unmarked: list[Strike] = []  # a moderator's, written by a pass that stopped before escalating it
        escalations: list[Escalation] = []
        for verdict in verdicts:
            strike = strike_of(verdict, book, self.window_s)
            if strike is None:
                continue
            user = (strike.channel_id, strike.user_id)
            if user not in users:
                users[user] = self.store.of_user(*user)
            strikes, cleared = users[user]
            there = next((s for s in strikes if s.key == strike.key), None)
            if there is not None:
                self.counts["strikes_present"] += 1
                if there.escalated or there.weight <= 0:
                    continue
                unmarked.append(there)
                strike = there
            else:
                strike = strike.model_copy(update={"escalated": True})
                strikes.append(strike)
                new.append(strike)
            if (escalation := escalation_of(strike, strikes, book, cleared)) is not None:
                escalations.append(escalation)
        self._send(escalations)
        for strike in new:
            if self.store.add(strike) is None:
                self.counts[f"strikes_{strike.source}"] += 1
            else:
                self.counts["strikes_present"] += 1
        for strike in unmarked:
            self.store.mark_escalated(strike)

    def decisions(self, decisions: Iterable[ModeratorDecision]) -> None:
        """Every moderator decision as its message's strike (the latest decision wins): a removal
        confirmed or newly made, or a strike taken back."""
        book = self.policies()
        for decision in decisions:
            strike = decision_strike(decision, book)
            if strike is None:
                self.counts["decisions_without_author"] += 1
                continue
            applied, before = self.store.decide(strike)
            if not applied:
                self.counts["decisions_superseded"] += 1
                continue
            self.counts[f"strikes_{strike.source}"] += 1
            if (before is not None and before.escalated) or strike.weight <= 0:
                continue  # escalated when it was first made, or taken back
            strikes, cleared = self.store.of_user(strike.channel_id, strike.user_id)
            if (escalation := escalation_of(strike, strikes, book, cleared)) is not None:
                self._send([escalation])
            self.store.mark_escalated(strike)

    def _send(self, escalations: Sequence[Escalation]) -> None:
        if not escalations:
            return
        self.send(escalations)
        for e in escalations:
            self.counts[f"escalations_{e.rung}"] += 1
        log.info({"event": "strikes_escalated", "escalations": len(escalations)})


class VerdictFollower:
    """Every shard of `verdicts` from the writer's own checkpoint (a file: one per deployment)."""

    def __init__(self, kinesis: "KinesisClient", stream: str, state_dir: Path) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._checkpoints = CheckpointStore(state_dir / f"strikes-{stream}.json")
        self._iterators: dict[str, str] = {}
        self._shards: list[str] = []

    def poll(self, apply: Callable[[list[Verdict]], None], counts: Counter[str]) -> int:
        """One pass over every shard: each batch read is applied, then checkpointed. A shard whose read
        or apply fails — an iterator expired (five minutes unused), a throttle, an outage — is read
        again from its checkpoint on the next pass (its iterator dropped); the others go on, and the
        pass then raises the first failure."""
        if not self._shards:
            with aws_errors("ListShards"):
                shards = self._kinesis.list_shards(StreamName=self._stream)["Shards"]
            self._shards = [s["ShardId"] for s in shards]
        read = 0
        failures: list[AwsError] = []
        for shard_id in self._shards:
            try:
                read += self._poll_shard(shard_id, apply, counts)
            except AwsError as err:
                self._iterators.pop(shard_id, None)
                failures.append(err)
        if failures:
            raise failures[0]
        return read

    def _poll_shard(self, shard_id: str, apply: Callable[[list[Verdict]], None], counts: Counter[str]) -> int:
        with aws_errors("GetRecords"):
            iterator = self._iterators.get(shard_id) or resume_iterator(
                self._kinesis, self._stream, shard_id, self._checkpoints.sequence(shard_id)
            )
            resp = self._kinesis.get_records(ShardIterator=iterator, Limit=1000)
        records = resp["Records"]
        verdicts = []
        for r in records:
            try:
                verdicts.append(Verdict.model_validate_json(r["Data"]))
            except ValidationError:
                counts["unreadable_verdicts"] += 1
                log.warning(
                    {
                        "event": "strikes_unreadable_verdict",
                        "shard_id": shard_id,
                        "sequence_number": r["SequenceNumber"],
                    }
                )
        apply(verdicts)
        if records:
            self._checkpoints.save(shard_id, records[-1]["SequenceNumber"])
        self._iterators[shard_id] = resp["NextShardIterator"]
        return len(records)


class DecisionFollower:
    """Every feedback object not read yet (the keys read are kept in a state file, added only once
    the object's decisions are applied). The prefix is listed at most every `every_s` seconds: a
    listing reads every key of it, and decisions are not in a hurry (a model's removal already struck);
    `listed` says whether the last poll listed it."""

    def __init__(
        self, s3: "S3Client", bucket: str, prefix: str, state_dir: Path, every_s: float = 0.0
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix
        self._read = ReadKeys(state_dir / "strikes-feedback.read")
        self._every_s = every_s
        self._listed_at = -float("inf")
        self.listed = False

    def poll(self, apply: Callable[[list[ModeratorDecision]], None], counts: Counter[str]) -> int:
        self.listed = time.monotonic() - self._listed_at >= self._every_s
        if not self.listed:
            return 0
        self._listed_at = time.monotonic()
        read = 0
        for key in self._read.new(list_keys(self._s3, self._bucket, self._prefix, "feedback")):
            with aws_errors("GetObject feedback"):
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            decisions = []
            for line in body.decode("utf-8", errors="replace").splitlines():
                if not line.strip():
                    continue
                try:
                    decisions.append(ModeratorDecision.model_validate_json(line))
                except ValidationError:
                    counts["unreadable_decisions"] += 1
                    log.warning({"event": "strikes_unreadable_decision", "key": key})
            apply(decisions)
            self._read.finished([key])
            read += len(decisions)
        return read


def run(
    writer: StrikeWriter,
    verdicts: VerdictFollower,
    decisions: DecisionFollower,
    stop: Event,
    interval_s: float = 0.5,
    progress: Path | None = None,
    idle_max_s: float = 0.5,
) -> Counter[str]:
    """Follow both inputs until `stop`; an outage is logged and counted, and the pass tried again.
    A pass that read something is followed by the next at once; after one that found nothing the loop
    waits `interval_s`, doubled after each further one, up to `idle_max_s`. After each pass, `progress`
    (if given) holds when it started and ended, how many records and decisions it read, how many of
    the two inputs failed, whether it read both to their end (`complete`), and the counts so far."""
    wait = interval_s
    passes: tuple[tuple[str, Callable[[], int]], ...] = (
        ("verdicts", lambda: verdicts.poll(writer.verdicts, writer.counts)),
        ("decisions", lambda: decisions.poll(writer.decisions, writer.counts)),
    )
    while not stop.is_set():
        started = time.time()
        progressed = failed = 0
        for name, poll in passes:
            try:
                progressed += poll()
            except AwsError as err:
                failed += 1
                writer.counts["outages"] += 1
                log.warning(
                    {
                        "event": "strikes_unavailable",
                        "input": name,
                        "operation": err.operation,
                        "code": err.code,
                    }
                )
                outage_metric()
        if progress is not None:
            done = {
                "read": progressed,
                "failed": failed,  # inputs that could not be read to their end in this pass
                "complete": not failed and decisions.listed,
                "counts": dict(writer.counts),
            }
            write_progress(progress, started, done)
        wait = interval_s if progressed else idle_backoff(wait, idle_max_s)
        if not progressed:
            stop.wait(wait)
    return writer.counts
