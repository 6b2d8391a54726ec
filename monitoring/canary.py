"""`canary_flow`: a canary widened step by step, completed, or rolled back on the evidence of its channels.

A canary (`python -m training canary --version N`, `training.registry.start_canary`) serves the share
of channels its manifest names (`contracts.policy.serves_canary`: a stable hash of the channel id, so a
channel stays with the canary as it widens); the champion serves the others and shadow-scores every
message of the canary's channels. The evidence of a step is what the canary served since the step began
(the manifest's `promoted_at`), each message judged by both models:

- the live label quality per acting category (`monitoring.live.shadow_comparisons`, roles swapped: the
  challenger is the one serving), on the moderators' labels weighted by their inclusion probabilities;
- the live bias metric (`monitoring.live.identity_check`): the share of labelled harmless messages
  naming an identity group each model flagged (sent to a person or removed);
- the moderators' overturn rate: of each version's removals, the share its users' appeals restored.

The dead-letter rate is not a canary signal here: a record becomes a dead letter before any model
reads it (`stream_consumer.moderation.parse`), so the canary cannot change it.

`canary_step` rolls back when any of them is worse by the margin (a category's ROC-AUC lower by more
than `margin` on at least `min_labels` labels; the identity check's flags higher by more than its
margin; the overturn rate higher by more than `margin` on at least `min_removals` removals), widens to
the next step when every acting category has `min_labels` labels and none is worse, completes (a champion
move) at the last step, and holds otherwise. A model that is caught never serves beyond the step it was
caught at; one with too little evidence never widens.
"""

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel

from contracts.categories import DEFAULT_ACTING
from contracts.policy import PolicyBook
from contracts.statement import AppealOutcome
from contracts.storage import ArchivedMessage, ModeratorDecision
from monitoring.archive import read_archive, read_feedback, read_outcomes
from monitoring.live import (
    IDENTITY_MARGIN,
    MIN_IDENTITY,
    IdentityCheck,
    Paired,
    identity_check,
    shadow_comparisons,
)
from monitoring.overturns import overturns, removals
from monitoring.settings import MonitoringSettings
from runtime import aws
from runtime.policies import PolicySource
from training import registry
from training.settings import TrainingSettings

MOVED_BY = "canary_flow"
STEPS = (0.1, 0.5, 1.0)  # the shares of channels a canary serves, step by step


class StepAction(StrEnum):
    HOLD = "hold"  # too little evidence yet: the share stays
    WIDEN = "widen"
    COMPLETE = "complete"  # the canary becomes the champion
    ROLLBACK = "rollback"  # the champion serves every channel again


@dataclass(frozen=True)
class Overturned:
    """A version's removals and how many its users' appeals restored."""

    removals: int
    overturned: int

    @property
    def rate(self) -> float:
        return self.overturned / self.removals if self.removals else 0.0


@dataclass(frozen=True)
class CanaryEvidence:
    compared: list[Paired]  # per acting category: champion (shadow) and canary (served), same messages
    identity: IdentityCheck
    champion_overturns: Overturned
    canary_overturns: Overturned


@dataclass(frozen=True)
class CanaryStep:
    action: StepAction
    share: float | None  # the canary's share after the step (None: it serves no channel)
    reasons: list[str]


def overturned(
    outcomes: Sequence[AppealOutcome], archived: Sequence[ArchivedMessage], version: str
) -> Overturned:
    """A version's removals in the archive and the appeals that restored them."""
    rows = [r for r in overturns(outcomes, removals(archived)) if r.model_version == version]
    return Overturned(sum(r.removals for r in rows), sum(r.overturned for r in rows))


def canary_evidence(
    served: Sequence[ArchivedMessage],
    archived: Sequence[ArchivedMessage],
    decisions: Sequence[ModeratorDecision],
    outcomes: Sequence[AppealOutcome],
    book: PolicyBook,
    categories: Sequence[str],
    canary: str,
    champion: str,
) -> CanaryEvidence:
    """The step's evidence: `served`, the canary's verdicts of the step with the champion's beside them;
    `archived`, everything (the overturn rates compare each version's removals)."""
    return CanaryEvidence(
        compared=shadow_comparisons(served, decisions, book, categories, canary=True),
        identity=identity_check(served, decisions, book, canary=True),
        champion_overturns=overturned(outcomes, archived, champion),
        canary_overturns=overturned(outcomes, archived, canary),
    )


def canary_step(
    evidence: CanaryEvidence,
    share: float,
    steps: Sequence[float],
    margin: float,
    min_labels: int,
    min_removals: int = 30,
    identity_margin: float = IDENTITY_MARGIN,
    min_identity: int = MIN_IDENTITY,
) -> CanaryStep:
    """Roll back when any signal is worse by its margin, widen (or complete at the last step) when every
    acting category has enough labels and none is worse, hold otherwise."""
    worse: list[str] = []
    short: list[str] = []
    reasons: list[str] = []
    for c in evidence.compared:
        if c.champion.n < min_labels or c.difference is None:
            short.append(
                f"{c.category}: {c.champion.n} labelled messages (needs {min_labels} of both classes)"
            )
            continue
        line = (
            f"{c.category}: ROC-AUC {c.difference:+.3f} over the champion on {c.champion.n} labelled messages"
        )
        (worse if c.difference < -margin else reasons).append(line)
    if not evidence.compared:
        short.append("no category was compared")
    refused, line = evidence.identity.judged(identity_margin, min_identity)
    (worse if refused else reasons).append(line)
    mine, theirs = evidence.canary_overturns, evidence.champion_overturns
    line = f"overturned by appeal: {mine.rate:.1%} of {mine.removals} removals (champion {theirs.rate:.1%})"
    if mine.removals >= min_removals and mine.rate - theirs.rate > margin:
        worse.append(line)
    else:
        reasons.append(line)
    if worse:
        return CanaryStep(StepAction.ROLLBACK, None, worse + reasons)
    if short:
        return CanaryStep(StepAction.HOLD, share, short + reasons)
    later = [s for s in steps if s > share]
    if not later:
        return CanaryStep(StepAction.COMPLETE, 1.0, reasons)
    return CanaryStep(StepAction.WIDEN, later[0], reasons)


class CanaryResult(BaseModel):
    """What a canary check found and did."""

    canary: str | None  # the canary's version (None: none served)
    champion: str | None
    share_before: float | None
    action: StepAction | None
    share_after: float | None
    reasons: list[str]
    compared: list[dict[str, Any]] = []


@flow(name="canary_flow", log_prints=True)
def canary_flow(
    settings: MonitoringSettings | None = None,
    training: TrainingSettings | None = None,
    steps: list[float] | None = None,
    margin: float = 0.02,
    min_labels: int = 200,
    categories: list[str] | None = None,
    min_identity: int = MIN_IDENTITY,
) -> CanaryResult:
    """One check of the serving canary: its step's evidence, then a hold, a wider share, its completion
    or its rollback (each a manifest move under the champion lock); the evidence is tagged on its
    registry version (`canary.*`) either way."""
    settings = settings or MonitoringSettings()
    training = training or TrainingSettings()
    steps = sorted(steps or STEPS)
    log = get_run_logger()
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    manifest = registry.read_canary(training, s3)
    if manifest is None or manifest.share is None:
        log.info(json.dumps({"event": "canary_check", "outcome": "no canary serves"}))
        return CanaryResult(
            canary=None,
            champion=None,
            share_before=None,
            action=None,
            share_after=None,
            reasons=["no canary"],
        )
    client = registry.client(training)
    current = registry.champion_version(client, training.model_name)
    champion = str(current.version) if current is not None else None
    archived = read_archive(s3, settings.archive_bucket, settings.archive_prefix).messages
    served = [
        m
        for m in archived
        if m.verdict.model_version == manifest.version
        and m.shadow is not None
        and m.shadow.model_version == champion
        and m.verdict.processed_at >= manifest.promoted_at
    ]
    evidence = canary_evidence(
        served,
        archived,
        read_feedback(s3, settings.archive_bucket, settings.feedback_prefix).decisions,
        read_outcomes(s3, settings.archive_bucket, settings.statements_prefix),
        PolicySource(s3, settings.models_bucket, settings.policy_key)(),
        categories or [str(c) for c in DEFAULT_ACTING],
        manifest.version,
        champion or "none",
    )
    step = canary_step(evidence, manifest.share, steps, margin, min_labels, min_identity=min_identity)
    why = "; ".join(step.reasons)
    if step.action is StepAction.ROLLBACK:
        registry.end_canary(training, client, MOVED_BY, complete=False, reason=why)
    elif step.action is StepAction.COMPLETE:
        registry.end_canary(training, client, MOVED_BY, complete=True, reason=why)
    elif step.action is StepAction.WIDEN and step.share is not None:
        registry.widen_canary(training, step.share, MOVED_BY)
    for key, value in {
        "canary.decision": f"{step.action.value} at {manifest.share:g}",
        "canary.champion": champion or "none",
        "canary.evidence": why[:5000],
    }.items():
        client.set_model_version_tag(training.model_name, manifest.version, key, value)
    log.info(
        json.dumps(
            {
                "event": "canary_check",
                "canary": manifest.version,
                "champion": champion,
                "share": manifest.share,
                "action": step.action.value,
                "share_after": step.share,
                "messages": len(served),
                "reasons": step.reasons,
            }
        )
    )
    return CanaryResult(
        canary=manifest.version,
        champion=champion,
        share_before=manifest.share,
        action=step.action,
        share_after=step.share,
        reasons=step.reasons,
        compared=[dataclasses.asdict(c) for c in evidence.compared],
    )
