"""Settings of the monitoring deployable (`python -m monitoring`, the Prefect `drift_check_flow`)."""

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, PrivateAttr
from pydantic_settings import SettingsConfigDict

from monitoring.labels import LabelGuardPolicy
from runtime.paths import PROJECT_ROOT
from runtime.settings import STACK as _STACK
from runtime.settings import DeployableSettings

if TYPE_CHECKING:
    from monitoring.drift import DriftRules


class MonitoringSettings(DeployableSettings):
    """Which archive window to check, the drift rules, alerts, and whether drift retrains."""

    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore", populate_by_name=True)
    STACK_RESOURCES = (
        "archive_bucket",
        "models_bucket",
        "dead_letter_queue",
        "review_table",
        "audit_bucket",
        "strikes_table",
    )
    archive_bucket: str = _STACK.archive_bucket.name
    archive_prefix: str = _STACK.archive_bucket.archive_prefix
    feedback_prefix: str = _STACK.archive_bucket.feedback_prefix
    reports_prefix: str = _STACK.archive_bucket.reports_prefix
    models_bucket: str = _STACK.models_bucket.name
    manifest_key: str = _STACK.models_bucket.champion_manifest_key
    policy_key: str = (
        _STACK.models_bucket.policy_key
    )  # channels' audit shares (`python -m monitoring shadow`)
    dead_letter_queue: str = _STACK.dead_letter_queue.name
    review_table: str = _STACK.review_table.name  # the moderators' queue (erasure reaches it)
    strikes_table: str = _STACK.strikes_table.name  # the users' strikes (erasure reaches them)
    dynamodb_endpoint_url: str | None = None  # DynamoDB's endpoint when it differs (locally: moto's)
    window_last_n: int = Field(default=500, ge=1)  # the window: the last N archived messages
    window_minutes: float | None = None  # or: messages sent in the last M minutes
    min_window: int = 300
    unseen_pvalue: float = 1e-3
    unseen_increase: float = 0.02
    score_pvalue: float = 1e-6
    language_increase: float = 0.05  # a rise in the share of messages in languages the reference lacks
    cooldown_minutes: float = 30.0
    text_drift: bool = True  # also run Evidently's text-content drift (informational, slower)
    min_labels_for_quality: int = 30
    dlq_rate_threshold: float = 0.05  # dead letters per archived message in the window
    # Appeals' outcomes (under the statements prefix): a model version whose removals in a category are
    # overturned above this share, once it made `min_removals_for_overturns` of them, is named in an alert.
    statements_prefix: str = _STACK.archive_bucket.statements_prefix
    audit_bucket: str = _STACK.audit_bucket.name  # the audit trail (`python -m monitoring audit`)
    audit_prefix: str = _STACK.audit_bucket.prefix
    max_overturn_rate: float = Field(default=0.2, ge=0, le=1)
    min_removals_for_overturns: int = Field(default=20, ge=1)
    webhook_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MONITORING_WEBHOOK_URL", "ALERT_WEBHOOK_URL", "webhook_url"),
        repr=False,  # a secret: whoever has the URL can post to the channel
    )
    # Or the URL is read from AWS Secrets Manager when first needed (an explicit webhook_url wins).
    webhook_secret_id: str | None = None
    retrain_on_drift: bool = True
    # Who may supply how much of a retraining's labels (JSON in MONITORING_LABEL_GUARD).
    label_guard: LabelGuardPolicy = LabelGuardPolicy()
    workspace_dir: Path = PROJECT_ROOT / ".data" / "evidently"

    _webhook: str | None = PrivateAttr(default=None)
    _webhook_read: bool = PrivateAttr(default=False)

    def webhook(self) -> str | None:
        """The alert webhook: the URL given, else the secret's (read once, on first use)."""
        if self.webhook_url is not None or not self.webhook_secret_id:
            return self.webhook_url
        if not self._webhook_read:
            from monitoring.alerts import webhook_url_from_secret  # noqa: PLC0415

            self._webhook = webhook_url_from_secret(
                self.webhook_secret_id, self.aws_endpoint_url, self.aws_region
            )
            self._webhook_read = True
        return self._webhook

    @property
    def rules(self) -> "DriftRules":
        from monitoring.drift import DriftRules  # noqa: PLC0415 - Evidently is slow to import; settings are not

        return DriftRules(
            min_window=self.min_window,
            unseen_pvalue=self.unseen_pvalue,
            unseen_increase=self.unseen_increase,
            score_pvalue=self.score_pvalue,
            language_increase=self.language_increase,
            cooldown=timedelta(minutes=self.cooldown_minutes),
        )
