"""`python -m training evaluate` as scripts run it: a subprocess scoring a labelled file through a model
registered in a real MLflow store (sqlite), loaded as served (`models:/<name>@champion`)."""

import csv
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import average_precision_score, roc_auc_score

from contracts.categories import Category
from contracts.storage import SCORER_FILE
from runtime.paths import PROJECT_ROOT
from runtime.telemetry import QUIET
from training import registry
from training.corpora import Example, Source, load_all
from training.features import TEXT_COLUMN
from training.file_evaluation import category_scores
from training.train import ModelParams, fit

pytestmark = pytest.mark.integration

MODEL = "evaluate-cli"


@dataclass(frozen=True)
class Registered:
    """A store holding one registered champion, and a labelled file with the scores it gives."""

    tracking_uri: str
    data: Path
    labels: list[int]
    scores: list[float]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **QUIET, "MLFLOW_TRACKING_URI": self.tracking_uri}


def y(row: Example) -> int:
    return row.labels[Category.REMOVAL]


@pytest.fixture(scope="module")
def registered(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """A small r/science model logged and registered with the project's code, aliased `champion`, and
    200 other r/science rows (plus one empty text) written as the file to evaluate."""
    tmp = tmp_path_factory.mktemp("evaluate_cli")
    rows = random.Random(7).sample(load_all(data_dir, [Source.RSCIENCE]), 900)
    train, validation, held = rows[:500], rows[500:700], rows[700:]
    fit(train, validation, ModelParams(c_grid=(1.0,))).scorer.save(tmp / SCORER_FILE)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:  # MLflow exports its URIs to the environment: undo that
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MLFLOW_REGISTRY_URI", uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        experiment = mlflow.create_experiment(MODEL, artifact_location=(tmp / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            example = pd.DataFrame({TEXT_COLUMN: [r.text for r in validation[:3]]})
            model_uri = registry.log_model(tmp / SCORER_FILE, "model", example)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version = registry.register(client, MODEL, model_uri, run.info.run_id, {})
        client.set_registered_model_alias(MODEL, registry.CHAMPION, version.version)
        served = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
        output = served.predict(pd.DataFrame({TEXT_COLUMN: [r.text for r in held]}))
    data = tmp / "rscience.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["BODY", "REMOVED"])
        writer.writerows(
            [(r.text, y(r)) for r in held[:100]] + [("", 1)] + [(r.text, y(r)) for r in held[100:]]
        )
    scores = category_scores(output, "removal", len(held)).tolist()
    return Registered(uri, data, [y(r) for r in held], scores)


def _evaluate(registered: Registered, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["--model-uri", f"models:/{MODEL}@champion", "--text-column", "BODY", "--label-column", "REMOVED"]
    return subprocess.run(
        [sys.executable, "-m", "training", "evaluate", *argv, *args],
        cwd=PROJECT_ROOT,
        env=registered.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_json_report_scores_through_the_registered_model(registered: Registered) -> None:
    # WHEN a script evaluates the champion on the file
    done = _evaluate(registered, "--data", str(registered.data), "--json")
    # THEN it exits 0 and stdout is one JSON document whose ranking metrics are the served scores'
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["roc_auc"] == pytest.approx(roc_auc_score(registered.labels, registered.scores), abs=1e-12)
    assert report["pr_auc"] == pytest.approx(
        average_precision_score(registered.labels, registered.scores), abs=1e-12
    )
    assert report["category"] == "removal"
    assert report["n"] == len(registered.labels) == 200
    assert report["positives"] == sum(registered.labels)
    assert report["skipped_empty"] == 1
    assert report["model_uri"] == f"models:/{MODEL}@champion"
    assert 0.5 < report["roc_auc"] < 1.0  # a real model on real text, not a constant


def test_headerless_tab_file_gives_the_same_numbers_as_a_table(
    registered: Registered, tmp_path: Path
) -> None:
    # GIVEN the same rows as a headerless tab-separated file, labels written in words
    tsv = tmp_path / "rscience.tsv"
    with registered.data.open(newline="", encoding="utf-8") as src, tsv.open("w", newline="") as dst:
        rows = list(csv.reader(src))[1:]
        csv.writer(dst, delimiter="\t").writerows((t, "Removed" if y == "1" else "kept") for t, y in rows)
    # WHEN it is evaluated without --json
    args = ("--separator", "\\t", "--no-header", "--columns", "BODY,REMOVED", "--positive", "removed")
    done = _evaluate(registered, "--data", str(tsv), *args)
    # THEN the table shows the same ROC-AUC
    assert done.returncode == 0, done.stderr
    assert f"{roc_auc_score(registered.labels, registered.scores):.4f}" in done.stdout


def test_a_positive_value_no_row_has_exits_2(registered: Registered) -> None:
    done = _evaluate(registered, "--data", str(registered.data), "--positive", "yes", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {registered.data}: --positive 'yes' matches no row of column 'REMOVED', ")
    positives = sum(registered.labels)
    assert f"'0' ({200 - positives})" in last
    assert f"'1' ({positives})" in last


def test_a_category_the_model_does_not_score_exits_2(registered: Registered) -> None:
    done = _evaluate(registered, "--data", str(registered.data), "--category", "sentiment", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the model does not score category 'sentiment'; it scores ")
    assert "removal" in last
