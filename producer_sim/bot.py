"""The moderation bot: acts on verdicts (hide, queue for review) exactly once per message, and plays
the human moderators, whose decisions (the ground truth from the side file) come back as feedback.

`act` is pure; `Bot` is the thin adapter that reads `verdicts` and writes feedback to S3.
"""

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.audit import AuditEvent, AuditKind
from contracts.chat import Label, label_of
from contracts.policy import PolicyBook
from contracts.statement import AppealOutcome, AppealResult, Restriction, StatementOfReasons, statement_for
from contracts.storage import GroundTruth, ModeratorDecision, feedback_key, json_lines
from contracts.verdict import Action, Reason, Verdict
from producer_sim.escalations import EscalationInbox
from producer_sim.settings import ProducerSettings
from runtime import aws
from runtime.audit import AuditLog
from runtime.checkpoints import CheckpointStore
from runtime.errors import AwsError, aws_errors
from runtime.kinesis import resume_iterator
from runtime.logs import structured_logger
from runtime.policies import PolicySource
from runtime.retry import idle_backoff

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client


log = structured_logger("producer_sim")
OUTCOMES_EVERY_S = 5.0  # how often the bot reads appeals' outcomes (a listing of the statements prefix)
ESCALATIONS_EVERY_S = 2.0  # how often it reads the escalations queue


class OutcomeSource(Protocol):
    """Appeals' outcomes not applied yet (`producer_sim.appeals.OutcomeReader`)."""

    def poll(self, apply: Callable[[list[AppealOutcome]], object]) -> int: ...


@dataclass
class BotState:
    """What the bot has done; `seen` makes it idempotent over an at-least-once stream."""

    seen: set[UUID] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    queue: list["QueueItem"] = field(default_factory=list)  # hidden or queued, not yet written out
    hidden: list[Verdict] = field(default_factory=list)  # hidden by the model, statements not yet written
    acted: list[Verdict] = field(default_factory=list)  # hidden or queued, not yet in the audit trail


def decided_on(category: str | None, truth: GroundTruth) -> tuple[str, Label]:
    """What a moderator rules on: the category that decided the verdict when the message's truth
    labels it, else the community's own standard (`removal`)."""
    if category and category in truth.categories:
        return category, label_of(truth.categories[category])
    return "removal", truth.label


class QueueItem(BaseModel):
    """One line of the moderators' queue: a hidden or queued message, the category that decided it,
    and the reasons with the characters of the message they point at (no message text)."""

    model_config = ConfigDict(frozen=True)

    message_id: UUID
    channel_id: str
    action: Action
    category: str | None
    score: float | None
    reasons: list[Reason]

    @classmethod
    def of(cls, v: Verdict) -> "QueueItem":
        decider = v.categories.get(v.category) if v.category else None
        reasons = decider.reasons if decider else [Reason(feature=r) for r in v.reasons]
        return cls(
            message_id=v.message_id,
            channel_id=v.channel_id,
            action=v.action,
            category=v.category,
            score=v.score,
            reasons=reasons,
        )


def draw(seed: int, message_id: UUID, purpose: str) -> float:
    """A number in [0, 1) fixed by the seed and the message: which messages the moderators decide on,
    and who decides, do not depend on the order verdicts arrive in across shards or restarts."""
    digest = hashlib.blake2b(f"{seed}:{purpose}:{message_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def act(
    verdicts: Iterable[Verdict],
    state: BotState,
    truth: Mapping[UUID, GroundTruth],
    review_share: float,
    sample_share: float,
    seed: int,
    now: datetime,
    moderators: int = 5,
    review_in_queue: bool = False,
    human: Mapping[UUID, Label] | None = None,
) -> list[ModeratorDecision]:
    """Apply each verdict once; return the moderator decisions made on this batch.

    `human` holds the messages a moderator already decided in the review app: such a message's verdict
    (a redelivery the bot's memory lost, a replayed dead letter, a re-scored message) is never acted
    against the human — the decision is applied instead — nor decided again."""
    decisions = []
    for v in verdicts:
        if v.message_id in state.seen:
            state.counts["duplicates_ignored"] += 1
            continue
        state.seen.add(v.message_id)
        if human and v.message_id in human:
            state.counts[{"remove": "hidden", "allow": "allowed"}[human[v.message_id]]] += 1
            state.counts["human_decision_kept"] += 1
            if v.action is Action.REVIEW:  # the others: a channel's audit sample queues any verdict
                state.counts["human_decision_kept_on_review"] += 1
            continue
        done = {Action.REMOVE: "hidden", Action.REVIEW: "queued", Action.ALLOW: "allowed"}[v.action]
        state.counts[done] += 1
        if v.action is Action.REMOVE:
            state.hidden.append(v)
        if v.action is not Action.ALLOW:
            state.acted.append(v)
        if v.action is not Action.ALLOW and v.category:
            state.counts[f"{done}_{v.category}"] += 1
            state.queue.append(QueueItem.of(v))
        share = review_share if v.action is Action.REVIEW else sample_share
        if draw(seed, v.message_id, "decide") >= share:
            continue
        if v.action is Action.REVIEW and review_in_queue:
            state.counts["left_to_queue"] += 1  # the moderators decide it in the review app
            continue
        known = truth.get(v.message_id)
        if known is None:
            state.counts["no_ground_truth"] += 1
            continue
        category, label = decided_on(v.category, known)
        decisions.append(
            ModeratorDecision(
                message_id=v.message_id,
                label=label,
                decided_by=f"moderator-{1 + int(draw(seed, v.message_id, 'who') * moderators)}",
                decided_at=now,
                category=category,
                channel_id=v.channel_id,
                user_id=v.user_id,
                sent_at=v.sent_at,
            )
        )
        state.counts["decisions"] += 1
        state.counts[f"decisions_{category}"] += 1
        if known.label == "remove" and v.action is Action.ALLOW:
            state.counts["missed_by_model"] += 1
    return decisions


def audit_events(acted: Iterable[Verdict]) -> list[AuditEvent]:
    """The bot's actions on verdicts for the audit trail: each message hidden or left to review, by
    the model version that decided it (ids and versions only), at the verdict's time — as its statement
    is: a verdict read again (a restart, a bot that lost its memory) makes the same event, which
    readers count once."""
    return [
        AuditEvent(
            kind=AuditKind.HIDE if v.action is Action.REMOVE else AuditKind.QUEUE,
            actor="bot",
            at=v.processed_at,
            message_id=v.message_id,
            channel_id=v.channel_id,
            model_version=v.model_version,
            policy_version=v.policy_version,
            reason=v.category or ",".join(v.reasons)[:200],
        )
        for v in acted
    ]


def statements(hidden: Iterable[Verdict], book: PolicyBook, appeal_url: str) -> list[StatementOfReasons]:
    """The statement of reasons of each message the model hid: decided by automated means alone, on
    the channel's policy, appealable within the channel's window from the time the verdict was made
    (a redelivered verdict makes the same statement)."""
    out = []
    for v in hidden:
        window = book.appeal_window(v.channel_id)
        out.append(statement_for(v, Restriction.HIDE, v.processed_at, window, appeal_url))
    return out


class TruthFile:
    """The simulator's side file of labels, read as it grows: only lines appended since the last
    read are parsed (lines that do not parse are skipped; one still being written waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.labels: dict[UUID, GroundTruth] = {}
        self._offset = 0

    def refresh(self) -> dict[UUID, GroundTruth]:
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return self.labels
        with fh:
            fh.seek(self._offset)
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                self._offset += len(line)
                try:
                    t = GroundTruth.model_validate_json(line)
                except ValidationError:
                    continue
                self.labels[t.message_id] = t
        return self.labels


class Bot:
    """Follows every shard of `verdicts` from its own checkpoint and writes feedback objects."""

    def __init__(
        self,
        kinesis: "KinesisClient",
        s3: "S3Client",
        stream: str,
        bucket: str,
        feedback_prefix: str,
        truth_path: Path,
        state_dir: Path,
        review_share: float,
        sample_share: float,
        moderators: int,
        seed: int = 7,
        review_in_queue: bool = False,
        human: Callable[[list[UUID]], Mapping[UUID, Label]] | None = None,
        statements_prefix: str = "statements/",
        policies: Callable[[], PolicyBook] = PolicyBook,
        appeal_url: str = "http://127.0.0.1:8090",
        outcomes: "OutcomeSource | None" = None,
        audit: AuditLog | None = None,
        escalations: "EscalationInbox | None" = None,
    ) -> None:
        self._kinesis = kinesis
        self._s3 = s3
        self._stream = stream
        self._bucket = bucket
        self._prefix = feedback_prefix
        self._truth = TruthFile(truth_path)
        self._checkpoints = CheckpointStore(state_dir / f"{stream}.json")
        self._seen_path = state_dir / f"{stream}.seen"
        self._queue_path = state_dir / f"{stream}.queue.jsonl"  # what the moderators see
        self.state = BotState(seen=self._load_seen())
        self._shares = (review_share, sample_share)
        self._moderators = moderators
        self._seed = seed
        self._review_in_queue = review_in_queue
        self._human = human  # the review app's decisions, by message id (None: no review app)
        self._statements_prefix = statements_prefix
        self._policies = policies
        self._appeal_url = appeal_url
        self._outcomes = outcomes  # appeals' outcomes since the last read (None: no review app)
        self._outcomes_at = -OUTCOMES_EVERY_S
        self._audit = audit  # the bot's chain in the audit trail (None: not kept)
        self._escalations = escalations  # the strikes' ladder (None: no strikes writer)
        self._escalations_at = -ESCALATIONS_EVERY_S
        self._iterators: dict[str, str] = {}
        self._shards: list[str] = []

    @classmethod
    def from_settings(
        cls,
        settings: ProducerSettings,
        human: Callable[[list[UUID]], Mapping[UUID, Label]] | None = None,
        outcomes: "OutcomeSource | None" = None,
    ) -> "Bot":
        """The bot of a deployment: its streams, bucket, state and shares from `settings`; it leaves
        reviews to the review app's queue when the settings name the app."""
        s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
        return cls(
            aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region),
            s3,
            settings.output_stream,
            settings.archive_bucket,
            settings.feedback_prefix,
            settings.ground_truth_path,
            settings.bot_state_dir,
            settings.review_decision_share,
            settings.sample_decision_share,
            settings.moderators,
            settings.seed,
            review_in_queue=settings.review_url is not None,
            human=human,
            statements_prefix=settings.statements_prefix,
            policies=PolicySource(s3, settings.models_bucket, settings.policy_key),
            appeal_url=settings.appeal_url,
            outcomes=outcomes,
            audit=(
                AuditLog(s3, settings.audit_bucket, settings.audit_prefix, "bot")
                if settings.audit_bucket
                else None
            ),
            escalations=(
                EscalationInbox(
                    aws.client("sqs", settings.aws_endpoint_url, settings.aws_region),
                    settings.escalations_queue,
                    settings.bot_state_dir,
                )
                if settings.escalations_queue
                else None
            ),
        )

    def _load_seen(self) -> set[UUID]:
        if not self._seen_path.exists():
            return set()
        return {UUID(line) for line in self._seen_path.read_text().split()}

    def poll(self) -> int:
        """One pass over every shard; returns the number of verdict records read.

        A shard whose read or feedback write fails (endpoint unreachable, throttled) is left as it
        was, undone, and re-read from its checkpoint on the next pass: nothing is skipped.
        """
        if not self._shards:
            with aws_errors("ListShards"):
                shards = self._kinesis.list_shards(StreamName=self._stream)["Shards"]
            self._shards = [s["ShardId"] for s in shards]
        read = 0
        for shard_id in self._shards:
            try:
                read += self._poll_shard(shard_id)
            except AwsError:
                self._iterators.pop(shard_id, None)
                self.state.counts["read_errors"] += 1
        return read

    def _poll_shard(self, shard_id: str) -> int:
        with aws_errors("GetRecords"):
            iterator = self._iterators.get(shard_id) or resume_iterator(
                self._kinesis, self._stream, shard_id, self._checkpoints.sequence(shard_id)
            )
            resp = self._kinesis.get_records(ShardIterator=iterator, Limit=1000)
        records = resp["Records"]
        if not records:
            self._iterators[shard_id] = resp["NextShardIterator"]
            return 0
        verdicts = []
        unreadable = 0
        for r in records:
            try:
                verdicts.append(Verdict.model_validate_json(r["Data"]))
            except ValidationError:
                unreadable += 1
        if any(v.message_id not in self._truth.labels for v in verdicts):
            self._truth.refresh()  # the side file grows as messages are sent
        now = datetime.now(UTC)
        new_ids = {v.message_id for v in verdicts} - self.state.seen
        human = self._human(sorted(new_ids)) if self._human and new_ids else None
        counts = Counter(self.state.counts)
        decisions = act(
            verdicts,
            self.state,
            self._truth.labels,
            *self._shares,
            self._seed,
            now,
            self._moderators,
            self._review_in_queue,
            human,
        )
        self.state.counts["unreadable_verdicts"] += unreadable
        first = records[0]
        arrived, sequence = first["ApproximateArrivalTimestamp"], first["SequenceNumber"]
        try:
            # feedback, statements and the audit trail first, then the checkpoint: a crash repeats,
            # never loses (a repeated audit record is the same event: readers count it once)
            self._write(decisions, (shard_id, sequence), arrived, now)
        except AwsError:
            # Undo this batch entirely; it is read again from the checkpoint.
            self.state.seen -= new_ids
            self.state.counts = counts
            self.state.queue.clear()
            self.state.hidden.clear()
            self.state.acted.clear()
            raise
        self.state.hidden.clear()
        self.state.acted.clear()
        self._seen_path.parent.mkdir(parents=True, exist_ok=True)
        with self._queue_path.open("a") as fh:
            fh.writelines(item.model_dump_json() + "\n" for item in self.state.queue)
        self.state.queue.clear()
        with self._seen_path.open("a") as fh:
            fh.writelines(f"{m}\n" for m in new_ids)
        self._checkpoints.save(shard_id, records[-1]["SequenceNumber"])
        self._iterators[shard_id] = resp["NextShardIterator"]
        return len(records)

    def apply_outcomes(self) -> int:
        """Apply the appeals decided since the last call: restore each message whose restriction was
        overturned (shown again in its channel), keep the others; returns how many were restored."""
        if self._outcomes is None or time.monotonic() - self._outcomes_at < OUTCOMES_EVERY_S:
            return 0
        self._outcomes_at = time.monotonic()
        before = self.state.counts["restored"]
        self._outcomes.poll(self._restore)
        return self.state.counts["restored"] - before

    def apply_escalations(self) -> int:
        """Apply the strikes writer's new escalations (`producer_sim.escalations`); how many. A queue
        that does not answer is tried again on the next pass."""
        if self._escalations is None or time.monotonic() - self._escalations_at < ESCALATIONS_EVERY_S:
            return 0
        self._escalations_at = time.monotonic()
        try:
            applied = self._escalations.poll()
        except AwsError:
            self.state.counts["escalation_read_errors"] += 1
            applied = 0
        self.state.counts.update(self._escalations.counts)
        self._escalations.counts.clear()
        return applied

    def _restore(self, outcomes: list[AppealOutcome]) -> None:
        """Restore the overturned restrictions: on record in the audit trail first, then counted (a
        failed record leaves the outcomes unread, to be applied again)."""
        now = datetime.now(UTC)
        overturned = [o for o in outcomes if o.result is AppealResult.RESTORED]
        if self._audit is not None:
            self._audit.append(
                [
                    AuditEvent(
                        kind=AuditKind.RESTORE,
                        actor="bot",
                        at=now,
                        message_id=o.message_id,
                        channel_id=o.channel_id,
                        reason=f"appeal upheld by {o.decided_by}",
                    )
                    for o in overturned
                ]
            )
        for o in overturned:
            log.info({"event": "bot_restored", "message_id": str(o.message_id), "channel": o.channel_id})
        self.state.counts["restored"] += len(overturned)
        self.state.counts["appeals_confirmed"] += len(outcomes) - len(overturned)

    def _write(
        self, decisions: list[ModeratorDecision], batch: tuple[str, str], arrived: datetime, now: datetime
    ) -> None:
        """A batch's feedback, the statements of what it hid (objects named after the batch, its shard
        and first sequence number: a repeated write replaces them), and its actions in the audit trail."""
        shard_id, sequence = batch
        if decisions:
            key = feedback_key(self._prefix, arrived, shard_id, sequence)
            with aws_errors("PutObject feedback"):
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=json_lines(decisions))
        if self.state.hidden:
            made = statements(self.state.hidden, self._policies(), self._appeal_url)
            key = feedback_key(self._statements_prefix, arrived, shard_id, sequence)
            with aws_errors("PutObject statements"):
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=json_lines(made))
            self.state.counts["statements"] += len(made)
        if self._audit is not None and self.state.acted:
            self._audit.append(audit_events(self.state.acted), now)

    def run(
        self,
        stop: Event,
        idle_exit_s: float | None = None,
        interval_s: float = 0.5,
        idle_max_s: float = 2.0,
    ) -> Counter[str]:
        """Pass after pass until `stop` (or idle `idle_exit_s`): `interval_s` apart while verdicts
        arrive, backing off to `idle_max_s` while passes find nothing (each pass reads every shard, the
        appeals' outcomes and the escalations)."""
        last = time.monotonic()
        wait = interval_s
        while not stop.is_set():
            try:
                progressed = self.poll()
                self.apply_outcomes()
            except AwsError:  # the stream cannot even be listed: try again
                progressed = 0
            progressed += self.apply_escalations()
            if progressed:
                last = time.monotonic()
                wait = interval_s
            elif idle_exit_s is not None and time.monotonic() - last > idle_exit_s:
                break
            else:
                stop.wait(wait)
                wait = idle_backoff(wait, idle_max_s)
        return self.state.counts


def summary(counts: Mapping[str, int]) -> str:
    return json.dumps({"event": "bot_report", **counts})
