"""`python -m local_esm run`: the consumer's handler, in-process, against a real (or emulated) Kinesis
stream, through the local event source mapping."""

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from threading import Event

from local_esm.runner import LocalRunner
from runtime import aws
from runtime.checkpoints import CheckpointStore
from stream_consumer.handler import consumer, lambda_handler
from stream_consumer.settings import ConsumerSettings


def main(argv: list[str] | None = None) -> int:
    """Run the local event source mapping until Ctrl-C (or until idle, with --idle-exit)."""
    parser = argparse.ArgumentParser(prog="python -m local_esm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="poll every shard and invoke the handler in-process")
    run.add_argument("--idle-exit", type=float, default=None, help="stop after this many idle seconds")
    run.add_argument("--checkpoints", type=Path, default=None, help="checkpoint file (default: per stream)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = ConsumerSettings()
    kinesis = aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region)
    sqs = aws.client("sqs", settings.aws_endpoint_url, settings.aws_region)
    store = CheckpointStore(args.checkpoints or settings.checkpoint_dir / f"{settings.input_stream}.json")
    runner = LocalRunner(settings, lambda_handler, kinesis, sqs, store)
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stats = runner.run(stop, args.idle_exit)
    print(json.dumps({"event": "runner_stopped", **stats.__dict__, "totals": dict(consumer().totals)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
