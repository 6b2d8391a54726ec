"""Context across messages on LocalStack: a raid and a flood caught end to end through the local event
source mapping's tumbling windows, and a window's state resumed after the runner is killed."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.verdict import Action, Verdict
from producer_sim.communities import Community, load_community
from producer_sim.publisher import Publisher
from producer_sim.replay import OutgoingRecord
from runtime import aws
from runtime.kinesis import PutReport, batches
from runtime.paths import PROJECT_ROOT
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from stream_consumer.settings import ConsumerSettings
from tests.emulator import consumer_settings, local_runner, publish_scorer, read_verdicts

pytestmark = pytest.mark.integration

RAID = "Free nitro for everyone who joins right now, claim yours at discord-gift.example before it ends"
EDITS = (str.upper, lambda t: t + " !!1", lambda t: t.replace("a", "\u0430", 1), lambda t: t + " 🎁")


def chat(channel: str, user: str, text: str) -> OutgoingRecord:
    message_id = uuid.uuid4()
    body = {
        "message_id": str(message_id),
        "channel_id": channel,
        "user_id": user,
        "text": text,
        "sent_at": datetime.now(UTC).isoformat(),
    }
    return OutgoingRecord(json.dumps(body).encode(), channel, message_id, None)


def put(endpoint_url: str, stream: str, entries: list[OutgoingRecord]) -> None:
    publisher = Publisher(aws.client("kinesis", endpoint_url), stream)
    report: PutReport[OutgoingRecord] = PutReport()
    for batch in batches(entries):
        publisher.publish_batch(batch, report)
    assert not report.undelivered


def raid(first: int, n: int, channel: str = "channel-raided") -> list[OutgoingRecord]:
    return [chat(channel, f"raider-{i}", EDITS[i % len(EDITS)](RAID)) for i in range(first, first + n)]


def by_user(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.user_id: v for v in verdicts}


def raid_value(v: Verdict) -> float:
    return next((s.value for s in v.context if s.signal == "raid"), 0.0)


@pytest.fixture
def champion(endpoint_url: str, fresh_stack: Stack, scorers: dict[str, LinearScorer]) -> None:
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")


def checkpoints(settings: ConsumerSettings) -> Path:
    """The checkpoint file `python -m local_esm run` keeps (per stream)."""
    return settings.checkpoint_dir / f"{settings.input_stream}.json"


def saved_windows(settings: ConsumerSettings) -> bool:
    """Whether the runner has checkpointed a window with state (what a restart must resume)."""
    path = checkpoints(settings)
    if not path.exists():
        return False
    entries = json.loads(path.read_text()).values()
    return any((e.get("window") or {}).get("state") for e in entries)


def run_until(settings: ConsumerSettings, done: "threading.Event", stop: threading.Event) -> None:
    local_runner(settings, checkpoints=checkpoints(settings)).run(stop)
    done.set()


def test_a_raid_and_a_flood_are_caught_end_to_end(
    endpoint_url: str, fresh_stack: Stack, champion: None, tmp_path: Path, data_dir: Path
) -> None:
    # GIVEN ordinary chat (real r/science comments), a raid of 30 new users pasting one text with small
    # edits, and a flooder
    stream = fresh_stack.input_stream.name
    texts = [t.text for t in load_community(data_dir, Community.RSCIENCE)[:300]]
    ordinary = [chat(f"channel-{i % 4}", f"user-{i % 97}", text) for i, text in enumerate(texts)]
    flood = [chat("channel-flooded", "flooder", f"look at this {i}") for i in range(20)]
    mixed = [m for pair in zip(ordinary[:50], raid(0, 30) + flood, strict=False) for m in pair]
    put(endpoint_url, stream, ordinary[50:100] + mixed + ordinary[100:])
    # WHEN the local mapping drains it with 10-s tumbling windows
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, tumbling_window_s=10)
    local_runner(settings).run(threading.Event(), idle_exit_s=2.0)
    verdicts = read_verdicts(endpoint_url, fresh_stack.output_stream.name)
    raiders = [v for v in verdicts if v.user_id.startswith("raider-")]
    flooder = sorted((v for v in verdicts if v.user_id == "flooder"), key=lambda v: v.sequence_number)
    # THEN the raid's messages after the first five (of each window it fell in) go to review
    assert len(raiders) == 30
    caught = [v for v in raiders if raid_value(v) >= 5]
    assert len(caught) >= 30 - 2 * 5
    assert all(v.action is not Action.ALLOW for v in caught)
    # AND the flooder from its 12th message in a window
    flagged = [v for v in flooder if any(s.signal == "flood" for s in v.context)]
    assert len(flagged) >= 20 - 2 * 11
    assert all(v.action is not Action.ALLOW for v in flagged)
    # AND no signal acted on an ordinary user (heat, reported only, may name their channel), and every
    # window was closed by its final invocation
    ordinary_users = [v for v in verdicts if v.user_id.startswith("user-")]
    assert len(ordinary_users) == 300
    assert [v for v in ordinary_users if any(s.action is not Action.ALLOW for s in v.context)] == []
    cp = json.loads((settings.checkpoint_dir / "cp.json").read_text())
    assert all(entry.get("window") is None for entry in cp.values())


def test_a_killed_runner_resumes_its_window_state(
    endpoint_url: str, fresh_stack: Stack, champion: None, tmp_path: Path
) -> None:
    # GIVEN four raiders judged by the real `python -m local_esm run`, all of it inside one window:
    # windows are aligned to the epoch, so the longest (15 min) and, near its end, a wait for the next one
    stream = fresh_stack.input_stream.name
    window_s = 900
    left = window_s - time.time() % window_s
    if left < 180:  # the test takes up to about two and a half minutes
        time.sleep(left + 0.5)
    settings = consumer_settings(fresh_stack, endpoint_url, tmp_path, tumbling_window_s=window_s)
    put(endpoint_url, stream, raid(0, 4))
    env = {**os.environ, **settings.to_env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local_esm", "run"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll_until(
            lambda: (
                len(read_verdicts(endpoint_url, fresh_stack.output_stream.name)) >= 4
                and saved_windows(settings)
            ),
            timeout=60,
            what="four raiders judged and their window saved with the checkpoint",
        )
    finally:
        # WHEN it is killed (SIGKILL) with the window still open
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    first = by_user(read_verdicts(endpoint_url, fresh_stack.output_stream.name))
    assert len(first) == 4
    assert [raid_value(v) for v in first.values()] == [0, 0, 0, 0]  # under the threshold of 5
    # AND six more raiders come while a new runner starts from the same checkpoints
    put(endpoint_url, stream, raid(4, 6))
    stop, done = threading.Event(), threading.Event()
    worker = threading.Thread(target=run_until, args=(settings, done, stop), daemon=True)
    worker.start()
    try:
        poll_until(
            lambda: len(by_user(read_verdicts(endpoint_url, fresh_stack.output_stream.name))) >= 10,
            timeout=60,
            what="ten raiders judged",
        )
    finally:
        stop.set()
        worker.join(30)
    # THEN the window went on with its state: the fifth raider is the fifth user, and is caught
    after = by_user(read_verdicts(endpoint_url, fresh_stack.output_stream.name))
    values = [raid_value(after[f"raider-{i}"]) for i in range(4, 10)]
    assert min(values) >= 5, values  # a runner that forgot the window would count 1, 2, 3...
    assert all(after[f"raider-{i}"].action is Action.REVIEW for i in range(4, 10))
