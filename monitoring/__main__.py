"""`python -m monitoring check|serve`: one drift check now, or the check served on a schedule."""

import argparse
import sys

from monitoring.settings import MonitoringSettings


def main(argv: list[str] | None = None) -> int:
    """Run one monitoring command."""
    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check the latest archive window for drift (and retrain on drift)")
    check.add_argument("--no-retrain", action="store_true")
    serve = sub.add_parser("serve", help="serve drift_check_flow as a deployment on the Prefect server")
    serve.add_argument("--interval", type=float, default=300.0, help="seconds between checks")
    args = parser.parse_args(argv)
    from monitoring.flow import drift_check_flow  # noqa: PLC0415 - Prefect is slow to import

    if args.command == "check":
        settings = MonitoringSettings()
        if args.no_retrain:
            settings = settings.model_copy(update={"retrain_on_drift": False})
        result = drift_check_flow(settings=settings)
        print(result.model_dump_json(indent=2, exclude={"training"}))
        if result.training:
            print(result.training.model_dump_json(indent=2))
        return 0
    # One check at a time; retraining inside it is serialised the same way.
    drift_check_flow.serve(name="drift-check", interval=args.interval, global_limit=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
