"""`python -m monitoring check|serve|erase`: one drift check now, the check served on a schedule, or
the erasure of one user's data (archive, feedback, dead letters) on request."""

import argparse
import logging
import sys

from monitoring.settings import MonitoringSettings


def main(argv: list[str] | None = None) -> int:
    """Run one monitoring command."""
    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check the latest archive window for drift (and retrain on drift)")
    check.add_argument("--no-retrain", action="store_true")
    check.add_argument(
        "--json", action="store_true", help="print the result (with any retraining) as one line"
    )
    serve = sub.add_parser("serve", help="serve drift_check_flow as a deployment on the Prefect server")
    serve.add_argument("--interval", type=float, default=300.0, help="seconds between checks")
    erase = sub.add_parser(
        "erase", help="erase one user's archived messages, the feedback on them and their dead letters"
    )
    erase.add_argument("--user", required=True, metavar="USER_ID", help="the user_id of the chat messages")
    erase.add_argument("--dry-run", action="store_true", help="only report what would be erased")
    args = parser.parse_args(argv)
    if args.command == "erase":
        return _erase(args.user, args.dry_run)
    from monitoring.flow import drift_check_flow  # noqa: PLC0415 - Prefect is slow to import

    if args.command == "check":
        settings = MonitoringSettings()
        if args.no_retrain:
            settings = settings.model_copy(update={"retrain_on_drift": False})
        result = drift_check_flow(settings=settings)
        if args.json:
            print(result.model_dump_json())
            return 0
        print(result.model_dump_json(indent=2, exclude={"training"}))
        if result.training:
            print(result.training.model_dump_json(indent=2))
        return 0
    # One check at a time; retraining inside it is serialised the same way.
    drift_check_flow.serve(name="drift-check", interval=args.interval, global_limit=1)
    return 0


def _erase(user_id: str, dry_run: bool) -> int:
    """Print the erasure report (JSON); exit 1 when something that could hold the user was unreadable."""
    from monitoring.erasure import erase_user  # noqa: PLC0415
    from review.store import ReviewStore  # noqa: PLC0415
    from runtime import aws  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    settings = MonitoringSettings()
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    sqs = aws.client("sqs", settings.aws_endpoint_url, settings.aws_region)
    queue_url = sqs.get_queue_url(QueueName=settings.dead_letter_queue)["QueueUrl"]
    dynamodb = aws.client(
        "dynamodb", settings.dynamodb_endpoint_url or settings.aws_endpoint_url, settings.aws_region
    )
    report = erase_user(
        s3,
        settings.archive_bucket,
        settings.archive_prefix,
        settings.feedback_prefix,
        user_id,
        sqs,
        queue_url,
        dry_run=dry_run,
        review=ReviewStore(dynamodb, settings.review_table),
    )
    print(report.model_dump_json(indent=2))
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
