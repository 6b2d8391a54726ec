"""`python -m strikes`: the strikes writer (verdicts and decisions → strikes → escalations), until
interrupted."""

import argparse
import contextlib
import signal
import threading
from collections import Counter

from runtime import aws
from runtime.logs import structured_logger
from runtime.policies import PolicySource
from strikes.settings import StrikesSettings
from strikes.store import StrikeStore, ensure_table
from strikes.writer import DecisionFollower, EscalationQueue, StrikeWriter, VerdictFollower, run

log = structured_logger("strikes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m strikes", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    settings = StrikesSettings()
    endpoint, region = settings.aws_endpoint_url, settings.aws_region
    dynamodb = aws.client("dynamodb", settings.dynamodb_endpoint_url or endpoint, region)
    ensure_table(dynamodb, settings.strikes_table)  # Terraform makes it in AWS; locally, the first run
    s3 = aws.client("s3", endpoint, region)
    sqs = aws.client("sqs", endpoint, region)
    queue_url = sqs.get_queue_url(QueueName=settings.escalations_queue)["QueueUrl"]
    writer = StrikeWriter(
        store=StrikeStore(dynamodb, settings.strikes_table),
        send=EscalationQueue(sqs, queue_url).send,
        policies=PolicySource(s3, settings.models_bucket, settings.policy_key),
        window_s=settings.window_s,
        counts=Counter(),
    )
    verdicts = VerdictFollower(
        aws.client("kinesis", endpoint, region), settings.output_stream, settings.state_dir
    )
    decisions = DecisionFollower(
        s3, settings.archive_bucket, settings.feedback_prefix, settings.state_dir, settings.decisions_every_s
    )
    log.info({"event": "strikes_started", "table": settings.strikes_table})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # a pass ends whole; the next run resumes after it
        signal.signal(sig, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        run(
            writer,
            verdicts,
            decisions,
            stop,
            settings.interval_s,
            settings.state_dir / "progress.json",
            settings.idle_interval_max_s,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
