"""`train_flow`: load → split → fit → evaluate → register → promote, as a Prefect flow.

The only Prefect code of training; every step is a plain function underneath.
"""

import getpass
import json
import random
import socket
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from pydantic import BaseModel

from contracts.policy import DEFAULT_THRESHOLDS, ChannelPolicy
from contracts.storage import REFERENCE_FILE, SCORER_FILE, ReferenceRow, gzip_lines
from stream_consumer.scorer import LinearScorer
from training import registry
from training.adversarial import ALLOWED_TERM, EvasionFloors, EvasionReport, evasion_suite
from training.behaviour import BehaviourReport, run_behaviour_tests
from training.card import model_card
from training.data import (
    Community,
    LabelledText,
    Splits,
    dedupe_key,
    digest,
    load_davidson,
    load_labelled_csv,
    load_rscience,
    split,
)
from training.evaluate import EvalReport, evaluate
from training.features import TEXT_COLUMN
from training.plots import save_plots
from training.promotion import PromotionDecision, PromotionPolicy, decide
from training.settings import TrainingSettings
from training.train import ModelParams, TrainedModel, fit, serving_scores


class TrainResult(BaseModel):
    """What one run of the flow did."""

    run_id: str
    version: str
    promoted: bool
    reasons: list[str]
    champion_before: str | None
    test_roc_auc: dict[str, float]
    manifest_uri: str | None


class Datasets(BaseModel):
    """Labelled sets by name; the first is the original domain, the rest are new labelled data."""

    model_config = {"arbitrary_types_allowed": True}

    sets: dict[str, Splits]

    @property
    def train(self) -> list[LabelledText]:
        return [x for s in self.sets.values() for x in s.train]

    @property
    def validation(self) -> list[LabelledText]:
        return [x for s in self.sets.values() for x in s.validation]


@task
def load_and_split(
    settings: TrainingSettings, extra: Sequence[tuple[str, list[LabelledText]]] = ()
) -> Datasets:
    """The original r/science data plus any new labelled sets, each split on its own."""
    logger = get_run_logger()
    sets = {
        Community.RSCIENCE.value: split(
            load_rscience(settings.data_dir), settings.seed, settings.validation_share, settings.test_share
        )
    }
    for name, items in extra:
        sets[name] = split(items, settings.seed, settings.validation_share, settings.test_share)
    for name, s in sets.items():
        logger.info(
            "%s: train %d, validation %d, test %d (dropped %d duplicates, %d conflicting)",
            name,
            len(s.train),
            len(s.validation),
            len(s.test),
            s.duplicates_dropped,
            s.conflicts_dropped,
        )
    return Datasets(sets=sets)


@task
def fit_model(data: Datasets, params: ModelParams) -> TrainedModel:
    """Fit on the union of the train splits; choose C and calibrate on the union of validation splits."""
    model = fit(data.train, data.validation, params)
    get_run_logger().info(
        "chose C=%s (validation ROC-AUC by C: %s)", model.chosen_c, model.validation_auc_by_c
    )
    return model


def _report(scorer: LinearScorer, items: Sequence[LabelledText]) -> EvalReport:
    texts = [i.text for i in items]
    return evaluate(
        [i.y for i in items],
        serving_scores(scorer, texts),
        [i.community.value for i in items],
        [len(t) for t in texts],
    )


@task
def evaluate_on_tests(scorer: LinearScorer, data: Datasets) -> dict[str, EvalReport]:
    """The serving scorer on every test split (what the consumer would really output)."""
    return {name: _report(scorer, s.test) for name, s in data.sets.items() if s.test}


@task
def behaviour(scorer: LinearScorer, data: Datasets) -> BehaviourReport:
    """Behaviour tests on the model alone, with kept r/science texts as the benign sample."""
    benign = [x.text for x in data.sets[Community.RSCIENCE.value].validation if x.label == "allow"]
    return run_behaviour_tests(lambda texts: serving_scores(scorer, texts), benign)


@task
def evasion(settings: TrainingSettings, scorer: LinearScorer, data: Datasets) -> EvasionReport:
    """The evasion suite on held-out tweets (the Davidson test split, less any text the model trained
    on), through the serving path with a channel that allows `ALLOWED_TERM`."""
    trained_on = {dedupe_key(x.text) for x in data.train + data.validation}
    held_out = [
        x
        for x in split(load_davidson(settings.data_dir), settings.seed).test
        if dedupe_key(x.text) not in trained_on
    ]
    n = settings.evasion_messages
    toxic = [x.text for x in held_out if x.y == 1][:n]
    benign = [x.text for x in held_out if x.y == 0][:n]
    policy = ChannelPolicy(allow_terms=(ALLOWED_TERM,))
    report = evasion_suite(
        lambda texts: serving_scores(scorer, texts, policy), toxic, benign, DEFAULT_THRESHOLDS
    )
    get_run_logger().info("evasion suite: %d toxic removed in clean form, %d benign", len(toxic), len(benign))
    return report


def evasion_floors(settings: TrainingSettings) -> EvasionFloors:
    return EvasionFloors(
        still_flagged=settings.evasion_floor_flagged,
        still_removed=settings.evasion_floor_removed,
        false_flag_increase=settings.evasion_max_false_flag_increase,
    )


def _reference(scorer: LinearScorer, items: Sequence[LabelledText], size: int, seed: int, path: Path) -> Path:
    """Monitoring's drift reference: held-out texts of the training communities, with their scores.

    Held out (validation and test), not the fitted rows: the model saw every word of those, so their
    unseen-word share is zero and their scores are over-confident — any live window would look drifted.
    """
    sample = random.Random(seed).sample(list(items), min(size, len(items)))
    scores = serving_scores(scorer, [x.text for x in sample])
    rows = (
        ReferenceRow(text=x.text, label=x.label, community=x.community.value, score=float(p))
        for x, p in zip(sample, scores, strict=True)
    )
    path.write_bytes(gzip_lines(r.model_dump_json() for r in rows))
    return path


def _log_data(
    settings: TrainingSettings, data: Datasets, params: ModelParams, model: TrainedModel, trigger: str
) -> dict[str, dict[str, object]]:
    """The run's parameters and, per labelled set, its sizes, removed share and content digest."""
    mlflow.log_params(
        {**params.model_dump(), "chosen_C": model.chosen_c, "seed": settings.seed, "trigger": trigger}
    )
    data_info: dict[str, dict[str, object]] = {}
    for name, s in data.sets.items():
        everything = s.train + s.validation + s.test
        data_info[name] = {
            "train": len(s.train),
            "validation": len(s.validation),
            "test": len(s.test),
            "removed_share": sum(x.y for x in everything) / max(len(everything), 1),
            "digest": digest(everything),
        }
        mlflow.log_params(
            {f"data.{name}.digest": data_info[name]["digest"], f"data.{name}.rows": len(everything)}
        )
    return data_info


def _log_evaluation(
    out: Path,
    model: TrainedModel,
    reports: dict[str, EvalReport],
    checks: BehaviourReport,
    evasions: EvasionReport,
) -> None:
    """Validation AUC by C, test metrics per set, behaviour tests and the evasion suite."""
    for c, auc in model.validation_auc_by_c.items():
        mlflow.log_metric("validation_roc_auc", auc, step=int(c * 1000))
    for name, report in reports.items():
        mlflow.log_metrics(report.metrics(prefix=f"test.{name}."))
        (out / f"eval_{name}.json").write_text(report.model_dump_json(indent=2))
        mlflow.log_artifact(str(out / f"eval_{name}.json"), "evaluation")
    for check in checks.checks:
        mlflow.log_metric(f"behaviour.{check.name.replace('/', '.')}", check.measured)
    (out / "evasion.json").write_text(json.dumps(evasions.table(), indent=2))
    mlflow.log_artifact(str(out / "evasion.json"), "evaluation")
    mlflow.log_metrics(
        {
            "evasion.min_still_flagged": min(f.still_flagged for f in evasions.families),
            "evasion.min_still_removed": min(f.still_removed for f in evasions.families),
            "evasion.max_false_flag_increase": max(f.false_flag_increase for f in evasions.families),
        }
    )


def _log_plots(out: Path, model: TrainedModel, data: Datasets) -> None:
    """ROC, precision-recall and reliability plots on validation and on each test split."""
    parts = [("plots", "validation", data.validation)]
    parts += [(f"plots_{name}", f"test {name}", s.test) for name, s in data.sets.items()]
    for folder, title, items in parts:
        scores = serving_scores(model.scorer, [x.text for x in items])
        labels_, domains = np.array([x.y for x in items]), np.array([x.community.value for x in items])
        for p in save_plots(out / folder, labels_, scores, domains, title):
            mlflow.log_artifact(str(p), f"plots/{p.parent.name}")


def _log_serving_form(out: Path, settings: TrainingSettings, model: TrainedModel, data: Datasets) -> str:
    """The exported scorer, the drift reference, the vocabulary and the pyfunc model; its URI."""
    model.scorer.save(out / SCORER_FILE)
    mlflow.log_artifact(str(out / SCORER_FILE))
    mlflow.log_params({"normal_form": model.scorer.normal_form})
    held_out = [x for split_ in data.sets.values() for x in split_.validation + split_.test]
    _reference(model.scorer, held_out, settings.reference_size, settings.seed, out / REFERENCE_FILE)
    mlflow.log_artifact(str(out / REFERENCE_FILE))
    mlflow.log_text("\n".join(sorted(model.scorer.vocabulary)), "vocabulary.txt")
    example = pd.DataFrame({TEXT_COLUMN: [x.text for x in data.validation[:5]]})
    return registry.log_model(out / SCORER_FILE, "model", example)


@task
def register_challenger(
    settings: TrainingSettings,
    model: TrainedModel,
    data: Datasets,
    params: ModelParams,
    reports: dict[str, EvalReport],
    checks: BehaviourReport,
    evasions: EvasionReport,
    trigger: str,
) -> tuple[str, str]:
    """Log everything about the candidate to MLflow, register it and alias it `challenger`."""
    client = registry.client(settings)
    with (
        mlflow.start_run(run_name=f"train-{datetime.now(UTC):%Y%m%dT%H%M%S}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        data_info = _log_data(settings, data, params, model, trigger)
        _log_evaluation(out, model, reports, checks, evasions)
        _log_plots(out, model, data)
        card = model_card(
            settings.model_name, params.model_dump(), data_info, reports, [c.detail for c in checks.checks]
        )
        mlflow.log_text(card, "model_card.md")
        model_uri = _log_serving_form(out, settings, model, data)
        version = registry.register(
            client,
            settings.model_name,
            model_uri,
            run.info.run_id,
            {
                "trigger": trigger,
                "behaviour_passed": str(checks.passed).lower(),
                "evasion_passed": str(not evasions.failures(evasion_floors(settings))).lower(),
                **{f"test_roc_auc.{n}": f"{r.roc_auc:.4f}" for n, r in reports.items()},
            },
        )
    get_run_logger().info("registered %s version %s as challenger", settings.model_name, version.version)
    return run.info.run_id, str(version.version)


class IncumbentReports(BaseModel):
    """The serving champion's version and its evaluations on the challenger's test splits."""

    version: str | None  # None before the first promotion
    reports: dict[str, EvalReport]


@task
def incumbent_reports(settings: TrainingSettings, data: Datasets) -> IncumbentReports:
    """The current champion's serving scorer, evaluated on the same test splits."""
    client = registry.client(settings)
    current = registry.champion_version(client, settings.model_name)
    if current is None:
        return IncumbentReports(version=None, reports={})
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_artifact(client, str(current.run_id), SCORER_FILE, Path(tmp))
        scorer = LinearScorer.load(path)
    reports = {name: _report(scorer, s.test) for name, s in data.sets.items() if s.test}
    return IncumbentReports(version=str(current.version), reports=reports)


@task
def promote(
    settings: TrainingSettings,
    version: str,
    champion_version: str | None,
    decision: PromotionDecision,
    trigger: str,
) -> str | None:
    """Move `champion` under the champion lock (refused if it moved meanwhile), or record why not."""
    client = registry.client(settings)
    logger = get_run_logger()
    for key, value in {
        "promotion.decision": "promoted" if decision.promote else "rejected",
        "promotion.reasons": " | ".join(decision.reasons)[:5000],
    }.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    if not decision.promote:
        logger.info("champion %s kept: %s", champion_version, "; ".join(decision.reasons))
        return None
    who = f"train_flow:{trigger} by {getpass.getuser()}@{socket.gethostname()}"
    moved = registry.move_champion(settings, client, version, champion_version, who)
    logger.info("promoted version %s to champion (was %s, token %s)", version, moved.replaced, moved.token)
    return moved.manifest_uri


@flow(name="train_flow", log_prints=True)
def train_flow(
    settings: TrainingSettings | None = None,
    params: ModelParams | None = None,
    extra_labels: list[Path] | None = None,
    target: str | None = None,
    trigger: str = "manual",
) -> TrainResult:
    """Train a challenger, compare it with the champion on the same test splits, promote if better.

    `target` names the evaluation that must improve (default: the newest labelled set, else r/science);
    every other set is guarded against losing more than the policy's margin.
    """
    settings = settings or TrainingSettings()
    params = params or ModelParams()
    extra = [(Path(p).stem, load_labelled_csv(Path(p))) for p in extra_labels or []]
    data = load_and_split(settings, extra)
    model = fit_model(data, params)
    reports = evaluate_on_tests(model.scorer, data)
    checks = behaviour(model.scorer, data)
    evasions = evasion(settings, model.scorer, data)
    run_id, version = register_challenger(settings, model, data, params, reports, checks, evasions, trigger)
    incumbent = incumbent_reports(settings, data)
    champion_version = incumbent.version
    target = target or list(data.sets)[-1]
    decision = decide(
        {n: r.roc_auc for n, r in reports.items()},
        {n: r.roc_auc for n, r in incumbent.reports.items()} if champion_version else None,
        target=target,
        guarded=[n for n in reports if n != target],
        behaviour_failures=checks.failures,
        evasion_failures=evasions.failures(evasion_floors(settings)),
        policy=PromotionPolicy(min_gain=settings.min_gain, max_loss=settings.max_loss),
    )
    manifest_uri = promote(settings, version, champion_version, decision, trigger)
    return TrainResult(
        run_id=run_id,
        version=version,
        promoted=decision.promote,
        reasons=decision.reasons,
        champion_before=champion_version,
        test_roc_auc={n: r.roc_auc for n, r in reports.items()},
        manifest_uri=manifest_uri,
    )
