"""put → verdict latency through an emulator, at fixed rates, with the real runner and handler.

For each rate: a fresh stack, the champion published, `python -m local_esm run` started,
real r/science messages published at that rate for a fixed time; latency = the verdict record's
arrival on the output stream minus the message's `sent_at` (set just before PutRecords).
"""

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.verdict import Verdict
from infra.bootstrap import bootstrap
from infra.localstack import LocalStack, MotoServer, free_port
from producer_sim.communities import Community, load_community
from producer_sim.publisher import Publisher
from producer_sim.replay import OutgoingRecord, Replay, parse_mix
from runtime import aws
from runtime.kinesis import PutReport
from runtime.paths import PROJECT_ROOT
from runtime.retry import PollTimeoutError, poll_until
from runtime.stack import load_stack
from stream_consumer.settings import ConsumerSettings
from training.registry import upload_champion


class VerdictReader(threading.Thread):
    """Follows every shard of the output stream, recording each verdict's arrival time."""

    def __init__(self, endpoint: str, stream: str) -> None:
        super().__init__(daemon=True)
        self.kinesis = aws.client("kinesis", endpoint)
        self.stream = stream
        self.arrivals: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        shards = self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        iterators = {
            s["ShardId"]: self.kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for s in shards
        }
        while not self.stop.is_set():
            for sid, it in list(iterators.items()):
                resp = self.kinesis.get_records(ShardIterator=it, Limit=10_000)
                iterators[sid] = resp["NextShardIterator"]
                for r in resp["Records"]:
                    v = Verdict.model_validate_json(r["Data"])
                    self.arrivals.setdefault(str(v.message_id), r["ApproximateArrivalTimestamp"].timestamp())
            time.sleep(0.05)


def measure_rate(endpoint: str, rate: float, seconds: float, scorer: bytes, replay: Replay) -> dict[str, Any]:
    """One run at `rate` msg/s for `seconds`."""
    stack = load_stack().renamed(uuid.uuid4().hex[:6])
    bootstrap(stack, endpoint)
    upload_champion(
        aws.client("s3", endpoint),
        stack.models_bucket.name,
        "champion.json",
        "chat-moderation",
        "1",
        "bench",
        scorer,
        None,
        "bench",
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = ConsumerSettings.for_stack(
            stack, aws_endpoint_url=endpoint, checkpoint_dir=tmp, batching_window_s=0.1, poll_interval_s=0.05
        )
        quiet = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
        env = {**os.environ, **settings.to_env(), **quiet}
        runner = subprocess.Popen(
            [sys.executable, "-m", "local_esm", "run"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        reader = VerdictReader(endpoint, stack.output_stream.name)
        reader.start()
        try:
            publisher = Publisher(aws.client("kinesis", endpoint), stack.input_stream.name)
            # Warm up: wait until the runner answers, so its start-up is not counted as latency.
            warm: PutReport[OutgoingRecord] = PutReport()
            publisher.publish_batch(_restamp(list(replay.records(parse_mix("rscience:20")))), warm)
            poll_until(lambda: len(reader.arrivals) >= warm.sent, 60, "the runner answers", interval=0.1)
            report: PutReport[OutgoingRecord] = PutReport()
            total = int(rate * seconds)
            chunk = max(1, int(rate / 10))
            records = list(replay.records(parse_mix(f"rscience:{total}")))
            started = time.monotonic()
            for i in range(0, total, chunk):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                publisher.publish_batch(_restamp(records[i : i + chunk]), report)
            publish_s = time.monotonic() - started
            sent = {str(d.entry.message_id): d for d in report.delivered}
            with contextlib.suppress(PollTimeoutError):  # what never arrived is counted as missing
                poll_until(lambda: sent.keys() <= reader.arrivals.keys(), 60, "every verdict read")
        finally:
            reader.stop.set()
            runner.terminate()
            runner.wait(20)
    latencies = sorted(
        reader.arrivals[mid] - _sent_at(d.entry) for mid, d in sent.items() if mid in reader.arrivals
    )
    return {
        "rate_target": rate,
        "rate_achieved": len(sent) / publish_s,
        "messages": len(sent),
        "verdicts": len(latencies),
        "p50_s": statistics.median(latencies) if latencies else None,
        "p99_s": latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "max_s": latencies[-1] if latencies else None,
    }


def _restamp(records: list[OutgoingRecord]) -> list[OutgoingRecord]:
    """Give each record a `sent_at` of now, just before PutRecords (built ahead of time for pacing)."""
    now = datetime.now(UTC).isoformat()
    out = []
    for r in records:
        body = json.loads(r.data)
        body["sent_at"] = now
        out.append(
            OutgoingRecord(json.dumps(body).encode(), r.partition_key, r.message_id, r.truth, r.malformed)
        )
    return out


def _sent_at(record: OutgoingRecord) -> float:
    return datetime.fromisoformat(json.loads(record.data)["sent_at"]).timestamp()


def run(
    data_dir: Path, scorer_path: Path, emulator: str, rates: list[float], seconds: float
) -> dict[str, Any]:
    """All rates on one emulator; the highest rate whose p99 stayed under 1 s and fully drained."""
    replay = Replay({Community.RSCIENCE: load_community(data_dir, Community.RSCIENCE)}, seed=5)
    scorer = scorer_path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        server: LocalStack | MotoServer
        if emulator == "localstack":
            server = LocalStack(free_port(), Path(tmp))
        else:
            server = MotoServer(free_port(), Path(tmp) / "moto.log")
        server.start()
        try:
            runs = [measure_rate(server.endpoint_url, r, seconds, scorer, replay) for r in rates]
        finally:
            server.stop()
    ok = [
        r["rate_target"]
        for r in runs
        if r["p99_s"] is not None and r["p99_s"] < 1.0 and r["verdicts"] == r["messages"]
    ]
    return {
        "emulator": emulator,
        "seconds_per_rate": seconds,
        "runs": runs,
        "max_rate_p99_under_1s": max(ok, default=None),
    }
