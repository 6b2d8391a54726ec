"""`python -m training train|evaluate|rollback|serve`: train and promote, evaluate a model, roll back, or
serve the flow as a deployment."""

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from training.settings import TrainingSettings


def _train(args: argparse.Namespace, settings: TrainingSettings) -> int:
    from training.flow import train_flow  # noqa: PLC0415 - Prefect is slow to import; only when needed

    if args.data_dir:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    if args.experiment:
        settings = settings.model_copy(update={"experiment": args.experiment})
    result = train_flow(settings=settings, extra_labels=args.extra_labels, trigger="cli")
    if args.json:
        print(result.model_dump_json())
        return 0
    table = Table(title=f"{settings.model_name} version {result.version}")
    table.add_column("test set")
    table.add_column("ROC-AUC", justify="right")
    for name, auc in result.test_roc_auc.items():
        table.add_row(name, f"{auc:.4f}")
    console = Console()
    console.print(table)
    verdict = "[green]promoted to champion" if result.promoted else "[yellow]not promoted"
    console.print(f"{verdict}[/]: " + "; ".join(result.reasons))
    return 0


def _evaluate(args: argparse.Namespace, settings: TrainingSettings) -> int:
    import mlflow.pyfunc  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from training import registry  # noqa: PLC0415
    from training.data import load_labelled_csv  # noqa: PLC0415
    from training.evaluate import evaluate  # noqa: PLC0415
    from training.features import TEXT_COLUMN  # noqa: PLC0415

    registry.client(settings)
    items = load_labelled_csv(args.data, args.text_column, args.label_column)
    model = mlflow.pyfunc.load_model(args.model_uri)
    scores = model.predict(pd.DataFrame({TEXT_COLUMN: [i.text for i in items]}))
    report = evaluate(
        [i.y for i in items], scores, [args.data.stem] * len(items), [len(i.text) for i in items]
    )
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    table = Table(title=f"{args.model_uri} on {args.data}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.metrics().items():
        table.add_row(key, f"{value:.4f}")
    Console().print(table)
    return 0


def _rollback(args: argparse.Namespace, settings: TrainingSettings) -> int:
    """Point `champion` at an earlier version: alias and manifest, under the champion lock."""
    import getpass  # noqa: PLC0415

    from training import registry  # noqa: PLC0415

    client = registry.client(settings)
    current = registry.champion_version(client, settings.model_name)
    expected = str(current.version) if current else None
    who = f"rollback by {getpass.getuser()}"
    moved = registry.move_champion(settings, client, args.version, expected, who)
    where = f"manifest {moved.manifest_uri}" if moved.manifest_uri else "no manifest (publish is off)"
    print(f"champion: version {moved.replaced} -> {moved.version} (token {moved.token}); {where}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from training.flow import train_flow  # noqa: PLC0415

    # One training at a time: the deployment's own concurrency limit.
    train_flow.serve(name="train", cron=args.cron, global_limit=1, parameters={"trigger": "schedule"})
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one training command."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train, register and (if better) promote a model")
    train.add_argument("--data-dir", type=Path, default=None)
    train.add_argument(
        "--extra-labels", type=Path, action="append", default=[], help="labelled CSV (text,label)"
    )
    train.add_argument("--experiment", default=None)
    train.add_argument("--json", action="store_true", help="print the result as one JSON line")
    ev = sub.add_parser("evaluate", help="evaluate a registered model on a labelled CSV")
    ev.add_argument("--model-uri", default=None, help="default: models:/<model>@champion")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--text-column", default="text")
    ev.add_argument("--label-column", default="label")
    ev.add_argument("--json", action="store_true")
    rollback = sub.add_parser("rollback", help="move the champion alias to an earlier version")
    rollback.add_argument("--version", required=True)
    serve = sub.add_parser("serve", help="serve train_flow as a deployment on the Prefect server")
    serve.add_argument("--cron", default=None, help="e.g. '0 3 * * *' for a nightly retraining")
    args = parser.parse_args(argv)
    settings = TrainingSettings()
    if args.command == "train":
        return _train(args, settings)
    if args.command == "rollback":
        return _rollback(args, settings)
    if args.command == "evaluate":
        args.model_uri = args.model_uri or f"models:/{settings.model_name}@champion"
        return _evaluate(args, settings)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
