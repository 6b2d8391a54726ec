"""`python -m producer_sim publish|bot`: the chat platform — servers replaying real messages into
`chat-messages`, and the moderation bot acting on `verdicts`."""

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from threading import Event

import httpx

from contracts.dead_letter import RejectReason
from producer_sim.appeals import PASS_EVERY_S, Appellants, OutcomeReader
from producer_sim.bot import Bot, TruthFile, summary
from producer_sim.communities import Community
from producer_sim.dlq import replay_dead_letters
from producer_sim.moderators import QueueModerators, human_decisions
from producer_sim.settings import ProducerSettings
from producer_sim.traffic import publish
from runtime import aws
from runtime.errors import AwsError
from runtime.progress import write_progress
from training.corpora import DataFileError


def run_bot(settings: ProducerSettings, idle_exit: float | None) -> int:
    """Run the moderation bot until Ctrl-C (or idle)."""
    outcomes = None
    if settings.review_url is not None:  # beside the review app: restore what its appeals overturn
        s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
        outcomes = OutcomeReader(
            s3,
            settings.archive_bucket,
            settings.statements_prefix,
            settings.bot_state_dir / "outcomes-read.txt",
        )
    bot = Bot.from_settings(settings, human=human_decisions(settings), outcomes=outcomes)
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(summary(bot.run(stop, idle_exit)))
    return 0


def run_moderators(settings: ProducerSettings) -> int:
    """Work the review app's queue as the simulated moderators until Ctrl-C."""
    if settings.review_url is None or settings.moderator_credentials is None:
        print("error: set PRODUCER_REVIEW_URL and PRODUCER_MODERATOR_CREDENTIALS", file=sys.stderr)
        return 2
    moderators = QueueModerators(
        settings.review_url,
        json.loads(settings.moderator_credentials.read_text()),
        [f"channel-{i:02d}" for i in range(settings.channels)],
        settings.ground_truth_path,
        settings.review_decision_share,
        settings.seed,
        settings.bot_state_dir / "moderators.json",
        appeals=settings.appeal_token is not None,
    )
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"event": "moderators_report", **moderators.run(stop)}))
    return 0


def run_appellants(settings: ProducerSettings, interval_s: float = PASS_EVERY_S) -> int:
    """File the simulated users' appeals of their restrictions until Ctrl-C, a pass every `interval_s`."""
    if settings.review_url is None or settings.appeal_token is None:
        print("error: set PRODUCER_REVIEW_URL and PRODUCER_APPEAL_TOKEN", file=sys.stderr)
        return 2
    appellants = Appellants(
        aws.client("s3", settings.aws_endpoint_url, settings.aws_region),
        settings.archive_bucket,
        settings.statements_prefix,
        settings.review_url,
        settings.appeal_token.get_secret_value(),
        settings.seed,
        settings.appeal_share,
        settings.wrong_appeal_share,
    )
    truth = TruthFile(settings.ground_truth_path)
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    progress = settings.bot_state_dir / "appellants.json"
    while not stop.is_set():
        started = time.time()
        try:
            filed = appellants.poll(truth.refresh())
        except (AwsError, httpx.HTTPError) as err:  # the bucket or the app not answering: next pass
            appellants.counts[f"error_{type(err).__name__}"] += 1
        else:
            write_progress(
                progress, started, {"filed": filed, "pending": appellants.pending, **appellants.counts}
            )
        stop.wait(interval_s)
    print(json.dumps({"event": "appellants_report", **appellants.counts}))
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
    sub.add_parser("moderate", help="the moderators: decide the review app's queue through its API")
    sub.add_parser("appeal", help="the users: appeal restrictions through the review app's appeal endpoint")
    args = parser.parse_args(argv)
    settings = ProducerSettings()
    if args.command == "bot":
        return run_bot(settings, args.idle_exit)
    if args.command == "moderate":
        return run_moderators(settings)
    if args.command == "appeal":
        return run_appellants(settings)
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
