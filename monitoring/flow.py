"""`drift_check_flow`: read an archive window, compare it with the champion's reference using
Evidently, assess by the rules, report, alert, and on real drift retrain (one at a time).

The only Prefect code of monitoring; every step is a plain function underneath.
"""

import csv
import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from pydantic import BaseModel
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from contracts.categories import Category
from contracts.chat import label_of
from contracts.statement import AppealOutcome
from contracts.storage import (
    DRIFT_STATE_FILE,
    REFERENCE_FILE,
    ArchivedMessage,
    ChampionManifest,
    ReferenceRow,
    drift_report_key,
    gunzip_text,
    model_key,
)
from monitoring.alerts import AlertKind, Notifier
from monitoring.archive import ArchiveWindow, Feedback, read_archive, read_feedback, read_outcomes, select
from monitoring.drift import (
    SCORE_PREFIX,
    TEXT_DESCRIPTORS,
    DriftResult,
    assess,
    descriptors,
    evidently_report,
    reference_languages,
    summarise,
)
from monitoring.labels import LabelAudit, audit_labels, kept_decisions
from monitoring.overturns import OverturnRow, above_rate, overturns, removals
from monitoring.settings import MonitoringSettings
from runtime import aws
from runtime.logs import run_event
from stream_consumer.champion import load_model
from stream_consumer.language import identify
from stream_consumer.normalize import normal_form, normalize
from stream_consumer.scorer import CategoryModel
from training.corpora import join_feedback
from training.flow import TrainResult, train_flow, unwalked
from training.settings import TrainingSettings

FEEDBACK_SET = "feedback"


class DriftCheck(BaseModel):
    """What one run of the flow found and did."""

    champion_version: str
    window: int
    drifted: bool
    retraining_triggered: bool
    reasons: list[str]
    pvalues: dict[str, float]
    unseen_word_share: float
    reference_unseen_word_share: float
    quality: dict[str, float]
    skipped: dict[str, int]
    report_uri: str
    training: TrainResult | None = None
    labels: LabelAudit | None = None  # the guard on the retraining's labels, when it retrained
    overturns: list[OverturnRow] = []  # every model version's removals and their appeals' outcomes


WORKSPACE_PROJECT = "chat-moderation drift"


def _champion(settings: MonitoringSettings) -> tuple[ChampionManifest, CategoryModel, pd.DataFrame]:
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    body = s3.get_object(Bucket=settings.models_bucket, Key=settings.manifest_key)["Body"].read()
    manifest = ChampionManifest.model_validate_json(body)
    champion = load_model(s3, manifest)
    key = model_key(manifest.model_name, manifest.version, REFERENCE_FILE)
    raw = s3.get_object(Bucket=settings.models_bucket, Key=key)["Body"].read()
    rows = [ReferenceRow.model_validate_json(line) for line in (gunzip_text(raw) or "").splitlines() if line]
    scorer = champion.scorer
    if not isinstance(scorer, CategoryModel):  # what load_model always returns
        raise TypeError(f"the champion loaded as {type(scorer).__name__}")
    texts = [normalize(r.text) for r in rows]
    # A reference written before categories holds the removal score alone.
    scores = {
        c: [r.scores.get(c, r.score if c == "removal" else 0.0) for r in rows] for c in scorer.categories
    }
    languages = [identify(r.text) for r in rows]
    reference = descriptors(texts, scores, scorer.vocabulary, languages, reference_languages(languages))
    reference.attrs["languages"] = reference_languages(languages)
    return manifest, scorer, reference


def _state(settings: MonitoringSettings) -> dict[str, Any]:
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    try:
        body = s3.get_object(Bucket=settings.archive_bucket, Key=settings.reports_prefix + DRIFT_STATE_FILE)[
            "Body"
        ].read()
    except s3.exceptions.NoSuchKey:
        return {}
    state: dict[str, Any] = json.loads(body)
    return state


def _last_trigger(state: dict[str, Any]) -> datetime | None:
    return datetime.fromisoformat(state["last_trigger"]) if state.get("last_trigger") else None


def _save_state(settings: MonitoringSettings, state: dict[str, Any]) -> None:
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    s3.put_object(
        Bucket=settings.archive_bucket,
        Key=settings.reports_prefix + DRIFT_STATE_FILE,
        Body=json.dumps(state).encode(),
    )


def _quality(labels: list[int], scores: list[float], min_labels: int) -> dict[str, float]:
    if len(labels) < min_labels or len(set(labels)) < 2:
        return {"labelled": float(len(labels))}
    y, p = np.array(labels), np.array(scores)
    return {
        "labelled": float(len(labels)),
        "roc_auc": float(roc_auc_score(y, p)),
        "precision_at_review": float(precision_score(y, p >= 0.5, zero_division=0.0)),
        "recall_at_review": float(recall_score(y, p >= 0.5, zero_division=0.0)),
    }


@task
def read_inputs(settings: MonitoringSettings) -> tuple[ArchiveWindow, Feedback]:
    """The whole (deduplicated) archive and every moderator decision, read once per check."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    return (
        read_archive(s3, settings.archive_bucket, settings.archive_prefix),
        read_feedback(s3, settings.archive_bucket, settings.feedback_prefix),
    )


@dataclass
class WindowCheck:
    """One window checked against the champion's reference: the decision, where the report went."""

    result: DriftResult
    manifest: ChampionManifest
    report_uri: str
    skipped: dict[str, int]
    state: dict[str, Any]  # the drift state as the check found it (the last trigger, labels held out)


def _window(settings: MonitoringSettings, now: datetime, archive: ArchiveWindow) -> list[ArchivedMessage]:
    since = now - timedelta(minutes=settings.window_minutes) if settings.window_minutes else None
    return select(archive.messages, since, last=None if settings.window_minutes else settings.window_last_n)


def _labelled_quality(
    settings: MonitoringSettings, messages: list[ArchivedMessage], scores: list[float], feedback: Feedback
) -> dict[str, float]:
    """The champion's quality on the window's messages that moderators decided."""
    labels = {d.message_id: d.label for d in feedback.decisions}
    labelled = [
        (1 if labels[m.message.message_id] == "remove" else 0, s)
        for m, s in zip(messages, scores, strict=True)
        if m.message.message_id in labels
    ]
    return _quality([y for y, _ in labelled], [s for _, s in labelled], settings.min_labels_for_quality)


def _publish_report(
    settings: MonitoringSettings,
    now: datetime,
    result: DriftResult,
    snapshot: Any,
    manifest: ChampionManifest,
) -> str:
    """The decision (JSON) and Evidently's report (HTML) in the archive bucket, and the workspace."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    stamp = f"{now:%Y%m%dT%H%M%S}"
    key = drift_report_key(settings.reports_prefix, stamp)
    s3.put_object(
        Bucket=settings.archive_bucket, Key=f"{key}.json", Body=result.model_dump_json(indent=2).encode()
    )
    if snapshot is not None:
        html = snapshot.get_html_str(as_iframe=False).encode()
        s3.put_object(Bucket=settings.archive_bucket, Key=f"{key}.html", Body=html)
        verdict = "drift" if result.drifted else "no drift"
        _to_workspace(settings, snapshot, f"{stamp} {manifest.model_name} v{manifest.version}: {verdict}")
    return f"s3://{settings.archive_bucket}/{key}.html"


@task
def check_window(
    settings: MonitoringSettings, now: datetime, archive: ArchiveWindow, feedback: Feedback
) -> WindowCheck:
    """The window against the champion's reference: descriptors, Evidently, the rules, the report."""
    manifest, scorer, reference = _champion(settings)
    messages = _window(settings, now, archive)
    batch = [normal_form(m.message.text) for m in messages]
    by_category = {c: s.probability.tolist() for c, s in scorer.score_categories(batch, top_k=0).items()}
    languages = [identify(m.message.text) for m in messages]
    current = descriptors(
        [b.text for b in batch], by_category, scorer.vocabulary, languages, reference.attrs["languages"]
    )
    removal = by_category.get("removal") or [max(s) for s in zip(*by_category.values(), strict=True)]
    quality = _labelled_quality(settings, messages, removal, feedback)
    state = _state(settings)
    last = _last_trigger(state)
    snapshot, pvalues, text_score = (
        evidently_report(reference, current, settings.text_drift) if len(current) >= 2 else (None, {}, None)
    )
    actions = [m.verdict.action.value for m in messages]
    result = assess(
        summarise(reference, current, pvalues, text_score, actions, quality), settings.rules, now, last
    )
    report_uri = _publish_report(settings, now, result, snapshot, manifest)
    skipped = dict(archive.skipped) | {f"feedback_{k}": v for k, v in feedback.skipped.items()}
    run_event(
        get_run_logger(),
        {
            "event": "window_checked",
            "window": len(current),
            "drifted": result.drifted,
            "reasons": result.reasons,
        },
    )
    return WindowCheck(result, manifest, report_uri, skipped, state)


def _to_workspace(settings: MonitoringSettings, snapshot: Any, name: str) -> None:
    """Keep the report browsable with `evidently ui --workspace .data/evidently`."""
    from evidently.ui.workspace import Workspace  # noqa: PLC0415

    ws = Workspace.create(str(settings.workspace_dir))
    projects = ws.search_project(WORKSPACE_PROJECT)
    project = (
        projects[0]
        if projects
        else ws.create_project(WORKSPACE_PROJECT, description="Archive windows vs the champion's reference")
    )
    if not project.dashboard.model().panels:
        for panel in _dashboard_panels():
            project.dashboard.add_panel(panel, tab="Drift")
    ws.add_run(project.id, snapshot, include_data=False, name=name)


def _dashboard_panels() -> list[Any]:
    """The project's dashboard: the window means and the KS p-values over successive checks."""
    from evidently.sdk.models import PanelMetric  # noqa: PLC0415
    from evidently.sdk.panels import line_plot_panel  # noqa: PLC0415

    def mean(column: str) -> PanelMetric:
        return PanelMetric(legend=column, metric="MeanValue", metric_labels={"column": column})

    return [
        line_plot_panel("Unseen-word share, window mean", [mean("unseen_word_share")], size="half"),
        line_plot_panel(
            "Score per category, window mean", [mean(f"{SCORE_PREFIX}{c}") for c in Category], size="half"
        ),
        line_plot_panel(
            "Drift p-value per descriptor (KS; drift below the rules' thresholds)",
            [
                PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c})
                for c in (*TEXT_DESCRIPTORS, *(f"{SCORE_PREFIX}{c}" for c in Category))
            ],
        ),
    ]


@task
def feedback_labels_csv(archive: ArchiveWindow, feedback: Feedback, out_dir: Path) -> tuple[Path, int, int]:
    """Moderator decisions joined with archived text, as a labelled CSV for train_flow."""
    rows, unknown = join_feedback(
        feedback.decisions, {m.message.message_id: m.message.text for m in archive.messages}
    )
    path = out_dir / f"{FEEDBACK_SET}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "category"])
        writer.writerows((e.text, label_of(y), c.value) for e in rows for c, y in e.labels.items())
    return path, len(rows), unknown


def _retrain(
    settings: MonitoringSettings,
    training: TrainingSettings | None,
    check: WindowCheck,
    archive: ArchiveWindow,
    feedback: Feedback,
    notifier: Notifier,
) -> tuple[TrainResult, LabelAudit]:
    """Retrain on the moderators' labels (as a subflow) that the label guard kept, with alerts at the
    start and the end, and one per rule of the guard that fired."""
    before = check.state
    audit = audit_labels(
        feedback.decisions,
        {m.message.message_id: m.verdict for m in archive.messages},
        _last_trigger(before),
        settings.label_guard,
        held_before=before.get("held_out", []),
        now=datetime.now(UTC),
    )
    _record_audit(settings, audit, notifier)
    _save_state(
        settings,
        {
            "last_trigger": datetime.now(UTC).isoformat(),
            "champion_version": check.manifest.version,
            "held_out": sorted(set(before.get("held_out", [])) | set(audit.held_out)),
        },
    )
    kept = Feedback(kept_decisions(feedback.decisions, audit), feedback.skipped)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, n_labels, unknown = feedback_labels_csv(unwalked(archive), unwalked(kept), Path(tmp))
        if unknown:  # decisions on messages not in the archive: counted, reported, not trained on
            check.skipped["feedback_unknown_message"] = unknown
        notifier.send(
            AlertKind.RETRAINING_STARTED,
            "retraining on drift",
            feedback_labels=n_labels,
            held_out=len(audit.held_out),
            unknown_ids=unknown,
        )
        try:
            result = train_flow(
                settings=training,
                extra_labels=[csv_path],
                trigger="drift",
                label_audit=audit.model_dump(mode="json"),
            )
        except Exception as err:  # a failed retraining leaves the champion untouched
            notifier.send(AlertKind.RETRAINING_FINISHED, "retraining failed", error=type(err).__name__)
            raise
    notifier.send(AlertKind.RETRAINING_FINISHED, f"version {result.version} trained", **result.test_roc_auc)
    kind = (
        AlertKind.CHAMPION_PROMOTED
        if result.promoted
        else AlertKind.CHALLENGER_PUBLISHED
        if result.challenger
        else AlertKind.CHAMPION_REJECTED
    )
    notifier.send(kind, f"version {result.version}", reasons="; ".join(result.reasons))
    return result, audit


def _record_audit(settings: MonitoringSettings, audit: LabelAudit, notifier: Notifier) -> None:
    """The label guard's findings and decisions: in the reports prefix for the audit trail, in the
    flow's log, and one alert per rule that fired."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    key = f"{settings.reports_prefix}labels/{datetime.now(UTC):%Y%m%dT%H%M%S%f}.json"
    s3.put_object(Bucket=settings.archive_bucket, Key=key, Body=audit.model_dump_json(indent=2).encode())
    logger = get_run_logger()
    audit_uri = f"s3://{settings.archive_bucket}/{key}"
    run_event(
        logger,
        {
            "event": "label_guard",
            "decisions": audit.decisions,
            "new": audit.new,
            "held_out": len(audit.held_out),
            "audit": audit_uri,
        },
    )
    for line in audit.alerts:
        run_event(logger, {"event": "label_guard_alert", "alert": line, "audit": audit_uri}, logging.WARNING)
        notifier.send(AlertKind.LABELS_HELD_OUT, line, audit=audit_uri)


def _check_dead_letters(settings: MonitoringSettings, notifier: Notifier, window: int) -> None:
    """Alert when the dead-letter queue holds more than the threshold's share of the window."""
    sqs = aws.client("sqs", settings.aws_endpoint_url, settings.aws_region)
    url = sqs.get_queue_url(QueueName=settings.dead_letter_queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    depth = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    if depth / window > settings.dlq_rate_threshold:
        notifier.send(
            AlertKind.DLQ_RATE_HIGH, "dead letters are piling up", dead_letters=depth, window=window
        )


def check_overturns(
    settings: MonitoringSettings, notifier: Notifier, outcomes: list[AppealOutcome], archive: ArchiveWindow
) -> list[OverturnRow]:
    """Every model version's removals beside their appeals' outcomes; an alert for each version whose
    removals in a category are overturned above the policy's rate."""
    rows = overturns(outcomes, removals(archive.messages))
    named = above_rate(rows, settings.max_overturn_rate, settings.min_removals_for_overturns)
    for version, category, rate in named:
        notifier.send(
            AlertKind.OVERTURNS_HIGH,
            f"model v{version}: appeals overturned {rate:.0%} of its {category} removals",
            model_version=version,
            category=category,
            max_rate=settings.max_overturn_rate,
        )
    return rows


@flow(name="drift_check_flow", log_prints=True)
def drift_check_flow(
    settings: MonitoringSettings | None = None, training: TrainingSettings | None = None
) -> DriftCheck:
    """Check the latest archive window for drift; on drift (outside the cool-down) retrain."""
    settings = settings or MonitoringSettings()
    notifier = Notifier(settings.webhook())
    archive, feedback = read_inputs(settings)
    check = check_window(settings, datetime.now(UTC), unwalked(archive), unwalked(feedback))
    result, summary = check.result, check.result.summary
    if result.drifted:
        notifier.send(
            AlertKind.DRIFT_DETECTED,
            f"drift against champion v{check.manifest.version}",
            window=summary.window_size,
            reasons="; ".join(result.reasons),
            unseen_word_share=summary.means.get("unseen_word_share", 0.0),
        )
    retrain = result.trigger_retraining and settings.retrain_on_drift
    training_result, audit = (
        _retrain(settings, training, check, archive, feedback, notifier) if retrain else (None, None)
    )
    if summary.window_size:
        _check_dead_letters(settings, notifier, summary.window_size)
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    outcomes = read_outcomes(s3, settings.archive_bucket, settings.statements_prefix)
    overturned = check_overturns(settings, notifier, outcomes, archive)
    run_event(
        get_run_logger(),
        {
            "event": "overturns_checked",
            "removals": sum(r.removals for r in overturned),
            "appeals_decided": sum(r.appeals_decided for r in overturned),
            "overturned": sum(r.overturned for r in overturned),
        },
    )
    return DriftCheck(
        champion_version=check.manifest.version,
        window=summary.window_size,
        drifted=result.drifted,
        retraining_triggered=retrain,
        reasons=result.reasons,
        pvalues=summary.pvalues,
        unseen_word_share=summary.means.get("unseen_word_share", 0.0),
        reference_unseen_word_share=summary.reference_means.get("unseen_word_share", 0.0),
        quality=summary.quality,
        skipped=check.skipped,
        report_uri=check.report_uri,
        training=training_result,
        labels=audit,
        overturns=overturned,
    )
