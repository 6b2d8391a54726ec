"""`python -m training train|evaluate|rollback|serve`: train and promote, evaluate a model, roll back, or
serve the flow as a deployment."""

import argparse
import contextlib
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from training.settings import TrainingSettings


def _train(args: argparse.Namespace, settings: TrainingSettings) -> int:
    """Train, register and promote: exit 1 when a gate (behaviour, evasion, bias) refused the version,
    naming each failure on one line of stderr; 0 when it was promoted or the champion compared better."""
    from training.flow import train_flow  # noqa: PLC0415 - Prefect is slow to import; only when needed

    if args.data_dir:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    if args.experiment:
        settings = settings.model_copy(update={"experiment": args.experiment})
    result = train_flow(settings=settings, extra_labels=args.extra_labels, trigger="cli")
    if args.json:
        print(result.model_dump_json())
    else:
        table = Table(title=f"{settings.model_name} version {result.version}")
        table.add_column("test set")
        table.add_column("ROC-AUC", justify="right")
        for name, auc in result.test_roc_auc.items():
            table.add_row(name, f"{auc:.4f}")
        Console().print(table)
    # stdout carries the JSON alone; a refusal is an error
    print(result.outcome(), file=sys.stderr if args.json or result.refused_by else sys.stdout, flush=True)
    return 1 if result.refused_by else 0


def _evaluate(args: argparse.Namespace, settings: TrainingSettings) -> int:
    """Score a labelled file through the registered model as served: exit 2 when the input is wrong,
    1 when the model cannot be loaded or returns no usable scores."""
    from training.file_evaluation import CategoryError, ModelError, category_scores, file_report  # noqa: PLC0415
    from training.labelled_file import FileLayout, LabelledFileError, read_labelled_file  # noqa: PLC0415

    layout = FileLayout(args.separator, args.columns)
    try:  # the file first: a wrong column or label fails before the model is loaded
        labelled = read_labelled_file(args.data, args.text_column, args.label_column, args.positive, layout)
        output = _predict(args.model_uri, settings, labelled.texts)
        scores = category_scores(output, args.category, labelled.n)
    except (LabelledFileError, CategoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    report = file_report(labelled, scores, args.category, args.model_uri, args.data)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    table = Table(title=f"{args.model_uri} on {args.data}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.rows().items():
        table.add_row(key, value)
    Console().print(table)
    return 0


def _predict(model_uri: str, settings: TrainingSettings, texts: list[str]) -> object:
    """What the registered model returns for the texts: `mlflow.pyfunc.load_model(uri).predict(frame)`."""
    import mlflow.pyfunc  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    from training.features import TEXT_COLUMN  # noqa: PLC0415
    from training.file_evaluation import ModelError  # noqa: PLC0415

    uri = settings.resolved_tracking_uri
    store = Path(uri.removeprefix("sqlite:///").partition("?")[0])
    if uri.startswith("sqlite:///") and not store.is_file():  # MLflow would create an empty one
        raise ModelError(f"cannot load {model_uri}: no MLflow store at {store} (set MLFLOW_TRACKING_URI)")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # else the first registry URI of the process sticks
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the result alone
        try:
            model = mlflow.pyfunc.load_model(model_uri)
        except (MlflowException, OSError) as err:
            raise ModelError(f"cannot load {model_uri}: {str(err).strip().splitlines()[0]}") from err
        return model.predict(pd.DataFrame({TEXT_COLUMN: texts}))


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


def _shadow(args: argparse.Namespace, settings: TrainingSettings) -> int:
    """Publish a version as the challenger the consumer shadow-scores with, or withdraw it."""
    import getpass  # noqa: PLC0415

    from training import registry  # noqa: PLC0415

    who = f"shadow by {getpass.getuser()}"
    if args.stop:
        gone = registry.withdraw_challenger(settings, who)
        print(f"challenger: {'version ' + gone + ' withdrawn' if gone else 'none was published'}")
        return 0
    manifest = registry.publish_challenger(settings, registry.client(settings), args.version, who)
    where = f"s3://{settings.models_bucket}/{settings.challenger_manifest_key}"
    print(f"challenger: version {manifest.version} shadow-scored, {where} (token {manifest.fencing_token})")
    return 0


def _canary(args: argparse.Namespace, settings: TrainingSettings) -> int:
    """Serve a version on a share of channels, widen its share, or end it (completed or rolled back)."""
    import getpass  # noqa: PLC0415

    from training import registry  # noqa: PLC0415

    who = f"canary by {getpass.getuser()}"
    if args.widen is not None:
        widened = registry.widen_canary(settings, args.widen, who)
        print(f"canary: {f'version {widened.version} serves {args.widen:.0%}' if widened else 'none serves'}")
        return 0
    if args.complete or args.rollback:
        what = "completed" if args.complete else "rolled back"
        ended = registry.end_canary(
            settings, registry.client(settings), who, args.complete, f"{what} by hand"
        )
        print(f"canary: {f'version {ended} {what}' if ended else 'none served'}")
        return 0
    manifest = registry.start_canary(settings, registry.client(settings), args.version, args.share, who)
    where = f"s3://{settings.models_bucket}/{settings.canary_manifest_key}"
    print(f"canary: version {manifest.version} serves {args.share:.0%} of channels, {where}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from training.flow import train_flow  # noqa: PLC0415

    # One training at a time: the deployment's own concurrency limit.
    train_flow.serve(name="train", cron=args.cron, global_limit=1, parameters={"trigger": "schedule"})
    return 0


def _column_names(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(","))
    if not all(names) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"{value!r}: name every column once, separated by commas")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run one training command."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train, register and (if better) promote a model",
        description="Exit codes: 0 promoted, or not promoted because the champion compared better; 1 "
        "refused by a gate (behaviour, evasion, bias), each failure named on one line of stderr.",
    )
    train.add_argument("--data-dir", type=Path, default=None)
    train.add_argument(
        "--extra-labels", type=Path, action="append", default=[], help="labelled CSV (text,label)"
    )
    train.add_argument("--experiment", default=None)
    train.add_argument("--json", action="store_true", help="print the result as one JSON line")
    ev = sub.add_parser(
        "evaluate",
        help="score a labelled CSV/TSV through the registered model as served",
        description="Exit codes: 0 done, 2 bad arguments or input (file, columns, labels, category), "
        "1 the model cannot be loaded or scored.",
    )
    ev.add_argument("--model-uri", default=None, help="default: models:/<model>@champion")
    ev.add_argument("--data", type=Path, required=True, help="the labelled file")
    ev.add_argument("--text-column", default="text")
    ev.add_argument("--label-column", default="label")
    ev.add_argument(
        "--positive",
        nargs="+",
        action="extend",
        default=None,
        metavar="VALUE",
        help="label values that count as 1, compared case-insensitively (default: 1 true); others are 0",
    )
    ev.add_argument("--category", default="removal", help="the category to score (default: removal)")
    ev.add_argument(
        "--separator",
        default=",",
        type=lambda s: "\t" if s == "\\t" else s,
        choices=[",", "\t"],
        help="',' (default) or a tab ('\\t')",
    )
    ev.add_argument("--no-header", action="store_true", help="the first row is data: name the columns")
    ev.add_argument("--columns", type=_column_names, default=None, metavar="NAME,NAME,...")
    ev.add_argument("--json", action="store_true", help="print the report as one JSON document")
    rollback = sub.add_parser("rollback", help="move the champion alias to an earlier version")
    rollback.add_argument("--version", required=True)
    shadow = sub.add_parser(
        "shadow",
        help="publish a registered version as the challenger the consumer shadow-scores with (or --stop)",
    )
    which = shadow.add_mutually_exclusive_group(required=True)
    which.add_argument("--version")
    which.add_argument("--stop", action="store_true", help="withdraw the challenger: shadow scoring stops")
    canary = sub.add_parser(
        "canary",
        help="serve a registered version on a share of channels (--version, --share); --widen, --complete "
        "or --rollback it",
    )
    step = canary.add_mutually_exclusive_group(required=True)
    step.add_argument("--version")
    step.add_argument("--widen", type=float, metavar="SHARE", help="the canary serves this share now")
    step.add_argument("--complete", action="store_true", help="the canary becomes the champion")
    step.add_argument("--rollback", action="store_true", help="the champion serves every channel again")
    canary.add_argument("--share", type=float, default=0.1, help="of channels, at the start (default 0.1)")
    serve = sub.add_parser("serve", help="serve train_flow as a deployment on the Prefect server")
    serve.add_argument("--cron", default=None, help="e.g. '0 3 * * *' for a nightly retraining")
    args = parser.parse_args(argv)
    if args.command == "evaluate" and args.no_header != (args.columns is not None):
        parser.error("--no-header and --columns go together: a file without a header needs its columns named")
    settings = TrainingSettings()
    if args.command == "train":
        return _train(args, settings)
    if args.command == "rollback":
        return _rollback(args, settings)
    if args.command == "shadow":
        return _shadow(args, settings)
    if args.command == "canary":
        return _canary(args, settings)
    if args.command == "evaluate":
        args.model_uri = args.model_uri or f"models:/{settings.model_name}@champion"
        return _evaluate(args, settings)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
