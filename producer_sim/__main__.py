"""`python -m producer_sim publish|bot`: the chat platform — servers replaying real messages into
`chat-messages`, and the moderation bot acting on `verdicts`."""

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from threading import Event

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer_sim.bot import Bot, summary
from producer_sim.dlq import replay_dead_letters
from producer_sim.publisher import Publisher, PublishReport
from producer_sim.replay import OutgoingRecord, Replay, parse_mix
from producer_sim.settings import ProducerSettings
from runtime import aws
from runtime.kinesis import Delivered, batches
from stream_consumer.schemas import RejectReason
from training.data import Community, DataFileError, LabelledText, load_community


def paced(
    records: Iterable[OutgoingRecord], rate: float | None, batch: int
) -> Iterator[list[OutgoingRecord]]:
    """Release records in chunks so that, on average, `rate` records per second go out."""
    started = time.monotonic()
    released = 0
    chunk: list[OutgoingRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch:
            if rate:
                delay = started + (released + len(chunk)) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            released += len(chunk)
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def publish(
    settings: ProducerSettings,
    mix: str,
    rate: float | None = None,
    malformed: float = 0.0,
    seed: int | None = None,
    stream: str | None = None,
    ground_truth: Path | None = None,
    quiet: bool = False,
    on_delivered: Callable[[PublishReport, list[Delivered[OutgoingRecord]]], None] | None = None,
    select: Callable[[Community, list[LabelledText]], list[LabelledText]] | None = None,
) -> PublishReport:
    """Replay the mix schedule into the input stream and write the ground-truth side file.

    `on_delivered` sees the running report and each batch's records once delivered (live views);
    `select` narrows a community's texts (e.g. to those a model never trained on).
    """
    phases = parse_mix(mix, rate)
    total = sum(p.count for p in phases)
    communities = {c for p in phases for c in p.weights}
    pools = {c: load_community(settings.data_dir, c) for c in communities}
    if select is not None:
        pools = {c: select(c, pool) for c, pool in pools.items()}
    replay = Replay(pools, settings.channels, settings.users, malformed, seed or settings.seed)
    kinesis = aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region)
    publisher = Publisher(kinesis, stream or settings.input_stream, settings.max_put_attempts)
    report = PublishReport()
    # Chunks of ~1/10 s of traffic keep a paced stream smooth; unpaced, fill whole PutRecords calls.
    chunk = max(1, min(500, int(rate / 10))) if rate else 500
    truth_path = ground_truth or settings.ground_truth_path
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (
        truth_path.open("a", encoding="utf-8") as truth_file,
        Progress(
            TextColumn("[bold]publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.0f} msg/s  retried {task.fields[retried]}"),
            TimeElapsedColumn(),
            disable=quiet,
        ) as progress,
    ):
        task = progress.add_task("publish", total=total, rate=0.0, retried=0)
        for released in paced(replay.records(phases), rate, chunk):
            for batch in batches(released):
                before = report.sent
                publisher.publish_batch(batch, report)
                delivered = report.delivered[before:]
                for d in delivered:
                    if d.entry.truth is not None:
                        truth_file.write(d.entry.truth.model_dump_json() + "\n")
                truth_file.flush()  # the bot reads the side file while messages are still going out
                if on_delivered is not None:
                    on_delivered(report, delivered)
                elapsed = max(time.monotonic() - started, 1e-9)
                progress.update(
                    task, advance=len(batch), rate=report.sent / elapsed, retried=report.retried_records
                )
    return report


def run_bot(settings: ProducerSettings, idle_exit: float | None) -> int:
    """Run the moderation bot until Ctrl-C (or idle)."""
    bot = Bot(
        aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region),
        aws.client("s3", settings.aws_endpoint_url, settings.aws_region),
        settings.output_stream,
        settings.archive_bucket,
        settings.feedback_prefix,
        settings.ground_truth_path,
        settings.bot_state_dir,
        settings.review_decision_share,
        settings.sample_decision_share,
        settings.moderators,
        settings.seed,
    )
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(summary(bot.run(stop, idle_exit)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the simulator."""
    parser = argparse.ArgumentParser(prog="python -m producer_sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="replay real chat messages into the input stream")
    pub.add_argument("--mix", default=f"{Community.RSCIENCE}:1000", help="e.g. rscience:3000,tweets:2000")
    pub.add_argument(
        "--rate", type=float, default=None, help="messages per second (default: as fast as possible)"
    )
    pub.add_argument("--malformed", type=float, default=0.0, help="share of poison records, 0..1")
    pub.add_argument("--stream", default=None, help="override the input stream name")
    pub.add_argument("--ground-truth", type=Path, default=None, help="side file of labels (JSON Lines)")
    pub.add_argument("--seed", type=int, default=None)
    pub.add_argument("--quiet", action="store_true", help="no progress bar")
    dlq = sub.add_parser("replay-dlq", help="re-publish dead-lettered records to the input stream")
    dlq.add_argument("--reason", action="append", default=None, help="only these reject reasons (repeatable)")
    dlq.add_argument("--max", type=int, default=10_000)
    dlq.add_argument("--dry-run", action="store_true")
    bot = sub.add_parser("bot", help="the moderation bot: act on verdicts, send moderator feedback")
    bot.add_argument("--idle-exit", type=float, default=None, help="stop after this many idle seconds")
    args = parser.parse_args(argv)
    settings = ProducerSettings()
    if args.command == "bot":
        return run_bot(settings, args.idle_exit)
    if args.command == "replay-dlq":
        sqs = aws.client("sqs", settings.aws_endpoint_url, settings.aws_region)
        result = replay_dead_letters(
            sqs,
            sqs.get_queue_url(QueueName=settings.dead_letter_queue)["QueueUrl"],
            aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region),
            settings.input_stream,
            frozenset(RejectReason(r) for r in args.reason) if args.reason else None,
            args.max,
            args.dry_run,
        )
        print(
            json.dumps({"event": "dlq_replay", "replayed": result.replayed, "skipped": dict(result.skipped)})
        )
        return 0
    started = time.monotonic()
    try:
        report = publish(
            settings,
            args.mix,
            args.rate,
            args.malformed,
            args.seed,
            args.stream,
            args.ground_truth,
            args.quiet,
        )
    except (DataFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    summary = {
        "event": "publish_done",
        "sent": report.sent,
        "undelivered": len(report.undelivered),
        "put_calls": report.put_calls,
        "retried_records": report.retried_records,
        "error_codes": report.error_codes,
        "seconds": round(elapsed, 2),
        "msg_per_s": round(report.sent / elapsed, 1) if elapsed else None,
    }
    print(json.dumps(summary))
    return 1 if report.undelivered else 0


if __name__ == "__main__":
    sys.exit(main())
