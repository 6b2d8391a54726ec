"""The strikes writer on a real stream, bucket and queue (LocalStack) and a real DynamoDB (moto's
server): one strike per removed message however often its verdict or decision is read, each
escalation sent once per strike and applied once by the bot, a moderator's decision replacing the
model's strike (and an overturn taking it back), and an outage that loses nothing."""

import json
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.chat import Label
from contracts.policy import PolicyBook
from contracts.storage import ModeratorDecision, json_lines
from contracts.strikes import Escalation, Rung, Strike, StrikeSource, strike_key
from contracts.verdict import Action, Verdict
from producer_sim.escalations import EscalationInbox, read_applied
from runtime import aws
from runtime.errors import AwsError
from runtime.queues import peek_bodies
from runtime.stack import Stack
from strikes.store import StrikeStore, ensure_table, user_key
from strikes.writer import DecisionFollower, EscalationQueue, StrikeWriter, VerdictFollower
from tests.builders import NOW, verdict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

pytestmark = pytest.mark.integration


class Rig:
    """A writer over a fresh stack's verdicts, feedback and escalations, with its table in moto."""

    def __init__(self, stack: Stack, endpoint_url: str, dynamodb_url: str, state_dir: Path) -> None:
        self.stack = stack
        self.endpoint_url = endpoint_url
        self.table = f"strikes-{uuid.uuid4().hex[:8]}"
        self.dynamodb = aws.client("dynamodb", dynamodb_url)
        ensure_table(self.dynamodb, self.table)
        self.s3 = aws.client("s3", endpoint_url)
        self.sqs = aws.client("sqs", endpoint_url)
        self.queue_url = self.sqs.get_queue_url(QueueName=stack.escalations_queue.name)["QueueUrl"]
        self.state_dir = state_dir
        self.writer = self.new_writer(dynamodb_url)

    def new_writer(self, dynamodb_url: str) -> StrikeWriter:
        return StrikeWriter(
            store=StrikeStore(aws.client("dynamodb", dynamodb_url), self.table),
            send=EscalationQueue(self.sqs, self.queue_url).send,
            policies=PolicyBook,
            window_s=30,
            counts=Counter(),
        )

    def followers(self, state: str = "state") -> tuple[VerdictFollower, DecisionFollower]:
        bucket = self.stack.archive_bucket
        return (
            VerdictFollower(
                aws.client("kinesis", self.endpoint_url),
                self.stack.output_stream.name,
                self.state_dir / state,
            ),
            DecisionFollower(self.s3, bucket.name, bucket.feedback_prefix, self.state_dir / state),
        )

    def put_verdicts(self, verdicts: list[Verdict]) -> None:
        """As the consumer writes them: keyed by channel, so a channel's verdicts keep their order."""
        aws.client("kinesis", self.endpoint_url).put_records(
            StreamName=self.stack.output_stream.name,
            Records=[{"Data": v.model_dump_json().encode(), "PartitionKey": v.channel_id} for v in verdicts],
        )

    def put_decisions(self, name: str, decisions: list[ModeratorDecision]) -> None:
        bucket = self.stack.archive_bucket
        self.s3.put_object(
            Bucket=bucket.name, Key=f"{bucket.feedback_prefix}{name}.jsonl", Body=json_lines(decisions)
        )

    def drain(self, writer: StrikeWriter, followers: tuple[VerdictFollower, DecisionFollower]) -> None:
        """Passes until one reads nothing (after at least one that read something)."""
        verdicts, decisions = followers
        read_any = False
        for _ in range(50):
            read = verdicts.poll(writer.verdicts, writer.counts) + decisions.poll(
                writer.decisions, writer.counts
            )
            if read == 0 and read_any:
                return
            read_any = read_any or read > 0
        raise AssertionError("the writer never caught up")

    def escalations(self) -> list[Escalation]:
        return [Escalation.model_validate_json(b) for b in peek_bodies(self.sqs, self.queue_url, hide_s=1)]

    def strikes(self, user: str, channel: str = "c") -> dict[str, float]:
        store = StrikeStore(self.dynamodb, self.table)
        return {s.key: s.weight for s in store.of_user(channel, user)[0]}


@pytest.fixture
def rig(fresh_stack: Stack, endpoint_url: str, moto_endpoint: str, tmp_path: Path) -> Rig:
    return Rig(fresh_stack, endpoint_url, moto_endpoint, tmp_path)


def removal(user: str, minutes: float = 0, action: Action = Action.REMOVE) -> Verdict:
    v = verdict(action, user=user, channel="c")
    return v.model_copy(update={"processed_at": NOW + timedelta(minutes=minutes), "category": "toxicity"})


def decision(v: Verdict, label: Label, minutes: float) -> ModeratorDecision:
    return ModeratorDecision(
        message_id=v.message_id,
        label=label,
        decided_by="moderator-1",
        decided_at=NOW + timedelta(minutes=minutes),
        category="toxicity",
        channel_id=v.channel_id,
        user_id=v.user_id,
        sent_at=v.sent_at,
    )


def test_redelivered_verdicts_a_lost_checkpoint_and_decisions_read_again_add_no_second_strike_or_escalation(
    rig: Rig,
) -> None:
    troll = [removal("troll", minutes=i) for i in range(3)]
    ordinary = [removal("someone", action=Action.ALLOW), removal("someone", action=Action.REVIEW)]
    rig.put_verdicts([*troll, *ordinary])
    rig.drain(rig.writer, rig.followers())
    assert rig.writer.counts["strikes_model"] == 3

    rig.put_verdicts(troll)  # redelivered: the same messages again, new records
    rig.drain(rig.writer, rig.followers())
    # a restart that lost its checkpoints reads the whole stream again (a replayed dead letter alike)
    again = rig.new_writer(str(rig.dynamodb.meta.endpoint_url))
    rig.drain(again, rig.followers("lost"))
    assert again.counts["strikes_present"] == 6
    assert again.counts["strikes_model"] == 0

    assert rig.strikes("troll") == {strike_key(v.message_id): 0.5 for v in troll}
    assert rig.strikes("someone") == {}
    # the bot applies each strike's escalation, sent once (a repeat would count), and a repeat once
    inbox = EscalationInbox(rig.sqs, rig.stack.escalations_queue.name, rig.state_dir / "bot")
    inbox.poll()
    applied = [
        Escalation.model_validate(a) for a in read_applied(rig.state_dir / "bot" / "escalations.jsonl")
    ]
    assert inbox.counts["escalations_repeated"] == 0
    assert sorted(str(a.message_id) for a in applied) == sorted(str(v.message_id) for v in troll)
    assert [(a.rung, a.timeout_minutes) for a in sorted(applied, key=lambda a: a.at)] == [
        (Rung.WARN, None),
        (Rung.WARN, None),
        (Rung.TIMEOUT, 10),
    ]
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=applied[0].model_dump_json())  # delivered twice
    inbox.poll()
    assert inbox.counts["escalations_repeated"] == 1
    assert len(read_applied(rig.state_dir / "bot" / "escalations.jsonl")) == 3
    assert peek_bodies(rig.sqs, rig.queue_url, hide_s=1) == []


def test_a_moderators_decision_replaces_the_models_strike_and_an_overturn_takes_it_back_in_any_order(
    rig: Rig,
) -> None:
    confirmed, overturned, early = removal("u1"), removal("u1", minutes=1), removal("u2")
    found = removal("u1", minutes=2, action=Action.ALLOW)  # a miss a moderator removed
    rig.put_verdicts([confirmed, overturned, found])
    rig.drain(rig.writer, rig.followers())
    rig.put_decisions(
        "first",
        [
            decision(confirmed, "remove", 5),
            decision(overturned, "allow", 5),
            decision(found, "remove", 5),
            decision(early, "allow", 5),  # decided before its verdict is read
        ],
    )
    rig.put_decisions("stale", [decision(overturned, "remove", 4)])  # older than the overturn: no effect
    rig.drain(rig.writer, rig.followers())
    rig.put_verdicts([early])
    rig.drain(rig.writer, rig.followers())

    assert rig.strikes("u1") == {
        strike_key(confirmed.message_id): 1.0,
        strike_key(overturned.message_id): 0.0,
        strike_key(found.message_id): 1.0,
    }
    assert rig.strikes("u2") == {strike_key(early.message_id): 0.0}  # the model's strike never lands
    assert rig.writer.counts["decisions_superseded"] == 1
    store = StrikeStore(rig.dynamodb, rig.table)
    got = store.get("c", "u1", strike_key(overturned.message_id))
    assert got is not None
    assert got.source is StrikeSource.OVERTURNED
    # the removal a moderator found is a new strike, escalated from the user's total: 1.0 + 1.0 (the
    # confirmed one) — the overturned one counts nothing
    by_message = {str(e.message_id): e for e in rig.escalations()}
    assert by_message[str(found.message_id)].strikes == pytest.approx(2.0, abs=0.01)
    assert by_message[str(found.message_id)].rung is Rung.TIMEOUT


def test_a_strikes_outage_leaves_the_checkpoint_and_the_next_pass_loses_nothing(
    rig: Rig, tmp_path: Path
) -> None:
    troll = [removal("troll", minutes=i) for i in range(3)]
    rig.put_verdicts(troll)
    down = rig.new_writer("http://127.0.0.1:9")  # nothing listens there
    verdicts, _ = rig.followers()

    def first_failure() -> AwsError | None:
        for _ in range(20):  # until the stream's records are read, and their strikes cannot be written
            try:
                verdicts.poll(down.verdicts, down.counts)
            except AwsError as err:
                return err
        return None

    assert first_failure() is not None
    checkpoint = rig.state_dir / "state" / f"strikes-{rig.stack.output_stream.name}.json"
    assert not checkpoint.exists() or not any(
        v.get("sequence_number") for v in json.loads(checkpoint.read_text()).values()
    )
    rig.drain(rig.writer, rig.followers())  # the table answers again: the same follower state
    assert rig.strikes("troll") == {strike_key(v.message_id): 0.5 for v in troll}
    assert len(rig.escalations()) == 3


def test_a_models_strike_written_late_never_overwrites_a_moderators_decision_on_its_message(
    moto_endpoint: str,
) -> None:
    """The put's condition: a writer that read the user's strikes before a moderator decided the same
    message (another writer, a replay racing the live one) must not replace the decision."""
    dynamodb = aws.client("dynamodb", moto_endpoint)
    table = f"strikes-{uuid.uuid4().hex[:8]}"
    ensure_table(dynamodb, table)
    store = StrikeStore(dynamodb, table)
    v = removal("u1")
    allowed = decision(v, "allow", 5)
    model = Strike(
        key=strike_key(v.message_id),
        channel_id="c",
        user_id="u1",
        at=NOW,
        weight=0.5,
        source=StrikeSource.MODEL,
        escalated=True,
    )
    overturned = model.model_copy(
        update={"weight": 0.0, "source": StrikeSource.OVERTURNED, "decided_at": allowed.decided_at}
    )
    assert store.decide(overturned)[0]
    there = store.add(model)
    assert there is not None
    assert (there.weight, there.source) == (0.0, StrikeSource.OVERTURNED)
    assert store.of_user("c", "u1")[0] == [there]


def test_a_shard_iterator_that_stopped_working_is_dropped_and_the_shard_read_again_from_its_checkpoint(
    rig: Rig,
) -> None:
    """Iterators expire after five minutes unused (a long pass over the decisions, a stalled process):
    the follower must start again from its checkpoint, not fail on the dead iterator for ever."""
    rig.put_verdicts([removal("troll", minutes=0)])
    followers = rig.followers()
    rig.drain(rig.writer, followers)
    verdicts, _ = followers
    rig.put_verdicts([removal("troll", minutes=1)])
    verdicts._iterators = dict.fromkeys(verdicts._iterators, "expired")  # what an expired one answers like
    with pytest.raises(AwsError):
        verdicts.poll(rig.writer.verdicts, rig.writer.counts)
    rig.drain(rig.writer, followers)
    assert len(rig.strikes("troll")) == 2


def _fresh_table(moto_endpoint: str) -> tuple[StrikeStore, "DynamoDBClient", str]:
    """A store over a table of its own (moto), with the client and the table's name."""
    dynamodb = aws.client("dynamodb", moto_endpoint)
    table = f"strikes-{uuid.uuid4().hex[:8]}"
    ensure_table(dynamodb, table)
    return StrikeStore(dynamodb, table), dynamodb, table


def test_ids_holding_the_keys_separator_never_share_a_users_strikes(moto_endpoint: str) -> None:
    """("a#b", "c") and ("a", "b#c") joined with "#" are one partition; the channel's length keeps them
    apart, so a user named to collide neither reads nor clears another's strikes."""
    store, _, _ = _fresh_table(moto_endpoint)
    victim = Strike(key="msg#1", channel_id="a#b", user_id="c", at=NOW, weight=1.0, source=StrikeSource.MODEL)
    store.add(victim)
    store.clear("a", "b#c", "mod", NOW + timedelta(minutes=1))
    assert store.of_user("a", "b#c") == ([], NOW + timedelta(minutes=1))
    assert store.of_user("a#b", "c") == ([victim], None)


def test_an_item_holding_only_its_key_is_no_strike_to_any_reader(moto_endpoint: str) -> None:
    """moto's server applies an update that creates an item in two steps (the bare key first, then its
    attributes); a scan or query in between sees the key alone. Readers pass it by, as a strike not yet
    written, instead of failing on its missing attributes."""
    store, dynamodb, table = _fresh_table(moto_endpoint)
    whole = Strike(key="msg#1", channel_id="ch", user_id="u", at=NOW, weight=1.0, source=StrikeSource.MODEL)
    store.add(whole)
    # the moment between moto's two steps, held still: an item with its key and nothing else
    dynamodb.put_item(TableName=table, Item={"pk": {"S": user_key("ch", "u")}, "sk": {"S": "msg#2"}})
    assert store.of_user("ch", "u") == ([whole], None)
    assert list(store.every_strike()) == [whole]
    assert store.get("ch", "u", "msg#2") is None
