"""`python -m infra up|down|status|bootstrap`: the local AWS side of the stack."""

import argparse
import json
import logging
import shutil
import sys
import time

from infra.bootstrap import bootstrap
from infra.localstack import LocalStack, LocalStackError, health, is_ready
from infra.settings import InfraSettings
from runtime.stack import load_stack


def _up(settings: InfraSettings) -> int:
    if is_ready(settings.endpoint_url):
        print(f"emulator already running at {settings.endpoint_url}")
    elif settings.aws_endpoint_url:
        print(f"AWS_ENDPOINT_URL={settings.aws_endpoint_url} does not answer", file=sys.stderr)
        return 1
    else:
        shutil.rmtree(settings.data_dir, ignore_errors=True)  # LocalStack keeps no state across restarts
        localstack = LocalStack(settings.localstack_port, settings.data_dir)
        started = time.monotonic()
        try:
            localstack.start(settings.ready_timeout_s)
        except LocalStackError as err:
            print(err, file=sys.stderr)
            return 1
        print(f"LocalStack ready at {localstack.endpoint_url} in {time.monotonic() - started:.1f} s")
    result = bootstrap(load_stack(), settings.endpoint_url)
    print(f"stack bootstrapped; created: {', '.join(result.created) or 'nothing (all present)'}")
    return 0


def _down(settings: InfraSettings) -> int:
    localstack = LocalStack(settings.localstack_port, settings.data_dir)
    if not localstack.pid_path.exists():
        print("no LocalStack started by `make up` is running")
        return 0
    localstack.stop()
    print("LocalStack stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one infra command."""
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "bootstrap"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = InfraSettings()
    if args.command == "up":
        return _up(settings)
    if args.command == "down":
        return _down(settings)
    if args.command == "bootstrap":
        result = bootstrap(load_stack(), settings.endpoint_url)
        print(json.dumps({"created": result.created}))
        return 0
    doc = health(settings.endpoint_url)
    print(json.dumps(doc, indent=2) if doc else f"nothing answers at {settings.endpoint_url}")
    return 0 if doc else 1


if __name__ == "__main__":
    sys.exit(main())
