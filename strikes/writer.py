"""The strikes writer: a consumer of its own, beside the classifier and never in its path. It follows
the `verdicts` stream from its own checkpoint (the model's removals, floods) and the feedback prefix
(the moderators' decisions), writes strikes (`strikes.store`, idempotent per message) and sends each
new strike's escalation to the `escalations` queue, which the bot applies.

Exactly once: a strike's key is what it punishes, and it is marked `escalated` only after its
escalation was sent. A crash between the two sends the escalation again with the same id, which the
bot applies once; a crash before the checkpoint reads the records again, which add nothing. A strikes
outage (the table unreachable, throttled) leaves the checkpoint where it was, with a log line and a
metric, and the records are read again on the next pass: no escalation meanwhile, nothing lost, and
the classifier never waits for it.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import ValidationError

from contracts import metrics as emf
from contracts.policy import PolicyBook
from contracts.storage import ModeratorDecision
from contracts.strikes import Escalation, Strike
from contracts.verdict import Verdict
from runtime.checkpoints import CheckpointStore
from runtime.errors import AwsError, aws_errors
from runtime.logs import structured_logger
from runtime.objects import list_keys
from strikes.core import decision_strike, escalation_of, strike_of
from strikes.store import StrikeStore

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = structured_logger("strikes")


class EscalationQueue:
    """The `escalations` queue: one SQS message per escalation, its id in the body."""

    def __init__(self, sqs: "SQSClient", queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, escalation: Escalation) -> None:
        with aws_errors("SendMessage escalation"):
            self._sqs.send_message(QueueUrl=self._url, MessageBody=escalation.model_dump_json())


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
    send: Callable[[Escalation], None]
    policies: Callable[[], PolicyBook]
    window_s: float
    counts: Counter[str]

    def verdicts(self, verdicts: Iterable[Verdict]) -> None:
        """Every model removal and flood among `verdicts` as a strike (once), escalated once."""
        book = self.policies()
        for verdict in verdicts:
            strike = strike_of(verdict, book, self.window_s)
            if strike is None:
                continue
            there = self.store.add(strike)
            if there is None:
                self.counts[f"strikes_{strike.source}"] += 1
                self._escalate(strike, book)
            else:
                self.counts["strikes_present"] += 1
                if not there.escalated:  # written, then a crash before its escalation was sent
                    self._escalate(there, book)

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
            if before is not None and before.escalated:
                continue  # the strike's escalation went out when it was first made
            self._escalate(strike, book)

    def _escalate(self, strike: Strike, book: PolicyBook) -> None:
        strikes, cleared = self.store.of_user(strike.channel_id, strike.user_id)
        escalation = escalation_of(strike, strikes, book, cleared)
        if escalation is not None:
            self.send(escalation)
            self.counts[f"escalations_{escalation.rung}"] += 1
            log.info(
                {
                    "event": "strikes_escalated",
                    "channel": escalation.channel_id,
                    "rung": escalation.rung,
                    "strikes": escalation.strikes,
                }
            )
        if strike.weight > 0:
            self.store.mark_escalated(strike)


class VerdictFollower:
    """Every shard of `verdicts` from the writer's own checkpoint (a file: one per deployment)."""

    def __init__(self, kinesis: "KinesisClient", stream: str, state_dir: Path) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._checkpoints = CheckpointStore(state_dir / f"strikes-{stream}.json")
        self._iterators: dict[str, str] = {}
        self._shards: list[str] = []

    def _iterator(self, shard_id: str) -> str:
        after = self._checkpoints.sequence(shard_id)
        kwargs: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        with aws_errors("GetShardIterator"):
            return self._kinesis.get_shard_iterator(StreamName=self._stream, ShardId=shard_id, **kwargs)[
                "ShardIterator"
            ]

    def poll(self, apply: Callable[[list[Verdict]], None], counts: Counter[str]) -> int:
        """One pass over every shard: each batch read is applied, then checkpointed. A batch whose
        apply fails is forgotten (its iterator dropped) and read again from the checkpoint next pass."""
        if not self._shards:
            with aws_errors("ListShards"):
                shards = self._kinesis.list_shards(StreamName=self._stream)["Shards"]
            self._shards = [s["ShardId"] for s in shards]
        read = 0
        for shard_id in self._shards:
            with aws_errors("GetRecords"):
                iterator = self._iterators.get(shard_id) or self._iterator(shard_id)
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
            try:
                apply(verdicts)
            except AwsError:
                self._iterators.pop(shard_id, None)
                raise
            if records:
                self._checkpoints.save(shard_id, records[-1]["SequenceNumber"])
            self._iterators[shard_id] = resp["NextShardIterator"]
            read += len(records)
        return read


class DecisionFollower:
    """Every feedback object not read yet (the keys read are kept in a state file, added only once
    the object's decisions are applied)."""

    def __init__(self, s3: "S3Client", bucket: str, prefix: str, state_dir: Path) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix
        self._state = state_dir / "strikes-feedback.read"
        self._read: set[str] = set(self._state.read_text().split()) if self._state.exists() else set()

    def poll(self, apply: Callable[[list[ModeratorDecision]], None], counts: Counter[str]) -> int:
        read = 0
        for key in list_keys(self._s3, self._bucket, self._prefix, "feedback"):
            if key in self._read:
                continue
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
            self._read.add(key)
            self._state.parent.mkdir(parents=True, exist_ok=True)
            with self._state.open("a") as fh:
                fh.write(key + "\n")
            read += len(decisions)
        return read


def run(
    writer: StrikeWriter,
    verdicts: VerdictFollower,
    decisions: DecisionFollower,
    stop: Event,
    interval_s: float = 0.5,
    progress: Path | None = None,
) -> Counter[str]:
    """Follow both inputs until `stop`; an outage is logged and counted, and the pass tried again.
    After each pass, `progress` (if given) holds when it started and ended, how many records and
    decisions it read, and the counts so far."""
    passes: tuple[tuple[str, Callable[[], int]], ...] = (
        ("verdicts", lambda: verdicts.poll(writer.verdicts, writer.counts)),
        ("decisions", lambda: decisions.poll(writer.decisions, writer.counts)),
    )
    while not stop.is_set():
        started = datetime.now(UTC)
        progressed = 0
        for name, poll in passes:
            try:
                progressed += poll()
            except AwsError as err:
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
                "started_at": started.isoformat(),
                "at": datetime.now(UTC).isoformat(),
                "read": progressed,
                "counts": dict(writer.counts),
            }
            tmp = progress.with_suffix(".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(done, sort_keys=True))
            tmp.replace(progress)
        if not progressed:
            stop.wait(interval_s)
    return writer.counts
