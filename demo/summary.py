"""The closing summary of a demo run: the ledger of every published record (`producer_sim.ledger`),
how each traffic phase was served (actions, model versions, ROC-AUC against the ground truth), the
drift checks and the bot's counts. What came back is read once the consumer has stopped."""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.dead_letter import DeadLetter
from contracts.on_failure import KinesisBatchInfo, OnFailureRecord
from contracts.storage import GroundTruth
from contracts.verdict import Verdict
from demo.review import ReviewPhase
from demo.strikes import StrikesResult
from producer_sim.ledger import reconcile
from producer_sim.replay import OutgoingRecord
from producer_sim.shapes import ShapeResult, UsersFired
from runtime import aws
from runtime.kinesis import Delivered, read_stream
from runtime.queues import peek_bodies
from runtime.stack import Stack


def retrained(training: dict[str, Any]) -> str:
    """What became of a drift check's retrained version (`TrainResult` as its CLI printed it)."""
    if training["promoted"]:
        return "promoted"
    return "the challenger" if training.get("challenger") else "kept out"


class CategoryResult(BaseModel):
    """How one category judged a phase: its own actions at its thresholds ("not acting" in channels
    where it does not act), the share it sent to human review, the precision of its automatic actions
    against the ground truth, and the ROC-AUC of its scores by model version."""

    scored: int = 0
    actions: dict[str, int] = {}
    review_share: float = 0.0
    remove_precision: float | None = None  # of its removals, the share the truth calls the category
    allow_precision: float | None = None  # of its allows, the share the truth calls not the category
    served_roc_auc: dict[str, float] = {}  # by model version, against the truth of this category


class PhaseResult(BaseModel):
    """What one traffic phase sent and how it was served (filled in at the end)."""

    name: str
    published: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    actions: dict[str, int] = {}
    versions: dict[str, int] = {}
    served_roc_auc: dict[str, float] = {}  # by model version, against the ground-truth labels
    categories: dict[str, CategoryResult] = {}  # every category the served models scored
    stages: dict[str, dict[str, int]] = {}  # by language identified, the stage that decided each verdict


class Summary(BaseModel):
    """The closing figures, also written to `summary.json` in the run's directory."""

    tag: str
    model_name: str
    wall_time_s: float
    steps: dict[str, float]
    phases: list[PhaseResult]
    drift_checks: list[dict[str, Any]]
    # how the retrained model reached users: the live promotion check (both models on the same labelled
    # messages of its shadow period), then the canary's checks, as their CLIs printed them
    promotion: list[dict[str, Any]] = []
    champion_versions: list[str]
    published: int
    with_verdict: int
    dead_lettered: int
    with_both: int  # a record with a verdict and a dead letter: must be 0
    unaccounted: int  # a record with neither: must be 0
    duplicate_verdicts: int  # redelivered verdict records (at-least-once); the bot acts once per id
    duplicate_dead_letters: int
    retries_exhausted: int  # entries in the event source mapping's on-failure queue
    bot: dict[str, int]
    urls: dict[str, str]
    shapes: list[ShapeResult] = []  # the raids, floods and bursts, and what the context signals did
    users_fired: dict[str, UsersFired] = {}  # ordinary and burst users an acting signal fired for
    review: list[ReviewPhase] = []  # what the moderators' queue did with each phase's messages
    # the run's transparency report (`monitoring.transparency.TransparencyReport`, as its CLI wrote it)
    transparency: dict[str, Any] = {}
    strikes: StrikesResult | None = None  # the strikes table reconciled, and the ladder per rung


@dataclass(frozen=True)
class Outcomes:
    """What came back: verdict records, dead letters and the on-failure queue's entries, repeats kept."""

    verdicts: list[Verdict]
    dead_letters: list[DeadLetter]
    discarded: list[KinesisBatchInfo]


def read_outcomes(endpoint_url: str, stack: Stack) -> Outcomes:
    """Every record of the output stream and every message of both queues (none is deleted)."""
    kinesis = aws.client("kinesis", endpoint_url)
    records = [r for rs in read_stream(kinesis, stack.output_stream.name).values() for r in rs]
    sqs = aws.client("sqs", endpoint_url)

    def bodies(queue: str) -> list[str]:
        return peek_bodies(sqs, sqs.get_queue_url(QueueName=queue)["QueueUrl"])

    return Outcomes(
        verdicts=[Verdict.model_validate_json(r["Data"]) for r in records],
        dead_letters=[DeadLetter.model_validate_json(b) for b in bodies(stack.dead_letter_queue.name)],
        discarded=[OnFailureRecord.read(b).batch for b in bodies(stack.on_failure_queue.name)],
    )


def read_truth(path: Path) -> dict[str, GroundTruth]:
    """The ground-truth side file, by message id."""
    truths = (GroundTruth.model_validate_json(line) for line in path.read_text().splitlines())
    return {str(t.message_id): t for t in truths}


def read_bot_counts(log: Path) -> dict[str, int]:
    """The counts of the last report the bot printed to its log (none: empty)."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"bot_report"' in line:
            return {k: v for k, v in json.loads(line).items() if isinstance(v, int)}
    return {}


def _roc_auc(labels: list[int], scores: list[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - only for the closing summary

    return round(float(roc_auc_score(labels, scores)), 3)


def served_roc_auc(served: list[Verdict], truth: dict[str, GroundTruth]) -> dict[str, float]:
    """ROC-AUC of the scores each model version served, against the ground-truth labels."""
    aucs = {}
    for version in dict.fromkeys(v.model_version for v in served):
        scored = [
            v
            for v in served
            if v.model_version == version and v.score is not None and str(v.message_id) in truth
        ]
        auc = _roc_auc(
            [1 if truth[str(v.message_id)].label == "remove" else 0 for v in scored],
            [v.score for v in scored if v.score is not None],
        )
        if auc is not None:
            aucs[version] = auc
    return aucs


def _precision(hits: list[int]) -> float | None:
    return round(sum(hits) / len(hits), 3) if hits else None


def category_results(served: list[Verdict], truth: dict[str, GroundTruth]) -> dict[str, CategoryResult]:
    """Per category: the actions it took, its review share, the precision of its removals and allows
    (messages whose truth labels the category), and its served ROC-AUC by model version."""
    out = {}
    for name in dict.fromkeys(c for v in served for c in v.categories):
        judged = [(v, v.categories[name]) for v in served if name in v.categories]
        actions = Counter(c.action.value if c.acts else "not acting" for _, c in judged)
        labelled = [
            (v, c, truth[str(v.message_id)].categories[name])
            for v, c in judged
            if str(v.message_id) in truth and name in truth[str(v.message_id)].categories
        ]
        aucs = {}
        for version in dict.fromkeys(v.model_version for v, _, _ in labelled):
            pairs = [(y, c.score) for v, c, y in labelled if v.model_version == version]
            auc = _roc_auc([y for y, _ in pairs], [s for _, s in pairs])
            if auc is not None:
                aucs[version] = auc
        out[name] = CategoryResult(
            scored=len(judged),
            actions=dict(actions),
            review_share=round(actions["review"] / len(judged), 3) if judged else 0.0,
            remove_precision=_precision([y for _, c, y in labelled if c.acts and c.action.value == "remove"]),
            allow_precision=_precision(
                [1 - y for _, c, y in labelled if c.acts and c.action.value == "allow"]
            ),
            served_roc_auc=aucs,
        )
    return out


def phase_result(
    name: str, delivered: list[Delivered[OutgoingRecord]], outcomes: Outcomes, truth: dict[str, GroundTruth]
) -> PhaseResult:
    """How one phase's records were served."""
    ledger = reconcile(delivered, outcomes.verdicts, outcomes.dead_letters)
    verdict_at = {(v.shard_id, v.sequence_number): v for v in outcomes.verdicts}
    served = [verdict_at[k] for k in ((d.shard_id, d.sequence_number) for d in delivered) if k in verdict_at]
    return PhaseResult(
        name=name,
        published=ledger.published,
        verdicts=ledger.with_verdict,
        dead_letters=ledger.dead_lettered,
        actions=dict(Counter(v.action.value for v in served)),
        versions=dict(Counter(v.model_version for v in served)),
        served_roc_auc=served_roc_auc(served, truth),
        categories=category_results(served, truth),
        stages=_stages(served),
    )


def _stages(served: list[Verdict]) -> dict[str, dict[str, int]]:
    """How many verdicts each stage decided, by the language identified ("und": none named)."""
    out: dict[str, Counter[str]] = {}
    for v in served:
        out.setdefault(v.language or "und", Counter())[v.stage.value if v.stage else "unknown"] += 1
    return {language: dict(counts) for language, counts in sorted(out.items())}


def build_summary(
    *,
    tag: str,
    model_name: str,
    wall_time_s: float,
    steps: dict[str, float],
    phases: list[PhaseResult],
    published: list[Delivered[OutgoingRecord]],
    outcomes: Outcomes,
    drift_checks: list[dict[str, Any]],
    promotion: list[dict[str, Any]],
    champion_versions: list[str],
    bot: dict[str, int],
    urls: dict[str, str],
    shapes: list[ShapeResult] | None = None,
    users_fired: dict[str, UsersFired] | None = None,
    review: list[ReviewPhase] | None = None,
    transparency: dict[str, Any] | None = None,
    strikes: StrikesResult | None = None,
) -> Summary:
    """The closing figures, with the ledger of every record `published` in the run."""
    ledger = reconcile(published, outcomes.verdicts, outcomes.dead_letters, outcomes.discarded)
    return Summary(
        tag=tag,
        model_name=model_name,
        wall_time_s=wall_time_s,
        steps=steps,
        phases=phases,
        drift_checks=[{k: v for k, v in c.items() if k != "pvalues"} for c in drift_checks],
        promotion=promotion,
        champion_versions=champion_versions,
        published=ledger.published,
        with_verdict=ledger.with_verdict,
        dead_lettered=ledger.dead_lettered,
        with_both=ledger.with_both,
        unaccounted=ledger.missing,
        duplicate_verdicts=ledger.redelivered_verdicts,
        duplicate_dead_letters=ledger.redelivered_dead_letters,
        retries_exhausted=ledger.retries_exhausted,
        bot=bot,
        urls=urls,
        shapes=shapes or [],
        users_fired=users_fired or {},
        review=review or [],
        transparency=transparency or {},
        strikes=strikes,
    )
