"""The strikes writer against moto's server (Kinesis, DynamoDB, SQS): does one writer, on one core,
keep up with the verdicts stream, and how long from a verdict's record to its escalation?

1. Paced: verdicts put into a 2-shard stream at each of `--rates` per second for `--seconds`, the writer
   following it from its checkpoints; per escalation, the time from its verdict's put to the
   escalation's send (p50, p99), and whether the writer kept up (its lag at the end).
2. Drain: `--backlog` verdicts already in the stream, read as fast as the writer can: verdicts/s, and
   the writer's own CPU time per verdict (what one core does, apart from the emulator's).

The traffic: `--users` users over eight channels (a heavy tail: a few post much), `--removed` of the
verdicts removals, a tenth of those raised by the flood signal. The writer's process is pinned to
one core; moto's server runs on another.

python -m benchmarks.strikes [--rates 300,1000] [--seconds 20] [--backlog 20000]  # → results/strikes-*.json
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import machine, run_pinned, write_named
from contracts.policy import PolicyBook, Thresholds
from contracts.strikes import Escalation
from contracts.verdict import Action, Verdict
from infra.localstack import MotoServer, free_port
from runtime import aws
from strikes.core import expected_strikes
from strikes.store import StrikeStore, ensure_table
from strikes.writer import DecisionFollower, EscalationQueue, StrikeWriter, VerdictFollower, run

CHANNELS = tuple(f"channel-{i:02d}" for i in range(8))
WINDOW_S = 30.0


def _say(what: str) -> None:
    print(f"strikes benchmark: {what}", file=sys.stderr, flush=True)


class Traffic:
    """Verdicts as the consumer writes them (a channel's in one shard), with their put times."""

    def __init__(self, users: int, removed: float, seed: int = 3) -> None:
        self._rng = random.Random(seed)
        self._users = [f"user-{i:05d}" for i in range(users)]
        self._weights = [1 / (i + 1) ** 1.1 for i in range(users)]
        self._removed = removed

    def verdicts(self, n: int, at: datetime) -> list[Verdict]:
        out = []
        for user in self._rng.choices(self._users, self._weights, k=n):
            removed = self._rng.random() < self._removed
            flood = removed and self._rng.random() < 0.1
            out.append(
                Verdict(
                    message_id=uuid.UUID(int=self._rng.getrandbits(128)),
                    channel_id=self._rng.choice(CHANNELS),
                    user_id=user,
                    action=Action.REMOVE if removed else Action.ALLOW,
                    score=0.95 if removed else 0.1,
                    thresholds=Thresholds(),
                    policy="default",
                    reasons=["context:flood"] if flood else ["idiot"],
                    category=None if flood else "toxicity",
                    model_name="chat-moderation",
                    model_version="1",
                    shard_id="shardId-000000000000",
                    sequence_number="1",
                    sent_at=at,
                    processed_at=at,
                    latency_ms=5.0,
                )
            )
        return out


def _put(kinesis: Any, stream: str, verdicts: list[Verdict]) -> None:
    for i in range(0, len(verdicts), 500):
        chunk = verdicts[i : i + 500]
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": v.model_dump_json().encode(), "PartitionKey": v.channel_id} for v in chunk],
        )


class Stage:
    """One writer over its own stream, table and queue on the emulator; escalations timed at send."""

    def __init__(self, endpoint: str, state: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.kinesis = aws.client("kinesis", endpoint)
        self.stream = f"verdicts-{tag}"
        self.kinesis.create_stream(StreamName=self.stream, ShardCount=2)
        self.kinesis.get_waiter("stream_exists").wait(StreamName=self.stream)
        dynamodb = aws.client("dynamodb", endpoint)
        ensure_table(dynamodb, f"strikes-{tag}")
        sqs = aws.client("sqs", endpoint)
        url = sqs.create_queue(QueueName=f"escalations-{tag}")["QueueUrl"]
        s3 = aws.client("s3", endpoint)
        s3.create_bucket(Bucket=f"archive-{tag}")
        self.sent: dict[str, float] = {}  # message id → when its escalation was sent

        queue = EscalationQueue(sqs, url)

        def send(escalations: Sequence[Escalation]) -> None:
            queue.send(escalations)
            now = time.monotonic()
            self.sent |= {str(e.message_id or e.escalation_id): now for e in escalations}

        self.writer = StrikeWriter(
            StrikeStore(dynamodb, f"strikes-{tag}"), send, PolicyBook, WINDOW_S, Counter()
        )
        self.followers = (
            VerdictFollower(self.kinesis, self.stream, state / tag),
            DecisionFollower(s3, f"archive-{tag}", "feedback/", state / tag),
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=run, args=(self.writer, *self.followers, self.stop, 0.2), daemon=True
        )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _caught_up(stage: Stage, expected: int, deadline: float) -> float:
    """Until the writer has written every strike the verdicts call for; when it had (or the deadline)."""
    while time.monotonic() < deadline:
        if stage.writer.counts["strikes_model"] + stage.writer.counts["strikes_flood"] >= expected:
            break
        time.sleep(0.05)
    return time.monotonic()


def paced(endpoint: str, state: Path, rate: float, seconds: float, traffic: Traffic) -> dict[str, Any]:
    stage = Stage(endpoint, state)
    put_at: dict[str, float] = {}
    sent: list[Verdict] = []
    stage.thread.start()
    start = time.monotonic()
    for second in range(int(seconds)):
        batch = traffic.verdicts(int(rate), datetime.now(UTC))
        now = time.monotonic()
        _put(stage.kinesis, stage.stream, batch)
        put_at |= {str(v.message_id): now for v in batch if v.action is Action.REMOVE}
        sent += batch
        time.sleep(max(0.0, start + second + 1 - time.monotonic()))
    put_done = time.monotonic()
    expected = len(expected_strikes(sent, [], PolicyBook(), WINDOW_S))
    caught_up = _caught_up(stage, expected, put_done + 120)
    stage.stop.set()
    stage.thread.join(30)
    latencies = [stage.sent[m] - put_at[m] for m in stage.sent if m in put_at]
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "verdicts": len(sent),
        "removals": len(put_at),
        "strikes_expected": expected,
        "escalations": len(stage.sent),
        "lag_after_last_put_s": round(caught_up - put_done, 2),
        "p50_verdict_to_escalation_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_verdict_to_escalation_s": round(_percentile(latencies, 0.99), 3) if latencies else None,
        "counts": dict(stage.writer.counts),
    }


def drain(endpoint: str, state: Path, backlog: int, traffic: Traffic) -> dict[str, Any]:
    stage = Stage(endpoint, state)
    verdicts = traffic.verdicts(backlog, datetime.now(UTC) - timedelta(minutes=5))
    _put(stage.kinesis, stage.stream, verdicts)
    verdict_follower, _ = stage.followers
    cpu, wall = time.process_time(), time.perf_counter()
    read = 0
    while read < backlog:
        read += verdict_follower.poll(stage.writer.verdicts, stage.writer.counts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "verdicts": backlog,
        "removals": sum(v.action is Action.REMOVE for v in verdicts),
        "verdicts_per_s": round(backlog / wall, 1),
        "writer_cpu_us_per_verdict": round(cpu / backlog * 1e6, 1),
        "escalations": len(stage.sent),
        "counts": dict(stage.writer.counts),
    }


def measure(
    rates: Sequence[float], seconds: float, backlog: int, users: int, removed: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = MotoServer(free_port(), Path(tmp) / "moto.log")
        server.start()
        try:
            if server.process is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
                os.sched_setaffinity(server.process.pid, set(range(1, os.cpu_count() or 2)))
            traffic = Traffic(users, removed)
            result_paced = []
            for rate in rates:
                _say(f"paced: {rate:.0f} verdicts/s for {seconds:.0f} s …")
                result_paced.append(paced(server.endpoint_url, Path(tmp), rate, seconds, traffic))
            _say(f"drain: {backlog:,} verdicts as fast as the writer reads …")
            result_drain = drain(server.endpoint_url, Path(tmp), backlog, traffic)
        finally:
            server.stop()
    return {"users": users, "removed_share": removed, "paced": result_paced, "drain": result_drain}


LATEST = "strikes-latest.json"


def render(results: dict[str, Any]) -> str:
    """The writer's throughput and the time from a verdict to its escalation, against the goals."""
    drained = results["drain"]

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    lines = [
        "| measure | goal | measured |",
        "|---|---|---|",
        f"| verdicts/s, one writer draining a backlog of {drained['verdicts']:,} "
        f"({drained['removals']:,} removals) | ≥ 1,000 | {drained['verdicts_per_s']:,.0f} |",
        f"| the writer's CPU per verdict | — | {drained['writer_cpu_us_per_verdict']:,.0f} µs |",
    ]
    for paced in results["paced"]:
        lines += [
            f"| paced at {paced['rate_per_s']:,.0f} verdicts/s for {paced['seconds']:.0f} s: still behind "
            f"after the last put | keeps up | {seconds(paced['lag_after_last_put_s'])} |",
            f"| … verdict → escalation, p50 / p99 ({paced['escalations']:,} escalations) | p99 < 2 s | "
            f"{seconds(paced['p50_verdict_to_escalation_s'])} / "
            f"{seconds(paced['p99_verdict_to_escalation_s'])} |",
        ]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any]) -> Path:
    return write_named("strikes", {"machine": machine(), **result})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.strikes", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="300,1000", help="paced rates, verdicts/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--removed", type=float, default=0.1)
    parser.add_argument("--pinned-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pinned_child:
        rates = [float(r) for r in args.rates.split(",")]
        print(json.dumps(measure(rates, args.seconds, args.backlog, args.users, args.removed)))
        return 0
    options = {k: getattr(args, k) for k in ("rates", "seconds", "backlog", "users", "removed")}
    result = run_pinned("benchmarks.strikes", "--pinned-child", *(f"--{k}={v}" for k, v in options.items()))
    print(f"results: {write(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
