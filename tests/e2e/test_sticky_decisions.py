"""A human decision is the last word on its message: a redelivered record, a replayed dead letter and a
consumer runner killed mid-batch and restarted all judge a decided message again, yet its review item
stays the one it was (decided, same label, same moderator) and the moderation bot, its memory wiped,
applies the decision instead of acting on the new verdicts.

The real pieces: the consumer as `python -m local_esm run` on LocalStack (no champion: every
message goes to review), the archive follower filling the review table (moto's DynamoDB), decisions
through the review app's HTTP API, the DLQ replay, and the bot with the review table's lookup."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from threading import Event
from uuid import UUID

import pytest

from contracts.chat import Label
from contracts.dead_letter import RejectReason
from contracts.policy import PolicyBook
from contracts.review import ItemStatus, QueueEntry
from contracts.verdict import Action, Verdict
from producer_sim.bot import Bot
from producer_sim.dlq import replay_dead_letters
from producer_sim.moderators import human_decisions
from producer_sim.settings import ProducerSettings
from review.app import LoginLimiter, Services, create_app
from review.store import ReviewStore, ensure_table
from review.users import Account, UserBook, hash_password
from review.worker import ArchiveFollower
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.kinesis import Delivered, Entry, PutReport, batches, put_batch
from runtime.paths import PROJECT_ROOT
from runtime.retry import poll_until
from runtime.stack import Stack
from tests.builders import SMALL_TALK, dead_letter, message, sign_in
from tests.emulator import consumer_settings, read_verdicts

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"  # pragma: allowlist secret
SECRET = "s" * 48
MODERATOR = "moderator-1"
CHANNELS = tuple(f"channel-{i:02d}" for i in range(8))
MESSAGES = 30
COPIES = 10  # each message's record put again this many times: the stream the runner is killed in
Seen = tuple[UUID, str]  # a message id and the input record's sequence number a verdict judged


def _put(endpoint_url: str, stream: str, entries: list[Entry]) -> list[Delivered[Entry]]:
    """Put the entries on the stream (failed records retried); where each landed."""
    report: PutReport[Entry] = PutReport()
    kinesis = aws.client("kinesis", endpoint_url)
    for batch in batches(entries):
        put_batch(kinesis, stream, batch, report)
    assert not report.undelivered
    return list(report.delivered)


def _wait_for(endpoint_url: str, stack: Stack, expected: set[Seen], timeout: float = 90) -> list[Verdict]:
    """The verdicts stream once it judges every (message, record) expected."""

    def all_judged() -> list[Verdict]:
        verdicts = read_verdicts(endpoint_url, stack.output_stream.name)
        return verdicts if expected <= {(v.message_id, v.sequence_number) for v in verdicts} else []

    return poll_until(all_judged, timeout, what=f"{len(expected)} records judged", interval=0.5)


def _kill_mid_batch(
    proc: "subprocess.Popen[bytes]",
    endpoint_url: str,
    stack: Stack,
    checkpoints: Path,
    resent: set[Seen],
    decided: set[UUID],
) -> tuple[set[Seen], list[Verdict]]:
    """SIGKILL the (frozen) runner while it holds a batch it has judged but not checkpointed, with a
    resent record of a decided message in it, before it has judged every resent record: compare the
    verdicts written with its checkpoints, kill it when such a batch is in flight, else let it go on
    (SIGCONT) for a moment, freeze it again (SIGSTOP) and look again. The records in flight and the
    verdicts written at the kill."""
    targets = {seen for seen in resent if seen[0] in decided}
    deadline = time.monotonic() + 180
    run_for, judged_before = 0.02, -1  # the runner's slice doubles while it writes nothing (a loaded host)
    while time.monotonic() < deadline:
        verdicts = read_verdicts(endpoint_url, stack.output_stream.name)
        judged = {(v.message_id, v.sequence_number) for v in verdicts}
        assert not resent <= judged, "the runner judged every resent record before it was caught"
        run_for = 0.02 if len(judged) > judged_before else min(run_for * 2, 0.32)
        judged_before = len(judged)
        marks = CheckpointStore(checkpoints)
        in_flight = {
            (v.message_id, v.sequence_number)
            for v in verdicts
            if int(v.sequence_number) > int(marks.sequence(v.shard_id) or 0)
        }
        if in_flight & targets:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return in_flight, verdicts
        proc.send_signal(signal.SIGCONT)
        time.sleep(run_for)
        proc.send_signal(signal.SIGSTOP)
    pytest.fail("the runner was never caught holding a decided message's batch")


@pytest.mark.slow(30)
def test_a_human_decision_survives_redelivery_dlq_replay_and_a_killed_runner(
    endpoint_url: str, fresh_stack: Stack, moto_endpoint: str, tmp_path: Path
) -> None:
    stack = fresh_stack
    # GIVEN the consumer with no champion (every message to review), in small batches, as a subprocess
    settings = consumer_settings(
        stack, endpoint_url, tmp_path, without_model="review", encoder=False, batch_size=10
    )
    checkpoints = settings.checkpoint_dir / f"{stack.input_stream.name}.json"
    env = {**os.environ, **settings.to_env(), "POWERTOOLS_METRICS_DISABLED": "true"}
    cmd = [sys.executable, "-m", "local_esm", "run"]
    first_runner = subprocess.Popen(
        cmd,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=(tmp_path / "runner-1.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        # AND a review table, its archive follower, and the review app with one moderator of every channel
        table = f"review-{uuid.uuid4().hex[:8]}"
        ensure_table(aws.client("dynamodb", moto_endpoint), table)
        store = ReviewStore(aws.client("dynamodb", moto_endpoint), table)
        s3 = aws.client("s3", endpoint_url)
        archive, prefix = stack.archive_bucket.name, stack.archive_bucket.archive_prefix
        follower = ArchiveFollower(s3, archive, prefix, store, PolicyBook, tmp_path / "followed.txt")
        account = Account(username=MODERATOR, password_hash=hash_password(PASSWORD), channels=CHANNELS)
        services = Services(
            store=store,
            users=lambda: UserBook(accounts=(account,)),
            policies=PolicyBook,
            claim_lease=timedelta(seconds=60),
            undo=timedelta(seconds=5),
            page_size=50,
            limiter=LoginLimiter(5, 300),
        )
        app = create_app(services, SECRET, secure_cookies=False)
        # AND 30 chat messages judged and queued for review
        payloads = [
            message(f"{SMALL_TALK[i % len(SMALL_TALK)]} {i}", CHANNELS[i % 8], user_id=f"user-{i:05d}")
            for i in range(MESSAGES)
        ]
        entries = [Entry(p, json.loads(p)["channel_id"]) for p in payloads]
        ids = [UUID(json.loads(p)["message_id"]) for p in payloads]
        first = _put(endpoint_url, stack.input_stream.name, entries)
        verdicts = _wait_for(
            endpoint_url, stack, {(m, d.sequence_number) for m, d in zip(ids, first, strict=True)}
        )
        assert {v.action for v in verdicts} == {Action.REVIEW}
        # (a batch is archived after its verdicts are written: the follower reads until it has them all)
        followed = Counter[str]()

        def all_followed() -> bool:
            followed.update(follower.poll())
            return followed["written"] >= MESSAGES

        poll_until(all_followed, 60, what="every message archived and queued", interval=0.5)
        assert followed["written"] == MESSAGES
        # AND a moderator decided ten of them through the app's API (six removed, four allowed)
        labels: dict[UUID, Label] = {m: "remove" if k % 5 < 3 else "allow" for k, m in enumerate(ids[::3])}
        client, token = sign_in(app, MODERATOR, PASSWORD)
        csrf = {"X-CSRF-Token": token}
        for mid, label in labels.items():
            assert client.post(f"/api/items/{mid}/claim", headers=csrf).status_code == 200
            answer = client.post(f"/items/{mid}/decision", json={"label": label}, headers=csrf)
            assert answer.status_code == 200, answer.text
        decided: dict[UUID, QueueEntry] = {}
        for mid, label in labels.items():
            entry = store.get(mid)
            assert entry is not None
            assert (entry.status, entry.label, entry.decided_by) == (ItemStatus.DECIDED, label, MODERATOR)
            decided[mid] = entry

        # WHEN the runner is frozen (SIGSTOP) and every message's record is put on the input stream
        # again, ten times over
        first_runner.send_signal(signal.SIGSTOP)
        copies = _put(endpoint_url, stack.input_stream.name, [e for _ in range(COPIES) for e in entries])
        resent = {(ids[k % MESSAGES], d.sequence_number) for k, d in enumerate(copies)}
        # AND a dead letter carrying an allowed message's record is replayed onto the input stream
        replayed = next(m for m, label in labels.items() if label == "allow")
        original = entries[ids.index(replayed)]
        sqs = aws.client("sqs", endpoint_url)
        dlq = sqs.get_queue_url(QueueName=stack.dead_letter_queue.name)["QueueUrl"]
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=dead_letter(
                original.data, RejectReason.UNKNOWN_FIELD, partition_key=original.partition_key
            ),
        )
        replay = replay_dead_letters(sqs, dlq, aws.client("kinesis", endpoint_url), stack.input_stream.name)
        assert (replay.replayed, dict(replay.skipped)) == (1, {})
        # AND the runner is killed (SIGKILL) while a batch holding a decided message is in flight
        in_flight, at_kill = _kill_mid_batch(
            first_runner, endpoint_url, stack, checkpoints, resent, set(labels)
        )
    finally:
        if first_runner.poll() is None:
            first_runner.kill()
            first_runner.wait(10)
    assert not resent <= {(v.message_id, v.sequence_number) for v in at_kill}, "killed mid-stream"
    # AND a new runner resumes from its checkpoints and drains the stream
    subprocess.run(
        [*cmd, "--idle-exit", "3"], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=180
    )
    verdicts = _wait_for(endpoint_url, stack, resent)
    # THEN every record was judged again, the replayed one too, and the batch in flight twice
    times = Counter((v.message_id, v.sequence_number) for v in verdicts)
    assert len({s for m, s in times if m == replayed}) == 1 + COPIES + 1
    assert all(times[s] >= 2 for s in in_flight), "the batch in flight at the kill was redelivered"
    assert {v.action for v in verdicts} == {Action.REVIEW}
    # AND re-reading the archive (the follower's new objects, then every object by a fresh follower)
    # writes no item: each message already has its own
    again = follower.poll()
    assert again["objects"] > 0
    assert (again["written"], again["unreadable_lines"]) == (0, 0)
    assert again["present"] >= MESSAGES * COPIES + 1
    fresh = ArchiveFollower(s3, archive, prefix, store, PolicyBook, tmp_path / "fresh.txt").poll()
    assert (fresh["written"], fresh["unreadable_lines"]) == (0, 0)
    assert fresh["present"] >= len(times)
    # AND the queue holds exactly one item per message, the decided ones unchanged
    listed = Counter(
        e.item.message_id for c in CHANNELS for s in ItemStatus for e in store.listing(c, s, 100)
    )
    assert listed == Counter(ids)
    for mid, before in decided.items():
        assert store.get(mid) == before
    # AND the listing (the truth) holds the undecided ones open; the counters, the page's summary,
    # never count a message twice (moto's server may lose one of two concurrent ADDs to a channel's
    # counter, which DynamoDB applies atomically: a count may fall short, never over)
    opened = sum(len(store.listing(c, ItemStatus.OPEN, 100)) for c in CHANNELS)
    assert opened == MESSAGES - len(labels)
    stats = [store.stats(c) for c in CHANNELS]
    totals = [sum(getattr(s, name) for s in stats) for name in ("open", "decided", "hidden", "expired")]
    assert totals[1:] == [len(labels), 0, 0]
    assert (MESSAGES - len(labels)) // 2 <= totals[0] <= MESSAGES - len(labels)
    shown = client.get("/api/queue", params={"view": "decided", "limit": 200}).json()["entries"]
    assert {UUID(e["item"]["message_id"]): e["label"] for e in shown} == labels
    # WHEN the bot, its memory wiped, reads the whole verdicts stream with the review table's decisions
    bot_dir = tmp_path / "bot"
    producer = ProducerSettings.for_stack(
        stack,
        aws_endpoint_url=endpoint_url,
        ground_truth_path=tmp_path / "no-ground-truth.jsonl",
        bot_state_dir=bot_dir,
        review_url="http://testserver",  # the app above: the bot leaves reviews to its queue
        review_table=table,
        dynamodb_endpoint_url=moto_endpoint,
    )
    bot = Bot.from_settings(producer, human=human_decisions(producer))
    counts = bot.run(Event(), idle_exit_s=2, interval_s=0.2)
    # THEN it applied every human decision (hid the removed, allowed the allowed) and acted on its own
    # only on the undecided messages (queued each once, left to the review app), each message once
    removed = sum(label == "remove" for label in labels.values())
    assert +counts == Counter(
        human_decision_kept=len(labels),
        human_decision_kept_on_review=len(labels),
        hidden=removed,
        allowed=len(labels) - removed,
        queued=MESSAGES - len(labels),
        left_to_queue=MESSAGES - len(labels),
        duplicates_ignored=len(verdicts) - MESSAGES,
    )
    seen_file = bot_dir / f"{stack.output_stream.name}.seen"
    assert sorted(UUID(line) for line in seen_file.read_text().split()) == sorted(ids)
    # AND the decisions in the review table are still the moderator's
    for mid, before in decided.items():
        assert store.get(mid) == before
    print(  # what the run went through, shown with `pytest -s`
        json.dumps(
            {
                "verdicts": len(verdicts),
                "in_flight_at_kill": len(in_flight),
                "judged_at_kill": len(at_kill),
                "archive_objects": fresh["objects"],
                "bot": dict(counts),
            }
        )
    )
