"""`python -m monitoring check|serve|erase|audit|transparency|shadow|promote|canary|serve-promotions`:
one drift check now, the check served on a schedule, the erasure of one user's data (archive, feedback,
dead letters) on request, the audit trail (every chain verified, one message's story, one model
version's life), the period's transparency report, the challenger against the champion on live labels,
one live promotion check, one check of the canary, or the live promotion and canary checks served on a
schedule."""

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from monitoring.cli import print_check, share, shares
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
    audit = sub.add_parser("audit", help="verify the audit trail, or tell one message's or model's story")
    what = audit.add_mutually_exclusive_group(required=True)
    what.add_argument("--verify", action="store_true", help="check every chain (exit 1 on any problem)")
    what.add_argument("--message", metavar="ID", help="a message from its arrival to its last action")
    what.add_argument("--model", metavar="VERSION", help="a model version's promotion, actions and rollback")
    transparency = sub.add_parser("transparency", help="the period's transparency report (JSON and CSV)")
    transparency.add_argument(
        "--from", dest="start", required=True, type=date.fromisoformat, help="YYYY-MM-DD"
    )
    transparency.add_argument("--to", dest="end", required=True, type=date.fromisoformat, help="exclusive")
    transparency.add_argument("--out", type=Path, default=Path(".data/reports"), help="where the files go")
    _live_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "canary":
        return _canary(args.margin, args.min_labels, args.json, args.steps, args.category)
    if args.command == "promote":
        return _promote(args.margin, args.min_labels, args.canary_share, args.json, args.category)
    if args.command == "serve-promotions":
        return _serve_promotions(args.interval)
    if args.command == "shadow":
        return _shadow(args.margin, args.min_labels, args.json, args.category)
    if args.command == "transparency":
        return _transparency(args.start, args.end, args.out)
    if args.command == "erase":
        return _erase(args.user, args.dry_run)
    if args.command == "audit":
        return _audit(args.verify, args.message, args.model)
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


def _shadow(margin: float, min_labels: int, as_json: bool, categories: list[str] | None) -> int:
    """Read the archive, the moderators' decisions and the channels' policies; print, per acting
    category, both models' live estimates on the same labelled messages and whether they promote."""
    import dataclasses  # noqa: PLC0415
    import json  # noqa: PLC0415

    from contracts.categories import DEFAULT_ACTING  # noqa: PLC0415
    from monitoring.archive import read_archive, read_feedback  # noqa: PLC0415
    from monitoring.live import identity_check, live_decision, shadow_comparisons  # noqa: PLC0415
    from runtime import aws  # noqa: PLC0415
    from runtime.policies import PolicySource  # noqa: PLC0415

    settings = MonitoringSettings()
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    archived = read_archive(s3, settings.archive_bucket, settings.archive_prefix).messages
    decisions = read_feedback(s3, settings.archive_bucket, settings.feedback_prefix).decisions
    book = PolicySource(s3, settings.models_bucket, settings.policy_key)()
    compared = shadow_comparisons(archived, decisions, book, categories or [str(c) for c in DEFAULT_ACTING])
    decision = live_decision(compared, margin, min_labels, identity_check(archived, decisions, book))
    if as_json:
        print(
            json.dumps(
                {"compared": [dataclasses.asdict(c) for c in compared], **dataclasses.asdict(decision)}
            )
        )
        return 0
    for c in compared:
        print(
            f"{c.category}: {c.champion.n} labelled of {c.shadow_scored} shadow-scored "
            f"({c.disagreed} acted on otherwise); ROC-AUC champion {_fmt(c.champion.roc_auc)}, "
            f"challenger {_fmt(c.challenger.roc_auc)}; to review: champion "
            f"{_pct(c.review_shares[0] if c.review_shares else None)}, "
            f"challenger {_pct(c.review_shares[1] if c.review_shares else None)}; "
            f"automatic removals precise: {_pct(c.champion.remove_precision)} → "
            f"{_pct(c.challenger.remove_precision)}"
        )
    print(("promote: " if decision.promote else "keep the champion: ") + "; ".join(decision.reasons))
    return 0


def _live_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The commands of a model change on live evidence: shadow, promote, canary, serve-promotions."""
    shadow = sub.add_parser(
        "shadow", help="the challenger against the champion on the shadow-scored messages moderators labelled"
    )
    shadow.add_argument("--margin", type=float, default=0.01, help="the ROC-AUC gain a promotion needs")
    shadow.add_argument(
        "--min-labels", type=int, default=200, help="labelled messages per category, at least"
    )
    promote = sub.add_parser(
        "promote",
        help="run live_promotion_flow once: the challenger's canary starts if the live labels show a gain",
    )
    promote.add_argument("--margin", type=float, default=0.01, help="the ROC-AUC gain a promotion needs")
    promote.add_argument("--min-labels", type=int, default=200, help="labelled messages per category")
    promote.add_argument(
        "--canary-share", type=share, default=0.1, help="the canary's first share of channels"
    )
    canary = sub.add_parser(
        "canary", help="check the serving canary once: hold, widen, complete or roll it back on its evidence"
    )
    canary.add_argument("--margin", type=float, default=0.02, help="how much worse a signal may be")
    canary.add_argument("--min-labels", type=int, default=200, help="labelled messages per category")
    canary.add_argument(
        "--steps", type=shares, default=None, help="the shares it widens along, e.g. 0.1,0.5,1 (the default)"
    )
    for one in (shadow, promote, canary):
        one.add_argument(
            "--category",
            action="append",
            default=None,
            help="a category to compare (default: the acting ones)",
        )
        one.add_argument("--json", action="store_true", help="print the result as one JSON document")
    promotions = sub.add_parser(
        "serve-promotions",
        help="serve live_promotion_flow and canary_flow as deployments on the Prefect server",
    )
    promotions.add_argument("--interval", type=float, default=3600.0, help="seconds between checks")


def _promote(
    margin: float, min_labels: int, canary_share: float, as_json: bool, categories: list[str] | None
) -> int:
    """One live promotion check (it acts: the challenger's canary starts on a win); its result."""
    from monitoring.live_flow import live_promotion_flow  # noqa: PLC0415 - Prefect is slow to import

    result = live_promotion_flow(
        margin=margin, min_labels=min_labels, categories=categories, canary_share=canary_share
    )
    if result.challenger is None:
        return print_check(result, as_json, "no challenger is published", [])
    done = f"canary on {result.canary_share:g} of channels" if result.canary_share else "kept out"
    headline = f"challenger {result.challenger} over champion {result.champion_before}: {done}"
    return print_check(result, as_json, headline, result.reasons)


def _canary(
    margin: float, min_labels: int, as_json: bool, steps: list[float] | None, categories: list[str] | None
) -> int:
    """One check of the canary (it acts: a wider share, a completion or a rollback); its result."""
    from monitoring.canary import canary_flow  # noqa: PLC0415 - Prefect is slow to import

    result = canary_flow(margin=margin, min_labels=min_labels, steps=steps, categories=categories)
    if result.canary is None:
        return print_check(result, as_json, "no canary serves", [])
    action = result.action.value if result.action else "none"
    headline = f"canary {result.canary} at {result.share_before:g} over champion {result.champion}: {action}"
    return print_check(result, as_json, headline, result.reasons)


def _serve_promotions(interval: float) -> int:
    """The live promotion and the canary checks on a schedule, one run of each at a time."""
    from typing import cast  # noqa: PLC0415

    from prefect import serve  # noqa: PLC0415
    from prefect.deployments.runner import RunnerDeployment  # noqa: PLC0415

    from monitoring.canary import canary_flow  # noqa: PLC0415
    from monitoring.live_flow import live_promotion_flow  # noqa: PLC0415

    # to_deployment is sync-compatible: called outside an event loop it returns the deployment itself
    serve(
        *(
            cast(RunnerDeployment, f.to_deployment(name=name, interval=interval, concurrency_limit=1))
            for name, f in (("live-promotion", live_promotion_flow), ("canary", canary_flow))
        )
    )
    return 0


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _transparency(start: date, end: date, out: Path) -> int:
    """Write the period's transparency report as JSON and CSV under `out`, and print the JSON."""
    from monitoring.archive import read_outcomes, read_statements  # noqa: PLC0415
    from monitoring.transparency import as_csv, report  # noqa: PLC0415
    from runtime import aws  # noqa: PLC0415
    from runtime.audit import read_trail  # noqa: PLC0415

    settings = MonitoringSettings()
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    made = report(
        read_statements(s3, settings.archive_bucket, settings.statements_prefix),
        read_outcomes(s3, settings.archive_bucket, settings.statements_prefix),
        read_trail(s3, settings.audit_bucket, settings.audit_prefix).records(),
        start,
        end,
    )
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"transparency-{start.isoformat()}-{end.isoformat()}"
    stem.with_suffix(".json").write_text(made.model_dump_json(indent=2))
    stem.with_suffix(".csv").write_text(as_csv(made))
    print(made.model_dump_json(indent=2))
    return 0


def _audit(check: bool, message: str | None, model: str | None) -> int:
    """Print what was asked of the audit trail; with --verify, exit 1 when any chain is broken."""
    from uuid import UUID  # noqa: PLC0415

    from monitoring.archive import read_archive  # noqa: PLC0415
    from monitoring.audit import message_story, model_life, render  # noqa: PLC0415
    from runtime import aws  # noqa: PLC0415
    from runtime.audit import read_trail, verify_trail  # noqa: PLC0415

    settings = MonitoringSettings()
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    trail = read_trail(s3, settings.audit_bucket, settings.audit_prefix)
    if check:
        problems = verify_trail(trail)
        records = sum(len(c) for c in trail.chains.values())
        print(f"{len(trail.chains)} chains, {records} records: " + ("intact" if not problems else "BROKEN"))
        print("\n".join(problems))
        return 1 if problems else 0
    archived = read_archive(s3, settings.archive_bucket, settings.archive_prefix).messages
    steps = (
        message_story(trail, archived, UUID(message)) if message else model_life(trail, archived, model or "")
    )
    print(render(steps))
    return 0


def _erase(user_id: str, dry_run: bool) -> int:
    """Print the erasure report (JSON); exit 1 when something that could hold the user was unreadable."""
    from monitoring.erasure import erase_user, erasure_event  # noqa: PLC0415
    from review.store import ReviewStore  # noqa: PLC0415
    from runtime import aws  # noqa: PLC0415
    from runtime.audit import AuditLog  # noqa: PLC0415
    from runtime.errors import AwsError  # noqa: PLC0415
    from strikes.store import StrikeStore  # noqa: PLC0415

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
        strikes=StrikeStore(dynamodb, settings.strikes_table),
    )
    print(report.model_dump_json(indent=2))
    if not dry_run:
        trail = AuditLog(s3, settings.audit_bucket, settings.audit_prefix, "monitoring")
        try:
            trail.append([erasure_event(user_id, report.complete)])
        except AwsError as err:  # erased, but not on record: the operator must know
            print(f"error: the erasure is done but not in the audit trail ({err})", file=sys.stderr)
            return 1
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
