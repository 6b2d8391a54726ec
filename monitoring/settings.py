"""Settings of the monitoring deployable (`python -m monitoring`, the Prefect `drift_check_flow`)."""

from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitoring.drift import DriftRules
from runtime.paths import PROJECT_ROOT
from runtime.stack import load_stack

_STACK = load_stack()


class MonitoringSettings(BaseSettings):
    """Which archive window to check, the drift rules, alerts, and whether drift retrains."""

    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore", populate_by_name=True)

    aws_endpoint_url: str | None = None
    aws_region: str = _STACK.region
    archive_bucket: str = _STACK.archive_bucket.name
    archive_prefix: str = _STACK.archive_bucket.archive_prefix
    feedback_prefix: str = _STACK.archive_bucket.feedback_prefix
    reports_prefix: str = _STACK.archive_bucket.reports_prefix
    models_bucket: str = _STACK.models_bucket.name
    manifest_key: str = _STACK.models_bucket.champion_manifest_key
    dead_letter_queue: str = _STACK.dead_letter_queue.name
    window_last_n: int = Field(default=500, ge=1)  # the window: the last N archived messages
    window_minutes: float | None = None  # or: messages sent in the last M minutes
    min_window: int = 300
    unseen_pvalue: float = 1e-3
    unseen_increase: float = 0.02
    score_pvalue: float = 1e-6
    cooldown_minutes: float = 30.0
    text_drift: bool = True  # also run Evidently's text-content drift (informational, slower)
    min_labels_for_quality: int = 30
    dlq_rate_threshold: float = 0.05  # dead letters per archived message in the window
    webhook_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MONITORING_WEBHOOK_URL", "ALERT_WEBHOOK_URL", "webhook_url"),
        repr=False,  # a secret: whoever has the URL can post to the channel
    )
    # Or the URL is read at run time from AWS Secrets Manager (an explicit webhook_url wins).
    webhook_secret_id: str | None = None
    retrain_on_drift: bool = True
    workspace_dir: Path = PROJECT_ROOT / ".data" / "evidently"

    @model_validator(mode="after")
    def _webhook_from_secret(self) -> Self:
        if self.webhook_url is None and self.webhook_secret_id:
            from monitoring.alerts import webhook_url_from_secret  # noqa: PLC0415

            self.webhook_url = webhook_url_from_secret(
                self.webhook_secret_id, self.aws_endpoint_url, self.aws_region
            )
        return self

    @property
    def rules(self) -> DriftRules:
        return DriftRules(
            min_window=self.min_window,
            unseen_pvalue=self.unseen_pvalue,
            unseen_increase=self.unseen_increase,
            score_pvalue=self.score_pvalue,
            cooldown=timedelta(minutes=self.cooldown_minutes),
        )
