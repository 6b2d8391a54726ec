"""`live_promotion_flow`: promote the published challenger on live evidence, or keep the champion.

Reads the archive (the challenger's shadow verdicts beside the champion's), the moderators' decisions
and the channels' policies; compares both models on the same labelled messages (`monitoring.live`) and
decides with `live_decision` (a gain on every acting category, and no more harmless messages naming an
identity group flagged). A promotion starts the challenger's canary (`start_canary`, at the first of
`canary_flow`'s steps unless told otherwise: under the champion lock, in the audit trail; the challenger's
shadow scoring ends with it and the champion shadow-scores the canary's channels instead), and
`canary_flow` takes it from there. Either way the evidence is recorded on the challenger's registry
version (tags `live.*`), so the history says why a version serves or not.
"""

import dataclasses
import json
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel

from contracts.categories import DEFAULT_ACTING
from contracts.storage import ChampionManifest
from monitoring.archive import read_archive, read_feedback
from monitoring.canary import STEPS
from monitoring.live import identity_check, live_decision, shadow_comparisons
from monitoring.settings import MonitoringSettings
from runtime import aws
from runtime.objects import read_object
from runtime.policies import PolicySource
from training import registry
from training.settings import TrainingSettings

MOVED_BY = "live_promotion_flow"


class LiveResult(BaseModel):
    """What a live promotion check found and did."""

    challenger: str | None  # the published challenger's version (None: none published)
    champion_before: str | None
    promoted: bool
    reasons: list[str]
    compared: list[dict[str, Any]] = []
    canary_share: float | None = None  # promoted: the share of channels its canary serves


@flow(name="live_promotion_flow", log_prints=True)
def live_promotion_flow(
    settings: MonitoringSettings | None = None,
    training: TrainingSettings | None = None,
    margin: float = 0.01,
    min_labels: int = 200,
    categories: list[str] | None = None,
    canary_share: float = STEPS[0],
) -> LiveResult:
    """Compare the published challenger with the champion on the live, labelled messages both scored;
    promote it when every acting category (or each of `categories`) gains `margin` with an interval
    that excludes no gain on at least `min_labels` labels, as a canary on `canary_share` of the channels;
    record the evidence either way."""
    registry.check_share(canary_share)  # before any evidence is read or tagged
    settings = settings or MonitoringSettings()
    training = training or TrainingSettings()
    log = get_run_logger()
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    stored = read_object(s3, training.models_bucket, training.challenger_manifest_key)
    if stored is None:
        log.info(json.dumps({"event": "live_promotion", "outcome": "no challenger published"}))
        return LiveResult(challenger=None, champion_before=None, promoted=False, reasons=["no challenger"])
    challenger = ChampionManifest.model_validate_json(stored.body).version
    client = registry.client(training)
    current = registry.champion_version(client, training.model_name)
    before = str(current.version) if current is not None else None
    archived = read_archive(s3, settings.archive_bucket, settings.archive_prefix).messages
    decisions = read_feedback(s3, settings.archive_bucket, settings.feedback_prefix).decisions
    book = PolicySource(s3, settings.models_bucket, settings.policy_key)()
    # only the messages both of these versions judged: the champion serving now, this challenger
    judged = [
        m
        for m in archived
        if m.shadow is not None and m.shadow.model_version == challenger and m.verdict.model_version == before
    ]
    compared = shadow_comparisons(judged, decisions, book, categories or [str(c) for c in DEFAULT_ACTING])
    decision = live_decision(compared, margin, min_labels, identity_check(judged, decisions, book))
    for key, value in {
        "live.decision": "canary" if decision.promote else "kept out",
        "live.champion": before or "none",
        "live.evidence": "; ".join(decision.reasons)[:5000],
    }.items():
        client.set_model_version_tag(training.model_name, challenger, key, value)
    share = canary_share if decision.promote else None
    if share is not None:
        registry.start_canary(training, client, challenger, share, MOVED_BY)
    log.info(
        json.dumps(
            {
                "event": "live_promotion",
                "challenger": challenger,
                "champion_before": before,
                "promoted": decision.promote,
                "canary_share": share,
                "reasons": decision.reasons,
            }
        )
    )
    return LiveResult(
        challenger=challenger,
        champion_before=before,
        promoted=decision.promote,
        reasons=decision.reasons,
        compared=[dataclasses.asdict(c) for c in compared],
        canary_share=share,
    )
